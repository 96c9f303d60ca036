"""BEATs (Chen et al., 2022, "BEATs: Audio Pre-Training with Acoustic Tokenizers"): the audio-event encoder
SALMONN reads beside Whisper. Inference only (SALMONN keeps it frozen); no PyPI package ships it, so its
forward is written here from the paper and the released model's behaviour.

    beats = load_beats("BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt")  # {'cfg', 'model'}: weights only
    tokens = beats.extract_features(wave)  # wave (B, N) at 16 kHz -> (B, T' * F', D)

1. Kaldi fbank (torchaudio.compliance.kaldi.fbank's defaults: 25 ms Povey windows every 10 ms, edges
   snipped, DC offset removed, pre-emphasis 0.97, 512-point power spectrum, 128 mel bins from 20 Hz to
   Nyquist, log floored at float32 eps) of the waveform scaled to the 16-bit range, then normalised with
   BEATs' AudioSet statistics: ``(fbank - 15.41663) / (2 * 6.55582)``.
2. 16 x 16 patches of (frames, mel bins) by a strided Conv2d, flattened time-major: token ``8t + f`` is time
   patch t (16 frames, 160 ms) and frequency patch f, so with 8 frequency patches the tokens come at 20 ms
   per token on average, Whisper's encoder rate; layer norm, a linear map to the encoder width.
3. A convolutional positional embedding (weight-normed grouped Conv1d, an even kernel trimmed by one, GELU)
   added, then a transformer: post-norm with DeepNorm residual scaling (``deep_norm``) or pre-norm
   (``layer_norm_first``); its self-attention adds a T5-style bucketed relative-position bias (layer 0's
   table, shared by every layer), scaled per query and head by a GRU-like gate (``gru_rel_pos``).

Checkpoints are read only as safetensors or through ``torch.load(weights_only=True)``
(:func:`load_state_file`); anything that needs arbitrary unpickling is refused.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from speechalign.errors import UserFacingError

__all__ = ["BEATs", "BEATsConfig", "kaldi_fbank", "load_beats", "load_state_file", "save_beats"]

FBANK_MEAN, FBANK_STD = 15.41663, 6.55582  # BEATs' AudioSet fbank statistics (its preprocess defaults)
# Keys of a released checkpoint that inference does not use: the AudioSet classifier head of a fine-tuned
# model, and the copies of layer 0's relative-position table that every later layer shares.
HEAD_PREFIX, BIAS_TABLE = "predictor.", "self_attn.relative_attention_bias.weight"


@dataclass
class BEATsConfig:
    """The architecture fields of a released ``cfg`` (training-only ones, dropouts etc., are ignored)."""

    input_patch_size: int = 16
    embed_dim: int = 512
    conv_bias: bool = False
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    activation_fn: str = "gelu"
    layer_norm_first: bool = False
    deep_norm: bool = False
    conv_pos: int = 128
    conv_pos_groups: int = 16
    relative_position_embedding: bool = False
    num_buckets: int = 320
    max_distance: int = 1280
    gru_rel_pos: bool = False

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> BEATsConfig:
        config = cls(**{f.name: cfg[f.name] for f in fields(cls) if f.name in cfg})
        if config.activation_fn != "gelu":
            raise UserFacingError(f"BEATs activation {config.activation_fn!r} is not supported (only gelu)")
        return config


# --- fbank -----------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def kaldi_mel_banks(num_bins: int, n_fft: int, sample_rate: int, low_freq: float = 20.0) -> torch.Tensor:
    """``(num_bins, n_fft // 2 + 1)`` triangular filters on Kaldi's mel scale ``1127 ln(1 + f / 700)``, up to
    Nyquist; the Nyquist bin gets no weight. Computed in float32 like torchaudio's (the filters' small edge
    weights differ by ~1e-4 relative in float64)."""
    low, high = (1127.0 * math.log1p(f / 700.0) for f in (low_freq, sample_rate / 2))
    delta = (high - low) / (num_bins + 1)
    index = torch.arange(num_bins, dtype=torch.float32)[:, None]  # (num_bins, 1)
    left, centre, right = (low + (index + k) * delta for k in (0.0, 1.0, 2.0))
    bins = (
        1127.0 * (1.0 + torch.arange(n_fft // 2, dtype=torch.float32) * (sample_rate / n_fft) / 700.0).log()
    )
    up, down = (bins - left) / (centre - left), (right - bins) / (right - centre)  # (num_bins, n_fft / 2)
    return F.pad(torch.clamp(torch.minimum(up, down), min=0.0), (0, 1))  # (num_bins, n_fft / 2 + 1)


def kaldi_fbank(wave: torch.Tensor, num_mel_bins: int = 128, sample_rate: int = 16000) -> torch.Tensor:
    """Log mel filterbank of one waveform ``(N,)`` as ``torchaudio.compliance.kaldi.fbank`` computes it with
    its defaults: ``(1 + (N - 400) // 160, num_mel_bins)`` at 16 kHz, in the waveform's dtype."""
    window, shift = round(0.025 * sample_rate), round(0.010 * sample_rate)
    if wave.shape[-1] < window:
        raise ValueError(f"{wave.shape[-1]} samples are fewer than one {window}-sample fbank window")
    n_fft = 1 << (window - 1).bit_length()  # 512: the window rounded up to a power of two
    frames = wave.unfold(-1, window, shift)  # (F, window); edges snipped
    frames = frames - frames.mean(dim=-1, keepdim=True)  # DC offset removed
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=-1)  # x[t-1], x[0] repeated
    frames = frames - 0.97 * previous  # pre-emphasis
    povey = torch.hann_window(window, periodic=False, dtype=wave.dtype, device=wave.device).pow(0.85)
    power = torch.fft.rfft(frames * povey, n=n_fft).abs().pow(2)  # (F, n_fft/2 + 1)
    banks = kaldi_mel_banks(num_mel_bins, n_fft, sample_rate).to(wave.device, wave.dtype)
    energies = power @ banks.T  # (F, num_mel_bins)
    return energies.clamp_min(torch.finfo(torch.float32).eps).log()


