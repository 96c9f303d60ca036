"""The composed speech LLM: frozen Whisper encoder -> projector -> frozen causal LM via ``inputs_embeds``.

The encoder runs on the real audio length (conv stack, the first P positional embeddings, the blocks, the
final norm), not on 30 s of padding (RESEARCH.md section 5: 12x faster, and the padded mode gives other
features; training (issue 7) must use this same mode). Whisper's positions are 20 ms apart; the projector
stacks ``stack`` of them, so an LM audio position spans ``0.02 * stack`` s.

Time convention (``speechalign.alas.row_times``): mel frame k is centred at ``k * 10 ms`` and Whisper position
p at mel frame 2p, i.e. ``20p ms``. A stack of positions ``[sp, sp+s)`` is centred at ``20(sp + (s-1)/2)`` ms,
so with frames of ``20s`` ms its start is at ``-10 ms`` whatever ``s``: ``offset_seconds = -0.01``.

SIFT (issue 7) reuses ``encoder_frames`` (to cache features), ``Projector``, ``embed_prompt`` (prefix ids,
audio embeddings, suffix ids) and ``forward(inputs_embeds, attention_mask, labels)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from speechalign.backends.base import BackendInputError, Run, SpeechLLM, check_transcript, token_span_of_chars
from speechalign.backends.projector import Projector, ProjectorConfig
from speechalign.backends.prompts import SPEECH_MARKER, chat_prompt, split_at_marker, user_message

__all__ = ["ComposedSpeechLLM", "encode_unpadded"]

WHISPER_FRAME_SECONDS = 0.02  # one encoder position (two 10 ms mel frames)
WHISPER_OFFSET_SECONDS = -0.01  # see the module docstring


def encode_unpadded(encoder: nn.Module, mel: torch.Tensor) -> torch.Tensor:
    """Whisper encoder on ``mel (B, n_mels, F)`` of the real length: ``(B, ceil(F / 2), d)``.

    The same computation as ``WhisperEncoder.forward`` (which insists on 30 s of input) without the padding:
    two convolutions, the first P positional embeddings, every block, the final layer norm."""
    max_frames = encoder.config.max_source_positions * 2
    if mel.shape[-1] > max_frames:
        raise BackendInputError(f"{mel.shape[-1]} mel frames exceed the encoder's {max_frames}")
    x = nn.functional.gelu(encoder.conv1(mel))  # (B, d, F)
    x = nn.functional.gelu(encoder.conv2(x))  # (B, d, P), P = ceil(F / 2)
    x = x.permute(0, 2, 1)  # (B, P, d)
    x = x + encoder.embed_positions.weight[: x.shape[1]]
    for layer in encoder.layers:
        x = layer(x, attention_mask=None)
        x = x[0] if isinstance(x, tuple) else x
    return encoder.layer_norm(x)  # (B, P, d)


class ComposedSpeechLLM(SpeechLLM):
    """``encoder`` (a ``WhisperEncoder``), its ``feature_extractor``, a ``Projector``, a causal ``llm`` and
    its ``tokenizer``; ``system_prompt`` and ``layout`` are the chat settings shared by every run."""

    def __init__(
        self,
        encoder: nn.Module,
        feature_extractor,
        projector: Projector,
        llm: nn.Module,
        tokenizer,
        system_prompt: str,
        layout: str = "{speech}\n{task}",
    ):
        self.encoder = encoder.eval().requires_grad_(False)
        self.feature_extractor = feature_extractor
        self.projector = projector.eval()
        self.llm = llm.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.layout = layout
        self.sample_rate = feature_extractor.sampling_rate
        self.max_audio_seconds = encoder.config.max_source_positions * WHISPER_FRAME_SECONDS
        self.frame_seconds = WHISPER_FRAME_SECONDS * projector.config.stack
        self.offset_seconds = WHISPER_OFFSET_SECONDS
        if projector.config.llm_dim != llm.config.hidden_size:
            raise ValueError(
                f"projector gives width {projector.config.llm_dim}; the LM needs {llm.config.hidden_size}"
            )
        if projector.config.encoder_dim != encoder.config.d_model:
            raise ValueError(
                f"projector takes width {projector.config.encoder_dim};"
                f" the encoder gives {encoder.config.d_model}"
            )

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], seed: int) -> ComposedSpeechLLM:
        """Load the real models a params backend entry names (see params.yaml ``backends.models``)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer, WhisperFeatureExtractor, WhisperModel

        from speechalign.models import model_path

        whisper_dir = model_path(spec["encoder"])
        llm_dir = model_path(spec["llm"])
        # The frozen encoder and LM in the spec's dtype (bf16 halves a 7B LM's memory); the small projector
        # stays float32 and its input is cast to it.
        dtype = spec.get("dtype") or "float32"
        dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        encoder = WhisperModel.from_pretrained(whisper_dir, dtype=dtype).get_encoder()
        llm = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=dtype)
        if spec.get("projector"):
            projector = Projector.load(spec["projector"])
        else:
            config = ProjectorConfig(
                encoder_dim=encoder.config.d_model,
                llm_dim=llm.config.hidden_size,
                hidden_dim=spec["projector_hidden"],
                stack=spec["stack"],
            )
            projector = Projector.initialised(config, seed=seed)
        return cls(
            encoder=encoder,
            feature_extractor=WhisperFeatureExtractor.from_pretrained(whisper_dir),
            projector=projector,
            llm=llm,
            tokenizer=AutoTokenizer.from_pretrained(llm_dir),
            system_prompt=spec["system_prompt"],
            layout=spec["layout"],
        )

    @property
    def num_hidden_states(self) -> int:
        return self.llm.config.num_hidden_layers + 1

    # --- audio -> LM positions -------------------------------------------------------------------------
    @torch.inference_mode()
    def encoder_frames(self, wave: np.ndarray) -> torch.Tensor:
        """Frozen encoder features of one waveform, ``(1, P, d_enc)`` (what SIFT caches)."""
        wave = self.check_wave(wave)
        mel = self.feature_extractor(
            wave, sampling_rate=self.sample_rate, padding="longest", return_tensors="pt"
        ).input_features  # (1, n_mels, F), F = N // hop
        return encode_unpadded(self.encoder, mel.to(self.encoder.dtype))

    def audio_embeddings(self, wave: np.ndarray) -> torch.Tensor:
        """``(1, A, D)``: the projected audio, A = P // stack."""
        frames = self.encoder_frames(wave)
        if self.projector.output_length(frames.shape[1]) < 1:
            raise BackendInputError(
                f"audio of {len(wave) / self.sample_rate:.3f} s is shorter than one audio position"
                f" ({self.frame_seconds:.3f} s)"
            )
        with torch.inference_mode():
            return self.projector(frames.to(next(self.projector.parameters()).dtype))

    # --- prompts ---------------------------------------------------------------------------------------
    def _prompt_halves(self, task: str) -> tuple[str, str]:
        prompt = chat_prompt(
            self.tokenizer, self.system_prompt, user_message(self.layout, SPEECH_MARKER, task)
        )
        return split_at_marker(prompt)

    def _ids(self, text: str) -> torch.Tensor:  # (S,)
        return torch.tensor(self.tokenizer(text, add_special_tokens=False).input_ids, dtype=torch.long)

    def embed_prompt(
        self, before_ids: torch.Tensor, audio: torch.Tensor, after_ids: torch.Tensor
    ) -> torch.Tensor:
        """``(1, S, D)``: embeddings of the ids before the speech, the audio ``(1, A, D)``, the ids after."""
        embed = self.llm.get_input_embeddings()
        return torch.cat(
            [embed(before_ids)[None], audio.to(embed.weight.dtype), embed(after_ids)[None]], dim=1
        )

    def audio_run(self, wave: np.ndarray, task: str) -> Run:
        before, after = self._prompt_halves(task)
        before_ids, after_ids = self._ids(before), self._ids(after)
        audio = self.audio_embeddings(wave)  # (1, A, D)
        with torch.inference_mode():
            embeds = self.embed_prompt(before_ids, audio, after_ids)  # (1, S, D)
        start = len(before_ids)
        return Run(
            "audio", (start, start + audio.shape[1]), embeds.shape[1], payload={"inputs_embeds": embeds}
        )

    def text_run(self, transcript: str, task: str) -> Run:
        transcript = check_transcript(transcript)
        before, after = self._prompt_halves(task)
        prompt = before + transcript + after  # what the template renders with the transcript in place
        encoded = self.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        span, chars = token_span_of_chars(
            np.asarray(encoded["offset_mapping"]), len(before), len(before) + len(transcript)
        )
        ids = torch.tensor(encoded["input_ids"], dtype=torch.long)
        with torch.inference_mode():
            embeds = self.llm.get_input_embeddings()(ids)[None]  # (1, S, D)
        return Run("text", span, len(ids), token_char_spans=chars, payload={"inputs_embeds": embeds})

    # --- LM ----------------------------------------------------------------------------------------------
    def forward(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None, labels=None, **kwargs
    ):
        """The LM on assembled embeddings ``(B, S, D)``; with ``labels (B, S)`` it returns the loss (SIFT)."""
        return self.llm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels, **kwargs)

    def _hidden_states(self, run: Run) -> tuple[torch.Tensor, ...]:
        base = self.llm.get_decoder() if hasattr(self.llm, "get_decoder") else self.llm.model
        out = base(inputs_embeds=run.payload["inputs_embeds"], output_hidden_states=True, use_cache=False)
        return out.hidden_states

    @torch.inference_mode()
    def generate(self, runs: list[Run], max_new_tokens: int, batch_size: int = 8) -> list[str]:
        answers: list[str] = [""] * len(runs)
        order = sorted(range(len(runs)), key=lambda i: runs[i].length)  # similar lengths share a batch
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            embeds, mask = left_pad([runs[i].payload["inputs_embeds"][0] for i in chunk])
            out = self.llm.generate(
                inputs_embeds=embeds,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )  # (B, new) with inputs_embeds only: the new tokens alone
            for i, ids in zip(chunk, out, strict=True):
                answers[i] = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        return answers


def left_pad(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[(S_i, D)]`` -> ``(B, S_max, D)`` zero-padded on the left, and the ``(B, S_max)`` attention mask."""
    longest = max(s.shape[0] for s in sequences)
    width = sequences[0].shape[1]
    embeds = sequences[0].new_zeros(len(sequences), longest, width)
    mask = torch.zeros(len(sequences), longest, dtype=torch.long)
    for row, seq in enumerate(sequences):
        embeds[row, longest - seq.shape[0] :] = seq
        mask[row, longest - seq.shape[0] :] = 1
    return embeds, mask
