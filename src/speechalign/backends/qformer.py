"""SALMONN's window-level Q-Former (Tang et al., 2023): the connector from Whisper + BEATs to the LLM.

    connector = WindowQFormer(WindowQFormerConfig(whisper_dim=1280, beats_dim=768, llm_dim=4096))
    speech = connector(whisper_states, beats_tokens, kernel=17, stride=17)  # -> (B, 88, 4096)

As the release computes it:
1. each encoder's output gets its own LayerNorm (``ln_speech``: Whisper, ``ln_audio``: BEATs); the BEATs
   tokens are zero-padded (or cut) to the Whisper length and the two are concatenated on the feature axis;
2. the sequence is cut into windows of ``kernel`` positions every ``stride`` (no padding: a tail shorter than
   a window is dropped); the release's 0.333333 s on Whisper's 50 positions per second is 17 positions;
3. every window is read on its own by a BERT-style Q-Former (``num_query_tokens`` trainable queries, layer
   norm, then per layer: self-attention over the queries, cross-attention into the window, a feed-forward):
   transformers' ``Blip2QFormerModel`` is that network (the release's BLIP-2 ``BertModel`` with
   ``query_embeds`` only, ``add_cross_attention``, ``cross_attention_freq`` 1, bert-base widths, 2 layers);
4. a Linear maps each query output to the LLM width: one LLM position per window and query.

:func:`from_release_keys` / :func:`to_release_keys` translate between this module's state-dict keys and the
release's (``speech_Qformer.bert.encoder.layer.N.attention.self.query.weight`` and so on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "WindowQFormer",
    "WindowQFormerConfig",
    "from_release_keys",
    "is_unused_release_key",
    "to_release_keys",
]


@dataclass
class WindowQFormerConfig:
    """Widths of the two encoders and of the LLM, and the Q-Former's shape (defaults: the release's)."""

    whisper_dim: int = 1280
    beats_dim: int = 768
    llm_dim: int = 4096
    hidden_size: int = 768
    num_layers: int = 2
    num_heads: int = 12
    intermediate_size: int = 3072
    num_query_tokens: int = 1


class WindowQFormer(nn.Module):
    """The trained part of SALMONN outside the LLM; attribute names are the release's."""

    def __init__(self, config: WindowQFormerConfig):
        from transformers import Blip2QFormerConfig, Blip2QFormerModel

        super().__init__()
        self.config = config
        self.ln_speech = nn.LayerNorm(config.whisper_dim)
        self.ln_audio = nn.LayerNorm(config.beats_dim)
        qformer = Blip2QFormerConfig(
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads,
            intermediate_size=config.intermediate_size,
            cross_attention_frequency=1,
            encoder_hidden_size=config.whisper_dim + config.beats_dim,
            layer_norm_eps=1e-12,  # BertConfig's
        )
        self.speech_Qformer = Blip2QFormerModel(qformer)
        self.speech_query_tokens = nn.Parameter(
            torch.randn(1, config.num_query_tokens, config.hidden_size) * 0.02
        )
        self.speech_llama_proj = nn.Linear(config.hidden_size, config.llm_dim)

    def fuse(self, whisper: torch.Tensor, beats: torch.Tensor) -> torch.Tensor:
        """``(B, T, dw)`` and ``(B, Tb, db)`` -> ``(B, T, dw + db)``: each normed, BEATs padded/cut to T."""
        dtype = self.ln_speech.weight.dtype
        speech = self.ln_speech(whisper.to(dtype))
        audio = self.ln_audio(beats.to(dtype))
        length = speech.shape[1]
        audio = (
            F.pad(audio, (0, 0, 0, length - audio.shape[1])) if audio.shape[1] < length else audio[:, :length]
        )
        return torch.cat([speech, audio], dim=-1)

    @staticmethod
    def windows(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
        """``(B, T, C)`` -> ``(B, L, kernel, C)``, window l = positions ``[l * stride, l * stride + kernel)``,
        ``L = (T - kernel) // stride + 1``."""
        return x.unfold(1, kernel, stride).transpose(2, 3)

    def forward(self, whisper: torch.Tensor, beats: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
        """``(B, L * num_query_tokens, llm_dim)``: the LLM inputs, window by window."""
        windows = self.windows(self.fuse(whisper, beats), kernel, stride)  # (B, L, K, C)
        batch, count = windows.shape[:2]
        windows = windows.reshape(batch * count, kernel, -1)  # (B * L, K, C)
        queries = self.speech_query_tokens.expand(batch * count, -1, -1)  # (B * L, Q, H)
        out = self.speech_Qformer(query_embeds=queries, encoder_hidden_states=windows).last_hidden_state
        return self.speech_llama_proj(out).reshape(batch, -1, self.config.llm_dim)  # (B, L * Q, D)


# The release's BLIP-2 BERT names -> transformers' Blip2QFormerModel names (first match wins).
_FROM_RELEASE = (
    (r"^speech_Qformer\.bert\.embeddings\.LayerNorm\.", "speech_Qformer.layernorm."),
    (
        r"^speech_Qformer\.bert\.encoder\.layer\.(\d+)\.(attention|crossattention)\.self\.",
        r"speech_Qformer.encoder.layer.\1.\2.attention.",
    ),
    (r"^speech_Qformer\.bert\.encoder\.", "speech_Qformer.encoder."),
)
_TO_RELEASE = (
    (r"^speech_Qformer\.layernorm\.", "speech_Qformer.bert.embeddings.LayerNorm."),
    (
        r"^speech_Qformer\.encoder\.layer\.(\d+)\.(attention|crossattention)\.attention\.",
        r"speech_Qformer.bert.encoder.layer.\1.\2.self.",
    ),
    (r"^speech_Qformer\.encoder\.", "speech_Qformer.bert.encoder."),
)
# Release Q-Former parts a query-only forward never uses: BERT's word/position embeddings, the text
# feed-forward of each layer, the LM head.
_UNUSED = re.compile(
    r"^speech_Qformer\.(cls\.|bert\.embeddings\.(word_embeddings|position_embeddings|position_ids)"
    r"|bert\.encoder\.layer\.\d+\.(intermediate|output)\.)"
)


def _rename(key: str, rules) -> str:
    for pattern, replacement in rules:
        renamed, hits = re.subn(pattern, replacement, key)
        if hits:
            return renamed
    return key


def from_release_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Release connector keys (``ln_speech``, ``ln_audio``, ``speech_Qformer.bert...``,
    ``speech_query_tokens``, ``speech_llama_proj``) -> :class:`WindowQFormer` keys."""
    return {_rename(k, _FROM_RELEASE): v for k, v in state.items()}


def to_release_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {_rename(k, _TO_RELEASE): v for k, v in state.items()}


def is_unused_release_key(key: str) -> bool:
    return bool(_UNUSED.match(key))
