"""SALMONN (Tang et al., 2023, "SALMONN: Towards Generic Hearing Abilities for Large Language Models")
behind the ``SpeechLLM`` interface.

Whisper's encoder and BEATs (:mod:`speechalign.backends.beats`) read the same audio; the window-level
Q-Former (:mod:`speechalign.backends.qformer`) turns every window of both into one LLM input position; Vicuna
with LoRA adapters (peft; release: r 8, alpha 32, dropout 0.1 on ``q_proj`` and ``v_proj``) reads them. As the
release (bytedance/SALMONN, ``model.py`` and ``models/salmonn.py``) does it:

- audio shorter than 1 s is padded with silence to 1 s; Whisper gets its 30 s of padded log-mel (1500
  positions of 20 ms) and BEATs the waveform itself;
- windows of ``round(1500 * 0.333333 / 30) = 17`` positions every 17: **88 LLM positions whatever the
  audio length**, each 0.34 s (not 1/3 s: the rounding); the last 4 positions (80 ms) of the 30 s are
  never read;
- the sequence is ``<s>`` then ``USER: <Speech>`` [88 positions] ``</Speech> {task}\\nASSISTANT:``, the
  prompt halves tokenised separately without special tokens (the release's prompt_template, test prompts).

Runs. The audio run's span is the windows that hold speech: window j starts at ``0.34 j`` s, so a clip of
``d`` seconds has ``ceil(d / 0.34)`` of them (at most 88); the silent windows after it stay in the sequence
(the LLM sees them, as in the release) but outside the span. The text run is the ALAS authors' SALMONN text
prompt (``get_salmon_hiddenstates.py``): ``<s>USER: <Text>{transcript}</Text>{task}\\nASSISTANT:``; both
layouts are params (``audio_layout``, ``text_layout``). SALMONN has no system turn, so ``system_prompt`` and
the shared ``layout`` do not apply. Both runs go through the same LoRA-adapted LLM.

Timing (``speechalign.metrics.alas.row_times`` convention, Whisper position p at ``20p`` ms): window j
covers positions ``[17j, 17j + 17)``, centred at ``20 (17j + 8) = 340 j + 160`` ms, so
``frame_seconds = 0.34`` and ``offset_seconds = -0.01``; in general ``stride * 0.02`` and
``(kernel - 1 - stride) / 2 * 0.02``. The BEATs token beside Whisper position p is BEATs time patch
``p // 8`` (160 ms), so it is aligned to within that patch.

Checkpoints (:func:`read_checkpoint`, :func:`save_checkpoint`) use the release's layout:
``checkpoint['model']`` holds ``ln_speech``, ``ln_audio``, ``speech_Qformer.bert...``,
``speech_query_tokens``, ``speech_llama_proj`` and ``llama_model.base_model.model...lora_A/B...``; Whisper,
BEATs and Vicuna come from their own releases. They are read only as safetensors or through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speechalign.backends.base import Run, SpeechLLM, check_transcript, greedy_answers, token_span_of_chars
from speechalign.backends.beats import BEATs, load_beats, load_state_file
from speechalign.backends.prompts import SPEECH_MARKER, split_at_marker, user_message
from speechalign.backends.qformer import (
    WindowQFormer,
    WindowQFormerConfig,
    from_release_keys,
    is_unused_release_key,
    to_release_keys,
)
from speechalign.errors import UserFacingError

__all__ = [
    "AUDIO_LAYOUT",
    "TEXT_LAYOUT",
    "SalmonnConfig",
    "SalmonnSpeechLLM",
    "read_checkpoint",
    "save_checkpoint",
    "with_lora",
]

log = logging.getLogger(__name__)

AUDIO_LAYOUT = "USER: <Speech>{speech}</Speech> {task}\nASSISTANT:"  # the release's template and test prompts
TEXT_LAYOUT = "USER: <Text>{speech}</Text>{task}\nASSISTANT:"  # the ALAS authors' SALMONN text run
MIN_SECONDS = 1.0  # the release pads shorter audio with silence to 1 s
CONFIG_KEY = "salmonn_config"  # our checkpoints' hyperparameters (a release checkpoint has none: defaults)
CONNECTOR_KEYS = ("ln_speech.", "ln_audio.", "speech_Qformer.", "speech_query_tokens", "speech_llama_proj.")
FROZEN_KEYS = ("speech_encoder.", "beats.", "llama_model.")  # from their own releases; LoRA aside


@dataclass
class SalmonnConfig:
    """What a SALMONN checkpoint was trained with (defaults: the release's decode_config.yaml)."""

    qformer: WindowQFormerConfig = field(default_factory=WindowQFormerConfig)
    second_per_window: float = 0.333333
    second_stride: float = 0.333333
    lora_rank: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"lora_targets": list(self.lora_targets)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SalmonnConfig:
        values = dict(values)
        qformer = WindowQFormerConfig(**values.pop("qformer", {}))
        targets = tuple(values.pop("lora_targets", cls.lora_targets))
        return cls(qformer=qformer, lora_targets=targets, **values)


def with_lora(llm: nn.Module, config: SalmonnConfig) -> nn.Module:
    """``llm`` wrapped by peft with the checkpoint's LoRA adapters (fresh: B = 0, i.e. the plain LLM)."""
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        inference_mode=True,
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_targets),
    )
    return get_peft_model(llm, lora)


