"""The composed speech LLM: frozen Whisper encoder -> projector -> frozen causal LM via ``inputs_embeds``.

The encoder runs on the real audio length (conv stack, the first P positional embeddings, the blocks, the
final norm), not on 30 s of padding (docs/facts.md#whisper-encoder-without-padding: 12x faster, and the
padded mode gives other
features; training (issue 7) must use this same mode). Whisper's positions are 20 ms apart; the projector
stacks ``stack`` of them, so an LM audio position spans ``0.02 * stack`` s.

Time convention (``speechalign.metrics.alas.row_times``): mel frame k is centred at ``k * 10 ms`` and Whisper
position p at mel frame 2p, i.e. ``20p ms``. A stack of positions ``[sp, sp+s)`` is centred at
``20(sp + (s-1)/2)`` ms, so with frames of ``20s`` ms its start is at ``-10 ms`` whatever ``s``:
``offset_seconds = -0.01``.

Dual encoder (a SIFT stage-2 checkpoint): a second projector reads the output of Whisper block
``paralinguistic_layer`` of the same forward pass, and the speech slot is AZEROS's
``<audio><meta>`` [paralinguistic] ``</meta><text>`` [semantic] ``</text></audio>`` (:func:`speech_slot`,
the one implementation SIFT training and its spoken-QA check use too). The audio run's span is then the
*semantic*
positions (the text part): those are what ALAS scores, with the same frame rate and offset as a
single-encoder model. The text run is the same for every composed model: the transcript alone where the
speech was (the LLM reading it), so text-side states never differ between variants.

``projector:`` in a backend spec is a projector folder (``projector.json``) or a SIFT checkpoint folder
(``sift_model.json``, ``semantic/``, optionally ``paralinguistic/``; speechalign.backends.checkpoint).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speechalign.backends.base import (
    BackendInputError,
    Run,
    SpeechLLM,
    check_transcript,
    greedy_answers_scoring,
    token_span_of_chars,
)
from speechalign.backends.checkpoint import CONFIG_FILE, read_checkpoint_config
from speechalign.backends.projector import Projector, ProjectorConfig
from speechalign.backends.prompts import SPEECH_MARKER, chat_prompt, split_at_marker, user_message
from speechalign.errors import UserFacingError

__all__ = ["DUAL_TAGS", "ComposedSpeechLLM", "encode_unpadded", "encode_unpadded_layers", "speech_slot"]

WHISPER_FRAME_SECONDS = 0.02  # one encoder position (two 10 ms mel frames)
WHISPER_OFFSET_SECONDS = -0.01  # see the module docstring
ENCODED_CLIPS = 16  # clips whose encoder layers a backend keeps: a 30 s clip is 3 MB per layer
# AZEROS's dual placement: <audio><meta>[paralinguistic]</meta><text>[semantic]</text></audio>
DUAL_TAGS = ("<audio><meta>", "</meta><text>", "</text></audio>")


def encode_unpadded_layers(encoder: nn.Module, mel: torch.Tensor, layers: Sequence[int]) -> dict:
    """``{k: (B, P, d)}`` for each ``k`` in ``layers``: the input of block ``k + 1`` (0: before the first
    block, i.e. the convolutions plus positions), and for ``k = n_blocks`` the final layer-normed output.

    Whisper on ``mel (B, n_mels, F)`` of the real length, P = ceil(F / 2): the same computation as
    ``WhisperEncoder.forward`` (which insists on 30 s of input) without the padding: two convolutions, the
    first P positional embeddings, every block, the final layer norm."""
    n_blocks = len(encoder.layers)
    if any(not 0 <= k <= n_blocks for k in layers):
        raise ValueError(f"encoder layers must be in 0..{n_blocks}; got {list(layers)}")
    max_frames = encoder.config.max_source_positions * 2
    if mel.shape[-1] > max_frames:
        raise BackendInputError(f"{mel.shape[-1]} mel frames exceed the encoder's {max_frames}")
    x = nn.functional.gelu(encoder.conv1(mel))  # (B, d, F)
    x = nn.functional.gelu(encoder.conv2(x))  # (B, d, P), P = ceil(F / 2)
    x = x.permute(0, 2, 1)  # (B, P, d)
    x = x + encoder.embed_positions.weight[: x.shape[1]]
    kept = {}
    for k, layer in enumerate(encoder.layers):
        if k in layers:
            kept[k] = x
        x = layer(x, attention_mask=None)
        x = x[0] if isinstance(x, tuple) else x
    if n_blocks in layers:
        kept[n_blocks] = encoder.layer_norm(x)
    return kept


def encode_unpadded(encoder: nn.Module, mel: torch.Tensor) -> torch.Tensor:
    """Whisper's final output on ``mel (B, n_mels, F)`` of the real length: ``(B, ceil(F / 2), d)``."""
    n_blocks = len(encoder.layers)
    return encode_unpadded_layers(encoder, mel, [n_blocks])[n_blocks]


