"""Word aligners behind one interface: ``align(name, audio, sample_rate, transcript) -> AlignerResult``.

- ``whisper-timestamped``: openai-whisper decoding + cross-attention DTW word times (the default reference);
- ``hf-whisper``: transformers' ASR pipeline with ``return_timestamps="word"`` (what the ALAS paper's
  code uses, there with whisper-large-v3);
- ``faster-whisper``: CTranslate2 Whisper with ``word_timestamps=True``;
- ``pocketsphinx``: forced alignment of the known transcript (transcript-aware: no recognition).

All three Whisper backends decode the same way (greedy unless ``beam_size`` > 1, temperature 0, English,
no VAD, no conditioning on the previous window) so they differ only in how they time words. Models load
once per process. Audio goes in as arrays (no ffmpeg) and is checked by :func:`prepare_audio`.

    >>> r = align("faster-whisper", audio, 16000, "Mary is forty-two.")   # doctest: +SKIP
    >>> r.text, r.words[0]                                                 # doctest: +SKIP
    ('Mary is 42.', Word(text='Mary', start=0.0, end=0.26))
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechalign.data.manifest import Word
from speechalign.errors import UserFacingError
from speechalign.reference.audio import RATE, prepare_audio
from speechalign.reference.normalise import normalise_words

log = logging.getLogger(__name__)

WHISPER_ALIGNERS = ("whisper-timestamped", "hf-whisper", "faster-whisper")  # each loads params models.whisper
ORACLE = "oracle"  # the exact synthesised times: a reference, not an aligner that hears audio
OPENAI_CHECKPOINT = "openai-whisper.pt"
CT2_FOLDER = "source"


class AlignerError(UserFacingError):
    """An aligner is unknown or its model cannot be found."""


@dataclass(frozen=True)
class AlignerSettings:
    whisper: str = "whisper-base"  # lock entry name, local model folder, or hub id
    beam_size: int = 1  # 1 = greedy decoding
    language: str = "en"
    threads: int = 2
    models_dir: str = "data/models"
    device: str = "auto"  # auto | cpu | cuda (speechalign.backends.device)


@dataclass(frozen=True)
class AlignerResult:
    aligner: str
    words: tuple[Word, ...]  # recognised (or force-aligned) words with times, in order
    text: str  # the recognised text ("" when nothing was recognised)
    transcript_aware: bool = False  # True: the words are the transcript's, so WER is 0 by construction
    error: str | None = None  # why a transcript-aware aligner produced no words


@dataclass(frozen=True)
class WhisperFiles:
    """Where each Whisper backend loads the model from."""

    openai: str  # openai-whisper .pt checkpoint, or a model name openai-whisper downloads
    ctranslate2: str  # CTranslate2 folder, or a model name faster-whisper downloads
    hf: str  # transformers folder or hub id


def whisper_files(ref: str, models_dir: str = "data/models") -> WhisperFiles:
    """Resolve a Whisper reference: a lock entry provisioned under ``models_dir``, a local folder in the
    same layout, or a hub id such as ``openai/whisper-large-v3`` (needs hub.allow)."""
    from speechalign.models import model_path

    for folder in (Path(models_dir) / ref, Path(ref)):
        if (folder / OPENAI_CHECKPOINT).is_file() and (folder / "hf").is_dir():
            return WhisperFiles(str(folder / OPENAI_CHECKPOINT), str(folder / CT2_FOLDER), str(folder / "hf"))
    hf = model_path(ref, models_dir)  # raises a clear error when the model is nowhere to be had
    size = ref.rsplit("whisper-", 1)[-1]  # openai/whisper-large-v3 -> large-v3, the name both libraries know
    return WhisperFiles(size, size, hf)


def clean_word(text: str) -> str:
    return text.strip()


# --- Whisper backends ------------------------------------------------------------------------------


def _device(settings: AlignerSettings) -> str:
    from speechalign.backends.device import resolve_device

    return resolve_device(settings.device).type


@functools.cache
def _openai_model(checkpoint: str, threads: int, device: str):
    import torch

    torch.set_num_threads(threads)
    if Path(checkpoint).is_file():
        from speechalign.models.whisper import load_openai_whisper

        return load_openai_whisper(checkpoint, device)
    import whisper

    return whisper.load_model(checkpoint, device=device)


def whisper_timestamped_words(audio: np.ndarray, settings: AlignerSettings) -> tuple[list[Word], str]:
    import whisper_timestamped

    files = whisper_files(settings.whisper, settings.models_dir)
    model = _openai_model(files.openai, settings.threads, _device(settings))
    result = whisper_timestamped.transcribe(
        model,
        audio,
        language=settings.language,
        beam_size=settings.beam_size if settings.beam_size > 1 else None,
        temperature=0.0,
        condition_on_previous_text=False,
        vad=False,
        fp16=False,  # float32 on the GPU too: the same word times as on the CPU, up to float rounding
        verbose=None,
    )
    words = [
        Word(clean_word(w["text"]), float(w["start"]), float(w["end"]))
        for segment in result["segments"]
        for w in segment.get("words", [])
    ]
    return words, result["text"].strip()


@functools.cache
def _faster_whisper_model(folder: str, threads: int, device: str):
    from faster_whisper import WhisperModel

    # CTranslate2's usual choice per device: int8 on the CPU, float16 on the GPU
    compute_type = "float16" if device == "cuda" else "int8"
    return WhisperModel(folder, device=device, compute_type=compute_type, cpu_threads=threads)


def faster_whisper_words(audio: np.ndarray, settings: AlignerSettings) -> tuple[list[Word], str]:
    files = whisper_files(settings.whisper, settings.models_dir)
    model = _faster_whisper_model(files.ctranslate2, settings.threads, _device(settings))
    segments, _ = model.transcribe(
        audio,
        language=settings.language,
        beam_size=settings.beam_size,
        temperature=0.0,
        condition_on_previous_text=False,
        vad_filter=False,
        word_timestamps=True,
    )
    segments = list(segments)  # a generator: decoding happens here
    words = [Word(clean_word(w.word), float(w.start), float(w.end)) for s in segments for w in s.words or []]
    return words, " ".join(s.text.strip() for s in segments).strip()


@functools.cache
def _hf_pipeline(folder: str, threads: int, device: str):
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    return pipeline("automatic-speech-recognition", model=folder, device=device, dtype=torch.float32)


def hf_chunk_words(chunks: list[dict], duration: float) -> list[Word]:
    """Pipeline chunks -> Words. A last word may come without an end time: it then ends where the next
    word starts, or at the audio's end."""
    words = []
    for k, chunk in enumerate(chunks):
        start, end = chunk["timestamp"]
        if end is None:
            end = chunks[k + 1]["timestamp"][0] if k + 1 < len(chunks) else duration
        words.append(Word(clean_word(chunk["text"]), float(start), float(max(end, start))))
    return words


