"""Shared fixtures. Tests marked ``models`` use the real provisioned models in data/models/
(bootstrap.sh provisions them with `snakemake --cores all models`); code-path tests run on tiny random speech
LLMs built locally (tests/support/tiny_models.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tiny_models
from benchmark_layouts import airbench, voicebench  # noqa: F401  (fixtures: the benchmarks' published layouts)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "data" / "models"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))


@pytest.fixture(scope="session")
def provisioned():
    """A provisioned model folder; fails (never skips) when missing, so CI cannot pass vacuously."""

    def get(name: str) -> Path:
        path = MODELS / name
        if not (path / "provenance.json").is_file():
            pytest.fail(f"{path} is not provisioned: run `snakemake --cores all models` (bootstrap.sh does)")
        return path

    return get


@pytest.fixture(scope="session")
def tiny_composed():
    return tiny_models.tiny_composed()


@pytest.fixture(scope="session")
def tiny_qwen2_audio():
    return tiny_models.tiny_qwen2_audio()