# --- the transformer --------------------------------------------------------------------------------------
def relative_position_bucket(relative: torch.Tensor, num_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bidirectional buckets of ``key - query`` offsets: half the buckets per sign, exact up to a quarter
    of them, log-spaced beyond, the last one from ``max_distance`` on.

    >>> relative_position_bucket(torch.tensor([0, -1, 1, -79, -80, -800, 800]), 320, 800).tolist()
    [0, 1, 161, 79, 80, 159, 319]
    """
    half = num_buckets // 2
    exact = half // 2
    bucket = (relative > 0).long() * half
    distance = relative.abs()
    far = (
        exact
        + (
            torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact) * (half - exact)
        ).long()
    )
    far = far.clamp(max=half - 1)
    return bucket + torch.where(distance < exact, distance, far)


class PositionalConv(nn.Module):
    """Grouped Conv1d with weight normalisation over the kernel axis (the released ``weight_g``/``weight_v``
    layout), trimmed to the input length for an even kernel, then GELU: ``(B, T, D) -> (B, T, D)``."""

    def __init__(self, dim: int, kernel: int, groups: int):
        super().__init__()
        self.kernel, self.groups = kernel, groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.randn(dim, dim // groups, kernel) * (4 / (kernel * dim)) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.weight_v
        weight = v * (self.weight_g / v.norm(dim=(0, 1), keepdim=True))  # (D, D / groups, K)
        y = F.conv1d(x.transpose(1, 2), weight, self.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            y = y[..., :-1]  # (B, D, T)
        return F.gelu(y).transpose(1, 2)


class RelativeSelfAttention(nn.Module):
    def __init__(self, cfg: BEATsConfig, owns_bias_table: bool):
        super().__init__()
        dim, self.heads = cfg.encoder_embed_dim, cfg.encoder_attention_heads
        self.head_dim = dim // self.heads
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.num_buckets, self.max_distance = cfg.num_buckets, cfg.max_distance
        if owns_bias_table:
            self.relative_attention_bias = nn.Embedding(cfg.num_buckets, self.heads)
        self.gated = cfg.gru_rel_pos
        if self.gated:
            self.grep_linear = nn.Linear(self.head_dim, 8)
            self.grep_a = nn.Parameter(torch.ones(1, self.heads, 1, 1))

    def position_bias(self, length: int) -> torch.Tensor:
        """``(H, T, T)``: the bias of key j for query i, from the bucket of ``j - i``."""
        positions = torch.arange(length, device=self.relative_attention_bias.weight.device)
        buckets = relative_position_bucket(
            positions[None] - positions[:, None], self.num_buckets, self.max_distance
        )
        return self.relative_attention_bias(buckets).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = (
            p(x).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )  # (B, H, T, d)
        scores = (q * self.head_dim**-0.5) @ k.transpose(-1, -2)  # (B, H, T, T)
        if bias is not None:
            if self.gated:  # each query scales the shared bias by a gate read from its own (unscaled) query
                gate_a, gate_b = torch.sigmoid(
                    self.grep_linear(q).view(batch, self.heads, length, 2, 4).sum(-1)
                ).chunk(2, dim=-1)  # (B, H, T, 1) each
                bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias  # (B, H, T, T)
            scores = scores + bias
        out = scores.softmax(dim=-1) @ v  # (B, H, T, d)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, dim))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: BEATsConfig, owns_bias_table: bool):
        super().__init__()
        dim = cfg.encoder_embed_dim
        self.self_attn = RelativeSelfAttention(cfg, owns_bias_table)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = (
            nn.Linear(dim, cfg.encoder_ffn_embed_dim),
            nn.Linear(cfg.encoder_ffn_embed_dim, dim),
        )
        self.final_layer_norm = nn.LayerNorm(dim)
        self.pre_norm = cfg.layer_norm_first
        self.alpha = (2 * cfg.encoder_layers) ** 0.25 if cfg.deep_norm else 1.0  # DeepNorm residual scale

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.self_attn(self.self_attn_layer_norm(x), bias)
            return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
        x = self.self_attn_layer_norm(x * self.alpha + self.self_attn(x, bias))
        return self.final_layer_norm(x * self.alpha + self.fc2(F.gelu(self.fc1(x))))


class Encoder(nn.Module):
    def __init__(self, cfg: BEATsConfig):
        super().__init__()
        dim = cfg.encoder_embed_dim
        self.pos_conv = nn.ModuleList(
            [PositionalConv(dim, cfg.conv_pos, cfg.conv_pos_groups)]
        )  # key pos_conv.0
        self.relative = cfg.relative_position_embedding
        self.layers = nn.ModuleList(
            [EncoderLayer(cfg, owns_bias_table=self.relative and i == 0) for i in range(cfg.encoder_layers)]
        )
        self.layer_norm = nn.LayerNorm(dim)
        self.pre_norm = cfg.layer_norm_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        x = x + self.pos_conv[0](x)
        if not self.pre_norm:
            x = self.layer_norm(x)
        bias = (
            self.layers[0].self_attn.position_bias(x.shape[1])[None] if self.relative else None
        )  # (1, H, T, T)
        for layer in self.layers:
            x = layer(x, bias)
        return self.layer_norm(x) if self.pre_norm else x


class BEATs(nn.Module):
    """The released BEATs' feature path; its state-dict keys are the released checkpoint's."""

    def __init__(self, cfg: BEATsConfig):
        super().__init__()
        self.cfg = cfg
        size = cfg.input_patch_size
        self.patch_embedding = nn.Conv2d(1, cfg.embed_dim, size, stride=size, bias=cfg.conv_bias)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim)
        self.post_extract_proj = (
            nn.Linear(cfg.embed_dim, cfg.encoder_embed_dim)
            if cfg.embed_dim != cfg.encoder_embed_dim
            else None
        )
        self.encoder = Encoder(cfg)

    @property
    def dim(self) -> int:
        return self.cfg.encoder_embed_dim

    def fbank(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` float waveforms in [-1, 1] -> ``(B, F, 128)`` normalised fbank (float64 as the release
        feeds it the float64 samples soundfile reads)."""
        scaled = wave.double() * 2**15
        banks = torch.stack([kaldi_fbank(w) for w in scaled])  # (B, F, 128)
        return (banks - FBANK_MEAN) / (2 * FBANK_STD)

    def extract_features(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` -> ``(B, (F // 16) * (128 // 16), D)`` (no padding mask: equal-length waveforms)."""
        weight = self.patch_embedding.weight
        banks = self.fbank(wave).to(weight.device, weight.dtype)
        patches = self.patch_embedding(banks[:, None])  # (B, E, F // 16, 8)
        x = self.layer_norm(patches.flatten(2).transpose(1, 2))  # (B, T' * 8, E), time-major
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)  # (B, T' * 8, D)
        return self.encoder(x)


# --- checkpoints -------------------------------------------------------------------------------------------
def load_state_file(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint as a dict, read without arbitrary unpickling: ``.safetensors`` gives
    ``{"model": tensors, **metadata decoded from JSON}``; anything else goes through
    ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers."""
    path = Path(path)
    if not path.is_file():
        raise UserFacingError(f"checkpoint {path} does not exist (or is not a file)")
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return {"model": load_file(str(path))} | {key: _decoded(value) for key, value in metadata.items()}
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UserFacingError(
            f"refusing to load {path}: it holds pickled objects beyond tensors and plain containers, and"
            " checkpoints are only read with torch.load(weights_only=True) or as safetensors"
            f" ({str(error).splitlines()[0]}). Convert it to safetensors in an environment you trust."
        ) from None
    if not isinstance(loaded, dict):
        raise UserFacingError(f"checkpoint {path} holds a {type(loaded).__name__}, not a dict of weights")
    return loaded


def _decoded(value: str) -> Any:
    """A safetensors metadata value: JSON where it is (our configs), else the string (e.g. ``format: pt``)."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def load_beats(path: str | os.PathLike) -> BEATs:
    """BEATs from a released checkpoint (``{'cfg': dict, 'model': state dict}``) or from :func:`save_beats`'s
    safetensors (the cfg in its metadata); every weight the forward uses must be there."""
    checkpoint = load_state_file(path)
    if "cfg" not in checkpoint or "model" not in checkpoint:
        raise UserFacingError(f"{path} is not a BEATs checkpoint: it needs 'cfg' and 'model' entries")
    model = BEATs(BEATsConfig.from_dict(checkpoint["cfg"]))
    state = {k: v for k, v in checkpoint["model"].items() if not _unused(k)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UserFacingError(
            f"BEATs checkpoint {path} does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model.eval().requires_grad_(False)


def _unused(key: str) -> bool:
    return key.startswith(HEAD_PREFIX) or (
        key.endswith(BIAS_TABLE) and not key.startswith("encoder.layers.0.")
    )


def save_beats(model: BEATs, path: str | os.PathLike) -> None:
    """The weights as safetensors, the cfg (JSON) in its metadata: what :func:`load_beats` reads back."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"cfg": json.dumps(asdict(model.cfg))})
