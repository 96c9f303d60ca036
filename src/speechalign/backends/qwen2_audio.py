"""Qwen2-Audio (the ALAS paper's model) through transformers' ``Qwen2AudioForConditionalGeneration``.

Its audio tower is Whisper large-v3's encoder (128 mel bins, 30 s windows, attention-masked padding) followed
by average pooling of stride 2 and a linear projector: one audio token per 40 ms. Under the convention of
``speechalign.metrics.alas.row_times`` token j is centred at ``40j + 10`` ms (mel frame k at ``10k`` ms,
encoder position p at ``20p`` ms, pooled pairs), so ``frame_seconds = 0.04`` and ``offset_seconds = -0.01``.

The audio run is Qwen2-Audio's chat template around ``backends.layout``:
``<|audio_bos|><|AUDIO|><|audio_eos|>`` then the task (not the ALAS paper's Figure 4 layout:
docs/deviations.md#alas), which the processor expands to one ``<|AUDIO|>`` per audio token; the audio span is
that run of audio-token ids. The text run puts the transcript where the audio block was; its span comes from
the tokenizer's character offsets.

``build_processor`` assembles a processor offline from any Qwen2 tokenizer (the audio special tokens are
added if missing) and a Whisper feature extractor, for tests on a tiny random config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from speechalign.backends.base import BackendInputError, Run, SpeechLLM, check_transcript, token_span_of_chars
from speechalign.backends.prompts import SPEECH_MARKER, chat_prompt, split_at_marker, user_message

__all__ = ["AUDIO_TOKENS", "Qwen2AudioSpeechLLM", "build_processor"]

AUDIO_TOKENS = ("<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>")
FRAME_SECONDS = 0.04
OFFSET_SECONDS = -0.01


def build_processor(tokenizer, feature_extractor=None):
    """A ``Qwen2AudioProcessor`` from a local Qwen2 tokenizer (audio special tokens added if missing) and a
    Whisper feature extractor (default: 128 mel bins, as Qwen2-Audio's)."""
    from transformers import Qwen2AudioProcessor, WhisperFeatureExtractor

    missing = [t for t in AUDIO_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    feature_extractor = feature_extractor or WhisperFeatureExtractor(feature_size=128)
    return Qwen2AudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)


class Qwen2AudioSpeechLLM(SpeechLLM):
    frame_seconds = FRAME_SECONDS
    offset_seconds = OFFSET_SECONDS

    def __init__(self, model, processor, system_prompt: str, layout: str = "{speech}\n{task}"):
        self.model = model.eval().requires_grad_(False)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.system_prompt = system_prompt
        self.layout = layout
        self.sample_rate = processor.feature_extractor.sampling_rate
        self.max_audio_seconds = processor.feature_extractor.chunk_length
        self.audio_token_id = model.config.audio_token_id
        self.audio_block = "<|audio_bos|><|AUDIO|><|audio_eos|>"
        if self.tokenizer.convert_tokens_to_ids("<|AUDIO|>") != self.audio_token_id:
            raise ValueError("the tokenizer's <|AUDIO|> id differs from the model's audio_token_id")

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Qwen2AudioSpeechLLM:
        """The entry's model on its ``device`` (auto: the GPU when there is one)."""
        from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

        from speechalign.backends.device import resolve_device
        from speechalign.models import model_path

        path = model_path(spec["model"])
        model = Qwen2AudioForConditionalGeneration.from_pretrained(path, dtype=spec.get("dtype", "auto"))
        model = model.to(resolve_device(spec.get("device") or "auto"))
        return cls(model, AutoProcessor.from_pretrained(path), spec["system_prompt"], spec["layout"])

    @property
    def num_hidden_states(self) -> int:
        return self.model.config.text_config.num_hidden_layers + 1

    def _prompt_halves(self, task: str) -> tuple[str, str]:
        prompt = chat_prompt(
            self.tokenizer, self.system_prompt, user_message(self.layout, SPEECH_MARKER, task)
        )
        return split_at_marker(prompt)

    def _encode(self, prompts: list[str], waves: list[np.ndarray] | None) -> dict[str, torch.Tensor]:
        if waves is None:
            return dict(self.tokenizer(prompts, return_tensors="pt", padding=True))
        return dict(
            self.processor(
                text=prompts, audio=waves, sampling_rate=self.sample_rate, return_tensors="pt", padding=True
            )
        )

    def _on_model(self, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Inputs on the model's device (runs keep theirs on the CPU); mel features in the model's dtype."""
        dtype = self.model.dtype
        return {
            k: v.to(self.model.device, dtype if v.is_floating_point() else None) for k, v in tensors.items()
        }

    def audio_run(self, wave: np.ndarray, task: str) -> Run:
        wave = self.check_wave(wave)
        before, after = self._prompt_halves(task)
        prompt = before + self.audio_block + after
        inputs = self._encode([prompt], [wave])
        is_audio = (inputs["input_ids"][0] == self.audio_token_id).numpy()  # (S,)
        positions = np.flatnonzero(is_audio)
        if positions.size == 0:
            raise BackendInputError(f"audio of {len(wave) / self.sample_rate:.3f} s gives no audio token")
        start, stop = int(positions[0]), int(positions[-1]) + 1
        if positions.size != stop - start:
            raise RuntimeError("the audio tokens of the prompt are not contiguous")
        run = Run("audio", (start, stop), inputs["input_ids"].shape[1], payload=inputs)
        run.payload["prompt"], run.payload["wave"] = prompt, wave
        return run

    def text_run(self, transcript: str, task: str) -> Run:
        transcript = check_transcript(transcript)
        before, after = self._prompt_halves(task)
        prompt = before + transcript + after
        encoded = self.tokenizer(prompt, return_offsets_mapping=True, return_tensors="pt")
        offsets = encoded.pop("offset_mapping")[0].numpy()
        span, chars = token_span_of_chars(offsets, len(before), len(before) + len(transcript))
        payload = dict(encoded) | {"prompt": prompt}
        return Run("text", span, encoded["input_ids"].shape[1], token_char_spans=chars, payload=payload)

    def _hidden_states(self, run: Run) -> tuple[torch.Tensor, ...]:
        tensors = self._on_model({k: v for k, v in run.payload.items() if isinstance(v, torch.Tensor)})
        out = self.model.model(**tensors, output_hidden_states=True, use_cache=False)
        return out.hidden_states

    @torch.inference_mode()
    def generate(self, runs: list[Run], max_new_tokens: int, batch_size: int = 8) -> list[str]:
        answers: list[str] = [""] * len(runs)
        self.tokenizer.padding_side = "left"  # generation continues every row at the same position
        for kind in ("audio", "text"):
            chosen = [i for i, r in enumerate(runs) if r.kind == kind]
            for first in range(0, len(chosen), batch_size):
                chunk = chosen[first : first + batch_size]
                prompts = [runs[i].payload["prompt"] for i in chunk]
                waves = [runs[i].payload["wave"] for i in chunk] if kind == "audio" else None
                inputs = self._on_model(self._encode(prompts, waves))
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
                new = out[:, inputs["input_ids"].shape[1] :]  # (B, new)
                for i, ids in zip(chunk, new, strict=True):
                    answers[i] = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        return answers