class SalmonnSpeechLLM(SpeechLLM):
    """``whisper`` (a ``WhisperEncoder``) and its ``feature_extractor``, ``beats``, the ``connector``, ``llm``
    (a peft model from :func:`with_lora`) and its ``tokenizer``; ``config`` sets the windows."""

    def __init__(
        self,
        whisper: nn.Module,
        feature_extractor,
        beats: BEATs,
        connector: WindowQFormer,
        llm: nn.Module,
        tokenizer,
        config: SalmonnConfig,
        audio_layout: str = AUDIO_LAYOUT,
        text_layout: str = TEXT_LAYOUT,
        device: torch.device | str | None = None,
    ):
        self.device = torch.device(device) if device is not None else next(llm.parameters()).device
        self.whisper = whisper.eval().requires_grad_(False).to(self.device)
        self.feature_extractor = feature_extractor
        self.beats = beats.eval().requires_grad_(False).to(self.device)
        self.connector = connector.eval().requires_grad_(False).to(self.device)
        self.llm = llm.eval().requires_grad_(False).to(self.device)
        self.tokenizer = tokenizer
        self.config = config
        self.audio_layout, self.text_layout = audio_layout, text_layout
        self.sample_rate = feature_extractor.sampling_rate
        self.max_audio_seconds = feature_extractor.chunk_length
        if tokenizer.bos_token_id is None:
            raise ValueError("SALMONN's prompts start with the LLM's BOS token; this tokenizer has none")
        check_fits(connector.config, whisper, beats, llm)

        # Windows, as the release derives them from Whisper's 1500 positions per 30 s.
        positions = whisper.config.max_source_positions  # 1500, over the feature extractor's 30 s
        position_seconds = feature_extractor.chunk_length / positions  # 0.02
        self.kernel = round(positions * config.second_per_window / feature_extractor.chunk_length)
        self.stride = round(positions * config.second_stride / feature_extractor.chunk_length)
        self.num_windows = (positions - self.kernel) // self.stride + 1  # 88
        self.samples_per_stride = round(self.stride * position_seconds * self.sample_rate)  # 5440
        self.frame_seconds = self.stride * position_seconds
        self.offset_seconds = (self.kernel - 1 - self.stride) / 2 * position_seconds
        if connector.config.num_query_tokens != 1:
            raise ValueError(
                "ALAS timing needs one LLM position per window (num_query_tokens 1, as released)"
            )

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], seed: int = 0) -> SalmonnSpeechLLM:
        """The models a params ``backends.models`` entry names: ``encoder`` (a Whisper model; the release's
        openai/whisper-large-v2), ``llm`` (lmsys/vicuna-7b-v1.5 for SALMONN-7B, lmsys/vicuna-13b-v1.1 for
        the 13B), ``beats`` and ``checkpoint`` (files; a null checkpoint: an untrained connector from
        ``seed``, the plain LLM). Whisper and the LLM in ``dtype`` (auto: bfloat16 on a GPU); BEATs and the
        connector in float32."""
        from transformers import AutoModelForCausalLM, AutoTokenizer, WhisperFeatureExtractor, WhisperModel

        from speechalign.backends.device import resolve_device, resolve_dtype
        from speechalign.models import model_path

        device = resolve_device(spec.get("device") or "auto")
        dtype_name = spec.get("dtype") or "auto"
        dtype = resolve_dtype(dtype_name, device) if dtype_name == "auto" else getattr(torch, dtype_name)
        whisper_dir, llm_dir = model_path(spec["encoder"]), model_path(spec["llm"])
        beats_file, checkpoint = local_file(spec["beats"]), spec.get("checkpoint")
        state, config = read_checkpoint(local_file(checkpoint)) if checkpoint else ({}, None)
        config = config or SalmonnConfig()
        whisper = WhisperModel.from_pretrained(whisper_dir, dtype=dtype).get_encoder()
        beats = load_beats(beats_file)
        llm = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=dtype)
        # the widths come from the models; a checkpoint that disagrees fails to load below
        config.qformer.whisper_dim, config.qformer.beats_dim = whisper.config.d_model, beats.dim
        config.qformer.llm_dim = llm.config.hidden_size
        torch.manual_seed(seed)
        model = cls(
            whisper=whisper,
            feature_extractor=WhisperFeatureExtractor.from_pretrained(whisper_dir),
            beats=beats,
            connector=WindowQFormer(config.qformer),
            llm=with_lora(llm, config),
            tokenizer=AutoTokenizer.from_pretrained(llm_dir),
            config=config,
            audio_layout=spec.get("audio_layout") or AUDIO_LAYOUT,
            text_layout=spec.get("text_layout") or TEXT_LAYOUT,
            device=device,
        )
        if state:
            model.load_release_state(state)
        return model

    @property
    def num_hidden_states(self) -> int:
        return self.llm.config.num_hidden_layers + 1

    # --- audio -> LLM positions -----------------------------------------------------------------------------
    @torch.inference_mode()
    def speech_embeddings(self, wave: np.ndarray) -> tuple[torch.Tensor, int]:
        """``(1, 88, D)``: every window's LLM input, and how many of them (from the first) hold the speech."""
        wave = self.check_wave(wave)
        minimum = round(MIN_SECONDS * self.sample_rate)
        padded = np.pad(wave, (0, max(0, minimum - len(wave))))  # (max(N, 16000),)
        mel = self.feature_extractor(
            padded, sampling_rate=self.sample_rate, return_tensors="pt"
        ).input_features
        whisper = self.whisper(mel.to(self.device, self.whisper.dtype)).last_hidden_state  # (1, 1500, dw)
        beats = self.beats.extract_features(torch.from_numpy(padded)[None].to(self.device))  # (1, Tb, db)
        speech = self.connector(whisper, beats, self.kernel, self.stride)  # (1, 88, D)
        return speech, self.speech_windows(len(wave))

    def speech_windows(self, num_samples: int) -> int:
        """Windows that start before the audio ends: ``ceil(N / samples_per_stride)``, at most all of them."""
        return min(self.num_windows, -(-num_samples // self.samples_per_stride))

    # --- runs -----------------------------------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _embed(self, ids: list[int]) -> torch.Tensor:  # (1, S, D)
        ids = torch.tensor(ids, dtype=torch.long, device=self.device)
        return self.llm.get_input_embeddings()(ids)[None]

    def audio_run(self, wave: np.ndarray, task: str) -> Run:
        before, after = split_at_marker(user_message(self.audio_layout, SPEECH_MARKER, task))
        before_ids = [self.tokenizer.bos_token_id, *self._ids(before)]
        speech, count = self.speech_embeddings(wave)  # (1, 88, D), windows with speech
        with torch.inference_mode():
            before_embeds, after_embeds = self._embed(before_ids), self._embed(self._ids(after))
            speech = speech.to(before_embeds.dtype)
            embeds = torch.cat([before_embeds, speech, after_embeds], dim=1).cpu()  # (1, S, D)
        start = len(before_ids)
        payload = {"inputs_embeds": embeds, "windows": speech.shape[1]}
        return Run("audio", (start, start + count), embeds.shape[1], payload=payload)

    def text_run(self, transcript: str, task: str) -> Run:
        transcript = check_transcript(transcript)
        before, after = split_at_marker(user_message(self.text_layout, SPEECH_MARKER, task))
        prompt = before + transcript + after
        encoded = self.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        (first, stop), chars = token_span_of_chars(
            np.asarray(encoded["offset_mapping"]), len(before), len(before) + len(transcript)
        )
        ids = [self.tokenizer.bos_token_id, *encoded["input_ids"]]
        with torch.inference_mode():
            embeds = self._embed(ids).cpu()  # (1, S, D)
        span = (first + 1, stop + 1)  # after the BOS
        return Run("text", span, len(ids), token_char_spans=chars, payload={"inputs_embeds": embeds})

    # --- LLM ------------------------------------------------------------------------------------------------
    def _hidden_states(self, run: Run) -> tuple[torch.Tensor, ...]:
        decoder = self.llm.get_base_model().model  # the LoRA-adapted decoder stack
        out = decoder(
            inputs_embeds=run.payload["inputs_embeds"].to(self.device),
            output_hidden_states=True,
            use_cache=False,
        )
        return out.hidden_states

    def generate(self, runs: list[Run], max_new_tokens: int, batch_size: int = 8) -> list[str]:
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        return greedy_answers(
            self.llm, self.tokenizer, runs, max_new_tokens, batch_size, eos_token_id=eos, pad_token_id=pad
        )

    # --- checkpoints ----------------------------------------------------------------------------------------
    def release_state(self) -> dict[str, torch.Tensor]:
        """The trained weights in the release's layout (connector + LoRA), CPU tensors."""
        state = to_release_keys(self.connector.state_dict())
        state |= {f"llama_model.{k}": v for k, v in self.llm.state_dict().items() if ".lora_" in k}
        return {k: v.detach().contiguous().cpu() for k, v in state.items()}

    def load_release_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Connector and LoRA weights from a release-layout state dict; every one of them must be there.
        Frozen parts a full checkpoint may carry (Whisper, BEATs, the LLM's own weights) are skipped: they
        come from their own releases."""
        connector, lora, unknown = {}, {}, []
        for key, value in state.items():
            if key.startswith(CONNECTOR_KEYS):
                if not is_unused_release_key(key):
                    connector[key] = value
            elif key.startswith("llama_model.") and ".lora_" in key:
                lora[_peft_key(key)] = value
            elif not key.startswith(FROZEN_KEYS):
                unknown.append(key)
        if unknown:
            raise UserFacingError(f"SALMONN checkpoint has keys of no known part: {unknown[:5]}")
        try:
            missing, unexpected = self.connector.load_state_dict(from_release_keys(connector), strict=False)
        except RuntimeError as error:  # shape mismatches
            raise UserFacingError(f"SALMONN checkpoint does not fit the connector: {error}") from None
        if missing or unexpected:
            raise UserFacingError(
                f"SALMONN connector weights: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        wanted = {k for k in self.llm.state_dict() if ".lora_" in k}
        if set(lora) != wanted:
            missing, extra = sorted(wanted - set(lora)), sorted(set(lora) - wanted)
            raise UserFacingError(f"SALMONN LoRA weights: missing {missing[:3]}, unexpected {extra[:3]}")
        self.llm.load_state_dict(lora, strict=False)
        skipped = len(state) - len(connector) - len(lora)
        if skipped:
            log.info("SALMONN checkpoint: %d frozen or unused tensors skipped", skipped)


def _peft_key(release_key: str) -> str:
    """``llama_model.base_model...q_proj.lora_A[.default].weight`` -> the peft model's key (adapter
    ``default``)."""
    key = release_key.removeprefix("llama_model.")
    return re.sub(r"\.(lora_[AB])\.weight$", r".\1.default.weight", key)


def check_fits(config: WindowQFormerConfig, whisper: nn.Module, beats: BEATs, llm: nn.Module) -> None:
    widths = {
        "whisper_dim": whisper.config.d_model,
        "beats_dim": beats.dim,
        "llm_dim": llm.config.hidden_size,
    }
    wrong = [f"{k} {getattr(config, k)} (model: {v})" for k, v in widths.items() if getattr(config, k) != v]
    if wrong:
        raise ValueError("the connector does not fit the models: " + ", ".join(wrong))


def local_file(ref: str | os.PathLike) -> Path:
    """BEATs and SALMONN checkpoints are single files (not hub models in HF format): a local path."""
    path = Path(ref)
    if not path.is_file():
        raise UserFacingError(
            f"{ref} is not a file. SALMONN's BEATs and connector checkpoints are files to download by hand"
            " (docs/backends/salmonn.md) and name by path."
        )
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], SalmonnConfig | None]:
    """``(release-layout state, config)`` of a SALMONN checkpoint: a release ``.pth`` (``{'model': ...}``;
    no config: the caller uses the release's), a flat state dict, or :func:`save_checkpoint`'s output."""
    checkpoint = load_state_file(path)
    state = checkpoint["model"] if isinstance(checkpoint.get("model"), Mapping) else checkpoint
    config = SalmonnConfig.from_dict(checkpoint[CONFIG_KEY]) if CONFIG_KEY in checkpoint else None
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise UserFacingError(f"{path} holds no tensors")
    return tensors, config


def save_checkpoint(model: SalmonnSpeechLLM, path: str | os.PathLike) -> None:
    """The connector and LoRA weights in the release's layout with the config: safetensors (config in the
    metadata) for a ``.safetensors`` path, else ``torch.save({'model': ..., 'salmonn_config': ...})``, which
    ``torch.load(weights_only=True)`` reads (plain containers only)."""
    import json

    state, config = model.release_state(), model.config.to_dict()
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path), metadata={CONFIG_KEY: json.dumps(config)})
    else:
        torch.save({"model": state, CONFIG_KEY: config}, path)