def dual_tag_ids(tokenizer) -> list[list[int]]:
    """Token ids of the three tags of the dual placement, each tokenised on its own."""
    return [tokenizer(tag, add_special_tokens=False).input_ids for tag in DUAL_TAGS]


def speech_slot(
    tags: Sequence[torch.Tensor] | None, semantic: torch.Tensor, paralinguistic: torch.Tensor | None
) -> tuple[torch.Tensor, int]:
    """What stands in the speech slot, ``(A_slot, D)``, and where the semantic positions start in it.

    One encoder: the semantic projection ``(A, D)`` alone. Two: the tag embeddings ``tags`` (three
    ``(n_i, D)``, of :data:`DUAL_TAGS`) around the paralinguistic ``(A, D)`` and the semantic projection."""
    if paralinguistic is None:
        return semantic, 0
    open_tag, middle, close = tags
    slot = torch.cat(
        [open_tag, paralinguistic.to(open_tag.dtype), middle, semantic.to(open_tag.dtype), close]
    )
    return slot, len(open_tag) + len(paralinguistic) + len(middle)


class ComposedSpeechLLM(SpeechLLM):
    """``encoder`` (a ``WhisperEncoder``), its ``feature_extractor``, a ``Projector``, a causal ``llm`` and
    its ``tokenizer``; ``system_prompt`` and ``layout`` are the chat settings shared by every run.

    Dual encoder: ``paralinguistic`` (a second ``Projector``) reads Whisper block ``paralinguistic_layer``."""

    def __init__(
        self,
        encoder: nn.Module,
        feature_extractor,
        projector: Projector,
        llm: nn.Module,
        tokenizer,
        system_prompt: str,
        layout: str = "{speech}\n{task}",
        paralinguistic: Projector | None = None,
        paralinguistic_layer: int | None = None,
        device: torch.device | str | None = None,
    ):
        # every model on one device (default: the LM's); runs keep their tensors on the CPU
        self.device = torch.device(device) if device is not None else next(llm.parameters()).device
        self.encoder = encoder.eval().requires_grad_(False).to(self.device)
        self.feature_extractor = feature_extractor
        self.projector = projector.eval().to(self.device)
        self.llm = llm.eval().requires_grad_(False).to(self.device)
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.layout = layout
        self._encoded: OrderedDict[tuple, dict] = OrderedDict()  # the last clips' encoder layers
        self.sample_rate = feature_extractor.sampling_rate
        self.max_audio_seconds = encoder.config.max_source_positions * WHISPER_FRAME_SECONDS
        self.frame_seconds = WHISPER_FRAME_SECONDS * projector.config.stack
        self.offset_seconds = WHISPER_OFFSET_SECONDS
        if (paralinguistic is None) != (paralinguistic_layer is None):
            raise ValueError("a dual-encoder model needs both the paralinguistic projector and its layer")
        if paralinguistic_layer is not None and not 0 <= paralinguistic_layer <= len(encoder.layers):
            raise ValueError(
                f"paralinguistic_layer {paralinguistic_layer} is not in 0..{len(encoder.layers)}"
            )
        self.paralinguistic = paralinguistic.eval().to(self.device) if paralinguistic is not None else None
        self.paralinguistic_layer = paralinguistic_layer
        self._tag_ids = dual_tag_ids(tokenizer) if self.dual else None
        for name, proj in (("projector", projector), ("paralinguistic projector", paralinguistic)):
            if proj is not None:
                check_projector_fits(name, proj.config, encoder, llm)
        if paralinguistic is not None and paralinguistic.config.stack != projector.config.stack:
            raise ValueError("the two projectors must stack the same number of frames")

    @property
    def dual(self) -> bool:
        return self.paralinguistic is not None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], seed: int) -> ComposedSpeechLLM:
        """Load the real models a params backend entry names (see params.yaml ``backends.models``), on the
        entry's ``device`` (auto: the GPU when there is one)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer, WhisperFeatureExtractor, WhisperModel

        from speechalign.backends.device import resolve_device
        from speechalign.models import model_path

        whisper_dir = model_path(spec["encoder"])
        llm_dir = model_path(spec["llm"])
        # The frozen encoder and LM in the spec's dtype (bf16 halves a 7B LM's memory); the small projector
        # stays float32 and its input is cast to it.
        dtype = spec.get("dtype") or "float32"
        dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        encoder = WhisperModel.from_pretrained(whisper_dir, dtype=dtype).get_encoder()
        llm = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=dtype)
        projectors = spec_projectors(spec, encoder.config.d_model, llm.config.hidden_size, seed)
        return cls(
            encoder=encoder,
            feature_extractor=WhisperFeatureExtractor.from_pretrained(whisper_dir),
            llm=llm,
            tokenizer=AutoTokenizer.from_pretrained(llm_dir),
            system_prompt=spec["system_prompt"],
            layout=spec["layout"],
            device=resolve_device(spec.get("device") or "auto"),
            **projectors,
        )

    @property
    def num_hidden_states(self) -> int:
        return self.llm.config.num_hidden_layers + 1

    # --- audio -> LM positions -------------------------------------------------------------------------
    @torch.inference_mode()
    def encoder_layers(self, wave: np.ndarray) -> dict:
        """``{k: (1, P, d_enc)}``: the semantic features (``k = n_blocks``, what SIFT caches) and, for a
        dual model, block ``paralinguistic_layer``'s, from one encoder forward."""
        wave = self.check_wave(wave)
        layers = [len(self.encoder.layers)] + ([self.paralinguistic_layer] if self.dual else [])
        key = (hashlib.blake2b(wave.tobytes(), digest_size=16).digest(), *layers)
        if key in self._encoded:  # the same clip again (validity conditions, a mismatched control)
            self._encoded.move_to_end(key)
            return self._encoded[key]
        mel = self.feature_extractor(
            wave, sampling_rate=self.sample_rate, padding="longest", return_tensors="pt"
        ).input_features  # (1, n_mels, F), F = N // hop
        self._encoded[key] = encode_unpadded_layers(
            self.encoder, mel.to(self.device, self.encoder.dtype), layers
        )
        if len(self._encoded) > ENCODED_CLIPS:
            self._encoded.popitem(last=False)
        return self._encoded[key]

    def encoder_frames(self, wave: np.ndarray) -> torch.Tensor:
        """Frozen encoder features of one waveform, ``(1, P, d_enc)`` (what SIFT caches)."""
        return self.encoder_layers(wave)[len(self.encoder.layers)]

    def audio_embeddings(self, wave: np.ndarray) -> torch.Tensor:
        """``(1, A, D)``: the projected audio (semantic projector), A = P // stack."""
        return self.projected_audio(wave)[0]

    def projected_audio(self, wave: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(1, A, D)`` semantic projection and, for a dual model, the ``(1, A, D)`` paralinguistic one."""
        layers = self.encoder_layers(wave)
        frames = layers[len(self.encoder.layers)]
        if self.projector.output_length(frames.shape[1]) < 1:
            raise BackendInputError(
                f"audio of {len(wave) / self.sample_rate:.3f} s is shorter than one audio position"
                f" ({self.frame_seconds:.3f} s)"
            )
        with torch.inference_mode():
            semantic = run_projector(self.projector, frames).to(self.device)
            if not self.dual:
                return semantic, None
            para = run_projector(self.paralinguistic, layers[self.paralinguistic_layer])
            return semantic, para.to(self.device)

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
        before, after = embed(before_ids.to(self.device))[None], embed(after_ids.to(self.device))[None]
        return torch.cat([before, audio.to(self.device, embed.weight.dtype), after], dim=1)

    def audio_run(self, wave: np.ndarray, task: str) -> Run:
        """The speech slot holds the semantic projection (one encoder) or the dual placement; the span is
        the semantic positions either way."""
        before, after = self._prompt_halves(task)
        before_ids, after_ids = self._ids(before), self._ids(after)
        semantic, para = self.projected_audio(wave)  # (1, A, D), (1, A, D) | None
        with torch.inference_mode():
            embed = self.llm.get_input_embeddings()
            tags = [embed(self._ids_of(t).to(self.device)) for t in self._tag_ids] if self.dual else None
            slot, sem_start = speech_slot(tags, semantic[0], None if para is None else para[0])  # (A_slot, D)
            embeds = self.embed_prompt(before_ids, slot[None], after_ids).cpu()  # (1, S, D)
        start = len(before_ids) + sem_start
        return Run(
            "audio", (start, start + semantic.shape[1]), embeds.shape[1], payload={"inputs_embeds": embeds}
        )

    @staticmethod
    def _ids_of(ids: list[int]) -> torch.Tensor:
        return torch.tensor(ids, dtype=torch.long)

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
            embeds = self.llm.get_input_embeddings()(ids.to(self.device))[None].cpu()  # (1, S, D)
        return Run("text", span, len(ids), token_char_spans=chars, payload={"inputs_embeds": embeds})

    # --- LM ----------------------------------------------------------------------------------------------
    def forward(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None, labels=None, **kwargs
    ):
        """The LM on assembled embeddings ``(B, S, D)``; with ``labels (B, S)`` it returns the loss (SIFT)."""
        return self.llm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels, **kwargs)

    def _hidden_states(self, run: Run) -> tuple[torch.Tensor, ...]:
        base = self.llm.get_decoder() if hasattr(self.llm, "get_decoder") else self.llm.model
        embeds = run.payload["inputs_embeds"].to(self.device)
        out = base(inputs_embeds=embeds, output_hidden_states=True, use_cache=False)
        return out.hidden_states

    def generate(self, runs: list[Run], max_new_tokens: int, batch_size: int = 8) -> list[str]:
        return self.generate_scoring(runs, [None] * len(runs), max_new_tokens, batch_size)[0]

    def generate_scoring(
        self, runs: list[Run], texts: Sequence[str | None], max_new_tokens: int, batch_size: int = 8
    ) -> tuple[list[str], list[tuple[float, int] | None]]:
        """``generate``, and for each ``texts[i]`` its (summed NLL, tokens) teacher-forced after ``runs[i]``
        (None for no text or no tokens), from the generation's own prefill."""
        pad = self.tokenizer.pad_token_id or self.tokenizer.eos_token_id
        ids = [self.tokenizer(t, add_special_tokens=False).input_ids if t else None for t in texts]
        answers, nlls = greedy_answers_scoring(
            self.llm, self.tokenizer, runs, ids, max_new_tokens, batch_size, pad_token_id=pad
        )
        scored = [None if total is None else (total, len(i)) for total, i in zip(nlls, ids, strict=True)]
        return answers, scored


def run_projector(projector: Projector, frames: torch.Tensor) -> torch.Tensor:
    """The projector on ``frames (1, P, d)`` cast to its own device and dtype (float32, even beside a bf16
    encoder; a projector swapped in by a control may sit elsewhere)."""
    weight = next(projector.parameters())
    return projector(frames.to(weight.device, weight.dtype))


def check_projector_fits(name: str, config: ProjectorConfig, encoder: nn.Module, llm: nn.Module) -> None:
    if config.llm_dim != llm.config.hidden_size:
        raise ValueError(f"{name} gives width {config.llm_dim}; the LM needs {llm.config.hidden_size}")
    if config.encoder_dim != encoder.config.d_model:
        raise ValueError(
            f"{name} takes width {config.encoder_dim}; the encoder gives {encoder.config.d_model}"
        )


def spec_projectors(spec: Mapping[str, Any], encoder_dim: int, llm_dim: int, seed: int) -> dict:
    """``projector`` (and for a dual SIFT checkpoint ``paralinguistic`` and ``paralinguistic_layer``) of a
    backend spec: its ``projector:`` folder (a projector folder or a SIFT checkpoint), or, when null, a
    fresh projector initialised from ``seed`` (the untrained control)."""
    folder = spec.get("projector")
    if not folder:
        config = ProjectorConfig(encoder_dim, llm_dim, spec["projector_hidden"], spec["stack"])
        return {"projector": Projector.initialised(config, seed=seed)}
    if not (Path(folder) / CONFIG_FILE).is_file():
        return {"projector": Projector.load(folder)}
    trained = read_checkpoint_config(folder)
    mismatched = [
        f"{key}: checkpoint {trained_value!r}, spec {spec.get(key)!r}"
        for key, trained_value in (
            ("llm", trained.llm),
            ("encoder", trained.encoder),
            ("layout", trained.layout),
        )
        if spec.get(key) != trained_value
    ]
    if mismatched:
        raise UserFacingError(f"SIFT checkpoint {folder} was trained otherwise: " + "; ".join(mismatched))
    out = {"projector": Projector.load(Path(folder) / "semantic")}
    if trained.dual:
        out["paralinguistic"] = Projector.load(Path(folder) / "paralinguistic")
        out["paralinguistic_layer"] = trained.paralinguistic_layer
    return out
