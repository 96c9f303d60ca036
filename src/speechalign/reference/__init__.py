"""Reference word times for ALAS: Whisper word timestamps (whisper-timestamped by default; HF Whisper and
faster-whisper as alternatives), pocketsphinx forced alignment, or the exact synthesised times (oracle);
recognised words matched to transcript words; and each aligner's accuracy against exact times.

    >>> from speechalign.reference import align, match_words, read_reference     # doctest: +SKIP
"""

from speechalign.reference.aligners import ALIGNERS, ORACLE, AlignerResult, AlignerSettings, align
from speechalign.reference.audio import BadAudioError, prepare_audio
from speechalign.reference.build import ReferenceRecord, read_reference
from speechalign.reference.matching import ErrorCounts, MatchResult, TimedWord, match_words

__all__ = [
    "ALIGNERS",
    "ORACLE",
    "AlignerResult",
    "AlignerSettings",
    "BadAudioError",
    "ErrorCounts",
    "MatchResult",
    "ReferenceRecord",
    "TimedWord",
    "align",
    "match_words",
    "prepare_audio",
    "read_reference",
]
