"""Forced alignment of a known transcript with pocketsphinx (the en-us model and CMU dictionary ship in
the ``pocketsphinx`` wheel): word times for speech that comes without them (piper, real clips).

    >>> words = align_words(audio_16k, "the birch canoe slid on the smooth planks")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from speechalign.audio import resample
from speechalign.data.manifest import Word
from speechalign.errors import UserFacingError
from speechalign.text import normalise_token

ALIGN_RATE = 16000
FRAMES_PER_SECOND = 100  # pocketsphinx's frame rate
NO_PATH = "pocketsphinx found no alignment of the transcript to the audio"


class AlignmentError(UserFacingError):
    """The transcript cannot be aligned (out-of-dictionary words, or no path through the audio)."""


@functools.cache
def _decoder():
    """One decoder per process (loading the model per clip would cost more than aligning it), and its initial
    cepstral mean: pocketsphinx adapts the mean at the end of every utterance, so without a reset a clip's
    times would depend on which clips the same process aligned before (and a worker pool's scheduling)."""
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=ALIGN_RATE, loglevel="FATAL")
    return decoder, decoder.get_cmn()


def out_of_dictionary(tokens: list[str]) -> list[str]:
    decoder, _ = _decoder()
    return [t for t in tokens if decoder.lookup_word(t) is None]


def add_pronunciations(lexicon: Mapping[str, str]) -> None:
    """Teach the decoder words its dictionary lacks (``{"mak'st": "M EY K S T"}``, CMU phones, no stress).
    Words it already knows keep their own pronunciations."""
    decoder, _ = _decoder()
    for word, phones in lexicon.items():
        if decoder.lookup_word(word.lower()) is None:
            try:
                decoder.add_word(word.lower(), phones, True)
            except RuntimeError as err:
                raise AlignmentError(f"cannot add {word!r} /{phones}/ to the dictionary: {err}") from err


def pcm16(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """16 kHz 16-bit samples for the decoder; empty or non-finite audio is an AlignmentError."""
    if audio.size == 0:
        raise AlignmentError("empty audio: nothing to align")
    if not np.isfinite(audio).all():
        raise AlignmentError("audio contains NaN or infinity")
    return np.clip(resample(audio, sample_rate, ALIGN_RATE) * 32767, -32768, 32767).astype(np.int16)


def decode_segments(pcm: np.ndarray, text: str) -> list:
    """The decoder's word segments for ``text`` in ``pcm`` (silences and noise dropped).

    pocketsphinx signals "no path" in several ways: hyp() None, seg() None (iterating it raised TypeError
    before this was handled) or a RuntimeError. All become AlignmentError, and the utterance is always
    ended, so that a failure cannot leave the cached decoder mid-utterance for the next call."""
    decoder, initial_cmn = _decoder()
    try:
        decoder.set_cmn(initial_cmn)  # every clip starts from the same state: same clip, same times
        decoder.set_align_text(text)
        decoder.start_utt()
    except RuntimeError as err:
        raise AlignmentError(f"pocketsphinx cannot set up the alignment: {err}") from err
    try:
        decoder.process_raw(pcm.tobytes(), full_utt=True)
    finally:
        decoder.end_utt()
    if decoder.hyp() is None:
        raise AlignmentError(NO_PATH)
    segments = decoder.seg()
    if segments is None:
        raise AlignmentError(NO_PATH)
    return [s for s in segments if s.word not in ("<s>", "</s>", "<sil>", "[NOISE]")]


def align_words(
    audio: np.ndarray,
    transcript: str,
    sample_rate: int = ALIGN_RATE,
    lexicon: Mapping[str, str] | None = None,
) -> tuple[Word, ...]:
    """Word times of ``transcript`` in ``audio``, one Word per whitespace token (original spelling kept).

    ``lexicon`` adds pronunciations for words the dictionary lacks. Raises AlignmentError (never another
    error type) for empty or non-finite audio, an empty transcript, tokens the dictionary lacks (spell
    numbers out first) or when the decoder finds no alignment covering every word."""
    originals = [t for t in transcript.split() if normalise_token(t)]
    if not originals:
        raise AlignmentError("empty transcript")
    if lexicon:
        add_pronunciations(lexicon)
    parts = [dictionary_parts(normalise_token(t)) for t in originals]
    tokens = [p for word in parts for p in word]
    missing = out_of_dictionary(tokens)
    if missing:
        raise AlignmentError(f"words not in the pocketsphinx dictionary: {sorted(set(missing))}")
    segments = decode_segments(pcm16(audio, sample_rate), " ".join(tokens))
    if len(segments) != len(tokens):
        raise AlignmentError(f"aligned {len(segments)} of {len(tokens)} words")
    words, position = [], 0
    for original, word_parts in zip(originals, parts, strict=True):
        segs = segments[position : position + len(word_parts)]
        position += len(word_parts)
        for token, seg in zip(word_parts, segs, strict=True):
            if seg.word.split("(")[0] != token:
                raise AlignmentError(f"alignment out of step: expected {token!r}, got {seg.word!r}")
        # seg.end is the last frame of the word, inclusive; a hyphenated word spans its parts
        words.append(
            Word(
                original.strip("\"'.,;:!?()[]{}"),
                segs[0].start_frame / FRAMES_PER_SECOND,
                (segs[-1].end_frame + 1) / FRAMES_PER_SECOND,
            )
        )
    return tuple(words)


def dictionary_parts(token: str) -> list[str]:
    """``[token]``, or its hyphen-separated parts when the dictionary lacks the hyphenated word but knows
    every part (``seventy-one`` -> ``seventy``, ``one``): spelled-out numbers are hyphenated."""
    if "-" not in token or not out_of_dictionary([token]):
        return [token]
    pieces = [p for p in token.split("-") if p]
    return pieces if pieces and not out_of_dictionary(pieces) else [token]