def hf_generate_kwargs(generation_config, settings: AlignerSettings) -> dict:
    """English-only checkpoints (tiny.en) refuse a language or task; multilingual ones need them."""
    kwargs: dict = {"num_beams": settings.beam_size}
    if getattr(generation_config, "is_multilingual", True):
        kwargs |= {"language": settings.language, "task": "transcribe"}
    return kwargs


def hf_whisper_words(audio: np.ndarray, settings: AlignerSettings) -> tuple[list[Word], str]:
    files = whisper_files(settings.whisper, settings.models_dir)
    asr = _hf_pipeline(files.hf, settings.threads, _device(settings))
    out = asr(
        {"raw": audio, "sampling_rate": RATE},
        return_timestamps="word",
        chunk_length_s=30,  # longer audio is decoded in overlapping 30 s windows
        generate_kwargs=hf_generate_kwargs(asr.model.generation_config, settings),
    )
    return hf_chunk_words(out.get("chunks", []), len(audio) / RATE), out["text"].strip()


# --- transcript-aware -----------------------------------------------------------------------------


def pocketsphinx_result(audio: np.ndarray, transcript: str) -> AlignerResult:
    from speechalign.data.align import AlignmentError, align_words

    # The dictionary has no digits or hyphenated words: align the normalised tokens ("42" -> "forty two");
    # matching maps them back to the transcript's words.
    tokens = " ".join(t.text for t in normalise_words(transcript.split()))
    try:
        words = align_words(audio, tokens, RATE)
    except AlignmentError as err:  # recorded, not fatal: its words are then interpolated and flagged
        return AlignerResult("pocketsphinx", (), "", transcript_aware=True, error=str(err))
    return AlignerResult("pocketsphinx", words, " ".join(w.text for w in words), transcript_aware=True)


RECOGNISERS: dict[str, Callable[[np.ndarray, AlignerSettings], tuple[list[Word], str]]] = dict(
    zip(WHISPER_ALIGNERS, (whisper_timestamped_words, hf_whisper_words, faster_whisper_words), strict=True)
)
ALIGNERS = (*RECOGNISERS, "pocketsphinx")


def align(
    aligner_name: str,
    audio: np.ndarray,
    sample_rate: int,
    transcript: str,
    settings: AlignerSettings | None = None,
) -> AlignerResult:
    """Recognised (or force-aligned) words with times for one utterance."""
    settings = settings or AlignerSettings()
    if aligner_name == ORACLE:
        raise AlignerError("the oracle reference is the manifest's exact word times, not an aligner of audio")
    if aligner_name not in ALIGNERS:
        raise AlignerError(f"unknown aligner {aligner_name!r}; known: {', '.join(ALIGNERS)}")
    samples = prepare_audio(audio, sample_rate)
    if aligner_name == "pocketsphinx":
        return pocketsphinx_result(samples, transcript)
    words, text = RECOGNISERS[aligner_name](samples, settings)
    return AlignerResult(aligner_name, tuple(w for w in words if w.text), text)
