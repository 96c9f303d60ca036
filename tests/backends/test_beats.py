"""BEATs on a tiny random config: Kaldi fbank against lhotse's independent Kaldi implementation, the attention
against a transcription of the release's formulation, token layout, and weights-only checkpoints."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from tiny_models import tone
from tiny_salmonn import TINY_BEATS, tiny_beats

from speechalign.backends.beats import (
    RelativeSelfAttention,
    kaldi_fbank,
    load_beats,
    relative_position_bucket,
    save_beats,
)
from speechalign.errors import UserFacingError


@pytest.mark.filterwarnings("ignore:Setting snip_edges", "ignore::DeprecationWarning")
def test_fbank_matches_lhotse_kaldi():
    """torchaudio's kaldi.fbank defaults (as BEATs calls it), against lhotse's Kaldi port with the same
    options; both float64. The residual is the float32 mel filters' rounding."""
    from lhotse.features.kaldi.layers import Wav2LogFilterBank

    rng = np.random.default_rng(0)
    wave = torch.from_numpy(tone(1.3).astype(np.float64) + 0.01 * rng.standard_normal(20800)) * 2**15
    reference = Wav2LogFilterBank(
        sampling_rate=16000, snip_edges=True, high_freq=0.0, num_filters=128, dither=0.0
    ).double()(wave[None])[0]
    ours = kaldi_fbank(wave)
    assert ours.shape == (1 + (20800 - 400) // 160, 128)
    torch.testing.assert_close(ours, reference, atol=5e-4, rtol=0)


def test_relative_position_buckets_by_hand():
    """T5 buckets with BEATs iter3+'s 320 buckets, max distance 800: exact up to 80 per sign, then log-spaced
    (253 = 80 * 10 ** 0.5 -> 80 + 40), the last bucket of each sign from 800 on."""
    relative = torch.tensor([0, -1, 1, -79, -80, -253, 253, -800, -5000, 5000])
    assert relative_position_bucket(relative, 320, 800).tolist() == [
        0,
        1,
        161,
        79,
        80,
        120,
        280,
        159,
        159,
        319,
    ]


def release_attention(attn: RelativeSelfAttention, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The released MultiheadAttention's arithmetic, transcribed: time-first layout, queries scaled by
    ``head_dim ** -0.5 / 32``, scores max-subtracted and multiplied back by 32, the relative bias (``(B*H, T,
    T)``) gated by ``grep_linear`` of the unscaled query and added after that."""
    alpha = 32
    length, batch, dim = x.shape
    heads, head_dim = attn.heads, attn.head_dim
    scaling = head_dim**-0.5
    q = attn.q_proj(x) * scaling / alpha
    k, v = attn.k_proj(x), attn.v_proj(x)
    q = q.contiguous().view(length, batch * heads, head_dim).transpose(0, 1)
    k = k.contiguous().view(-1, batch * heads, head_dim).transpose(0, 1)
    v = v.contiguous().view(-1, batch * heads, head_dim).transpose(0, 1)
    weights = torch.bmm(q, k.transpose(1, 2))
    weights = (weights - weights.max(dim=-1, keepdim=True)[0]) * alpha
    query = q.view(batch, heads, length, head_dim) * alpha / scaling
    gate_a, gate_b = torch.sigmoid(attn.grep_linear(query).view(batch, heads, length, 2, 4).sum(-1)).chunk(
        2, -1
    )
    gate = gate_a * (gate_b * attn.grep_a - 1.0) + 2.0
    weights = weights + (gate.view(batch * heads, length, 1) * bias).view(weights.size())
    out = torch.bmm(torch.softmax(weights, dim=-1), v)
    return attn.out_proj(out.transpose(0, 1).contiguous().view(length, batch, dim))


def test_attention_matches_the_release_formulation():
    beats = tiny_beats()
    attn = beats.encoder.layers[1].self_attn  # a layer reading layer 0's shared table
    torch.manual_seed(1)
    with torch.no_grad():
        attn.grep_a.uniform_(0.5, 1.5)  # away from its initial ones, so the gate matters
        x = torch.randn(2, 37, beats.dim)  # (B, T, D)
        bias = beats.encoder.layers[0].self_attn.position_bias(37)  # (H, T, T)
        ours = attn(x, bias[None])
        theirs = release_attention(attn, x.transpose(0, 1), bias.repeat(2, 1, 1)).transpose(0, 1)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_tokens_are_time_major_patches():
    """1 s: 98 fbank frames -> 6 time patches x 8 frequency patches; a change after the first 0.5 s leaves the
    patches of the first 3 time steps (tokens 0..23) unchanged before the transformer."""
    beats = tiny_beats()
    wave = torch.from_numpy(tone(1.0))[None]
    later = wave.clone()
    later[:, 9000:] *= -1.0
    with torch.no_grad():
        assert beats.extract_features(wave).shape == (1, 48, beats.dim)
        patches = [beats.patch_embedding(beats.fbank(w).float()[:, None]).flatten(2) for w in (wave, later)]
    torch.testing.assert_close(patches[0][..., :24], patches[1][..., :24])
    assert not torch.allclose(patches[0][..., 24:], patches[1][..., 24:])


def test_checkpoint_round_trips(tmp_path):
    beats = tiny_beats(seed=3)
    wave = torch.from_numpy(tone(1.0))[None]
    with torch.no_grad():
        expected = beats.extract_features(wave)
    save_beats(beats, tmp_path / "beats.safetensors")
    # the released layout: {'cfg', 'model'} with the classifier head and the per-layer copies of the table
    state = beats.state_dict() | {
        "predictor.weight": torch.zeros(527, beats.dim),
        "encoder.layers.1.self_attn.relative_attention_bias.weight": torch.zeros(32, 2),
    }
    torch.save({"cfg": dict(TINY_BEATS), "model": state}, tmp_path / "beats.pt")
    for name in ("beats.safetensors", "beats.pt"):
        with torch.no_grad():
            torch.testing.assert_close(load_beats(tmp_path / name).extract_features(wave), expected)


def test_a_pickled_object_is_refused(tmp_path):
    """A checkpoint carrying an object beyond tensors and plain containers (here the argparse.Namespace a
    training script might save) is not unpickled."""
    checkpoint = {
        "cfg": dict(TINY_BEATS),
        "model": tiny_beats().state_dict(),
        "args": argparse.Namespace(lr=1),
    }
    torch.save(checkpoint, tmp_path / "beats.pt")
    with pytest.raises(UserFacingError, match="weights_only"):
        load_beats(tmp_path / "beats.pt")


def test_a_missing_weight_fails_loudly(tmp_path):
    state = tiny_beats().state_dict()
    del state["encoder.layers.1.fc2.weight"]
    torch.save({"cfg": dict(TINY_BEATS), "model": state}, tmp_path / "beats.pt")
    with pytest.raises(UserFacingError, match="fc2"):
        load_beats(tmp_path / "beats.pt")
