"""The AZEROS variants as params define them, in every profile: stage 2 starts from stage 1, the ablations of
the paper's Table 6 are one-stage trainings from fresh projectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechalign.params import load_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["quick", "small", "paper"])
def variants(request):
    return load_params(ROOT, {"profile": request.param})["train"]["variants"]


def test_single_encoder_is_trained_under_the_one_stage_setup(variants):
    """Paper, Table 6: "Under the one-stage training setup, we further compare ... a single Whisper encoder":
    the same data as the one-stage dual-encoder model, one training, nothing started from a checkpoint."""
    single, one = variants["single-encoder"], variants["one-stage"]
    assert single["init"] is None and one["init"] is None
    assert sorted(single["data"]) == sorted(one["data"])
    assert (single["encoders"], single["train"]) == ("semantic", ["semantic"])
    assert one["encoders"] == "dual" and sorted(one["train"]) == ["paralinguistic", "semantic"]


def test_stage_two_variants_start_from_stage_one_and_train_the_paralinguistic_projector_only(variants):
    for name in ("sit_sp", "sift_sp", "sift_s+sift_sp", "sift_ssp", "sift_ssp+sit_ssp"):
        assert variants[name]["init"] == "sift_s", name
        assert (variants[name]["encoders"], variants[name]["train"]) == ("dual", ["paralinguistic"]), name
