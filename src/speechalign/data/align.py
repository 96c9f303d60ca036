"""Forced alignment of a known transcript with pocketsphinx (the en-us model and CMU dictionary ship in
the ``pocketsphinx`` wheel): word times for speech that comes without them (piper, real clips).

    >>> words = align_words(audio_16k, "the birch canoe slid on the smooth planks")  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import numpy as np

from speechalign.data.manifest import Word
from speechalign.data.text import normalise_token
from speechalign.errors import UserFacingError

ALIGN_RATE = 16000
FRAMES_PER_SECOND = 100  # pocketsphinx's frame rate


class AlignmentError(UserFacingError):
    """The transcript cannot be aligned (out-of-dictionary words, or no path through the audio)."""


@functools.cache
def _decoder():
    from pocketsphinx import Decoder

    return Decoder(samprate=ALIGN_RATE, loglevel="FATAL")


def resample(audio: np.ndarray, rate: int, target: int = ALIGN_RATE) -> np.ndarray:
    """Polyphase resampling (exact rational ratio), float32 in, float32 out."""
    if rate == target:
        return audio.astype(np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(audio, target // g, rate // g).astype(np.float32)


def out_of_dictionary(tokens: list[str]) -> list[str]:
    decoder = _decoder()
    return [t for t in tokens if decoder.lookup_word(t) is None]


def align_words(audio: np.ndarray, transcript: str, sample_rate: int = ALIGN_RATE) -> tuple[Word, ...]:
    """Word times of ``transcript`` in ``audio``, one Word per whitespace token (original spelling kept).

    Raises AlignmentError for tokens the dictionary lacks (spell numbers out first) or when the
    decoder finds no alignment covering every word."""
    originals = [t for t in transcript.split() if normalise_token(t)]
    tokens = [normalise_token(t) for t in originals]
    if not tokens:
        raise AlignmentError("empty transcript")
    missing = out_of_dictionary(tokens)
    if missing:
        raise AlignmentError(f"words not in the pocketsphinx dictionary: {sorted(set(missing))}")
    pcm = np.clip(resample(audio, sample_rate) * 32767, -32768, 32767).astype(np.int16)
    decoder = _decoder()
    decoder.set_align_text(" ".join(tokens))
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    if decoder.hyp() is None:
        raise AlignmentError("pocketsphinx found no alignment of the transcript to the audio")
    segments = [s for s in (decoder.seg() or []) if s.word not in ("<s>", "</s>", "<sil>", "[NOISE]")]
    if len(segments) != len(tokens):
        raise AlignmentError(f"aligned {len(segments)} of {len(tokens)} words")
    words = []
    for original, token, seg in zip(originals, tokens, segments, strict=True):
        if seg.word.split("(")[0] != token:
            raise AlignmentError(f"alignment out of step: expected {token!r}, got {seg.word!r}")
        # seg.end is the last frame of the word, inclusive
        words.append(
            Word(
                original.strip("\"'.,;:!?()[]{}"),
                seg.start_frame / FRAMES_PER_SECOND,
                (seg.end_frame + 1) / FRAMES_PER_SECOND,
            )
        )
    return tuple(words)
