"""Offline speech synthesis with espeak-ng, with exact word and phoneme times.

The ``espeakng_loader`` wheel bundles libespeak-ng 1.52 and its data; we drive the C API through ctypes
in synchronous mode. The synth callback receives every audio chunk together with WORD and PHONEME events
that carry the exact sample index at which each starts, so word times are read from the synthesiser
itself rather than estimated.

    >>> from speechalign.data.espeak import synthesize
    >>> s = synthesize("Hello world.", voice="en-us+klatt4")     # doctest: +SKIP
    >>> [(w.text, round(w.start, 3), round(w.end, 3)) for w in s.words]  # doctest: +SKIP
    [('Hello', 0.012, 0.299), ('world', 0.305, 0.752)]

Timing convention (checked in tests against inserted silences): a word starts at its first non-pause
phoneme (the raw WORD event can fire ~40 ms before the sound) and ends where the phoneme after its last
non-pause phoneme starts.
"""

from __future__ import annotations

import _ctypes
import bisect
import contextlib
import ctypes
import functools
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechalign.data.manifest import Word
from speechalign.errors import UserFacingError

# espeak_AUDIO_OUTPUT / options / parameters / event types, from speak_lib.h (espeak-ng 1.52).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE, _PARAM_WORDGAP = 1, 2, 3, 4, 7
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7

_TOKEN = re.compile(r"\S+")
_OUTER_PUNCTUATION = "\"'.,;:!?()[]{}<>-_*/\\`~«»“”‘’"

# Female voices that use the Klatt synthesiser. espeak-ng ships +klatt..+klatt6 (all male-range) and
# formant-synthesis female variants (+f1..+f5), which pocketsphinx recognises far worse. These variants
# combine the two; they are written into a private overlay of the espeak data folder at first use.
CUSTOM_VARIANTS: dict[str, str] = {
    "sa-klatt-female1": "name sa-klatt-female1\ngender female\nklatt 4\npitch 170 250\n"
    "formant 0 105 80 150\nformant 1 115 80 150\nformant 2 130 75 150\nformant 3 120 80 150\n",
    "sa-klatt-female2": "name sa-klatt-female2\ngender female\nklatt 2\npitch 185 265\n"
    "formant 0 105 80 150\nformant 1 120 75 150\nformant 2 135 70 150\nformant 3 125 80 150\n",
    "sa-klatt-female3": "name sa-klatt-female3\ngender female\nklatt 6\npitch 160 235\n"
    "formant 0 100 80 150\nformant 1 112 80 150\nformant 2 125 75 150\nformant 3 118 80 150\n",
}


class SynthesisError(UserFacingError):
    """espeak-ng refused a voice or parameter, or its events could not be turned into word times."""


@dataclass(frozen=True)
class Phoneme:
    name: str  # espeak phoneme mnemonic, stress marks included ("'oU"); pauses start with "_"
    start: float
    end: float


@dataclass(frozen=True, eq=False)
class Synthesis:
    audio: np.ndarray  # (T,) float32 mono in [-1, 1]
    sample_rate: int
    words: tuple[Word, ...]
    phonemes: tuple[Phoneme, ...]
    text: str
    voice: str

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position of the word in the text
        ("length", ctypes.c_int),  # word length in characters
        ("audio_position", ctypes.c_int),  # milliseconds (rounded); we use ``sample`` instead
        ("sample", ctypes.c_int),  # exact sample index where the event takes effect
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

_SYNTH_ARGTYPES = [
    ctypes.c_void_p,  # text
    ctypes.c_size_t,  # size in bytes, terminator included
    ctypes.c_uint,  # position
    ctypes.c_int,  # position type
    ctypes.c_uint,  # end position
    ctypes.c_uint,  # flags
    ctypes.POINTER(ctypes.c_uint),  # unique identifier (out)
    ctypes.c_void_p,  # user data
]

# libespeak-ng keeps global state: one synthesis at a time per process.
_LOCK = threading.Lock()
_DIR: Path | None = None
_LIBC = ctypes.CDLL(None)


def _private_espeak_dir(base_data: Path, library: Path) -> Path:
    """A folder holding a private copy of the library and a mirror of espeak's data (symlinks) plus
    CUSTOM_VARIANTS; built once and reused. The name hashes the sources and the variants, so an edit
    to a variant builds a new folder."""
    key = str(base_data) + str(library) + repr(sorted(CUSTOM_VARIANTS.items()))
    root = Path(tempfile.gettempdir()) / f"speechalign-espeak-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (root / "espeak-ng-data").is_dir():
        return root
    staging = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    # A copy under our own name, so that dlclose really unloads it (nothing else holds this name).
    shutil.copyfile(library, staging / "libespeak-ng-private.so")
    data = staging / "espeak-ng-data"
    (data / "voices" / "!v").mkdir(parents=True)
    for entry in base_data.iterdir():
        if entry.name != "voices":
            (data / entry.name).symlink_to(entry)
    for entry in (base_data / "voices").iterdir():
        if entry.name != "!v":
            (data / "voices" / entry.name).symlink_to(entry)
    for entry in (base_data / "voices" / "!v").iterdir():
        (data / "voices" / "!v" / entry.name).symlink_to(entry)
    for name, body in CUSTOM_VARIANTS.items():
        (data / "voices" / "!v" / name).write_text("language variant\n" + body, encoding="utf-8")
    try:
        os.replace(staging, root)
    except OSError:  # another process built it first; theirs is identical
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _espeak_dir() -> Path:
    global _DIR
    if _DIR is None:
        import espeakng_loader

        _DIR = _private_espeak_dir(
            Path(espeakng_loader.get_data_path()), Path(espeakng_loader.get_library_path())
        )
    return _DIR


class _Collector:
    """Receives audio chunks and events from the synth callback."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, int, str]] = []

    def __call__(self, wav, n_samples, events) -> int:
        if wav and n_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            name = ev.id.string.decode("ascii", "replace") if ev.type == _EVENT_PHONEME else ""
            self.events.append((ev.type, ev.text_position, ev.length, ev.sample, name))
            i += 1
        return 0  # 0 = continue synthesis


@contextlib.contextmanager
def _fresh_library() -> Iterator[tuple[ctypes.CDLL, int, _Collector]]:
    """Load, initialise, and afterwards unload libespeak-ng.

    libespeak-ng keeps static state across calls that neither espeak_Terminate nor re-initialising
    resets (noise generators, pitch and phase state): the same text synthesised twice in a row gives
    different samples, and different lengths. Loading a fresh copy per call (about 8 ms) makes every
    synthesis a pure function of its arguments, whatever ran before it.
    """
    folder = _espeak_dir()
    lib = ctypes.CDLL(str(folder / "libespeak-ng-private.so"))
    collector = _Collector()
    callback = _CALLBACK(collector)  # keep a reference while the library may call it
    try:
        sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            str(folder / "espeak-ng-data").encode(),
            _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT,
        )
        if sample_rate <= 0:
            raise SynthesisError(f"espeak-ng failed to initialise with data at {folder}")
        lib.espeak_SetSynthCallback(callback)
        lib.espeak_Synth.argtypes = _SYNTH_ARGTYPES
        lib.espeak_ng_SetRandSeed(ctypes.c_long(0))
        _LIBC.srand(0)  # libespeak-ng also draws from libc's rand()
        yield lib, sample_rate, collector
    finally:
        lib.espeak_Terminate()
        _ctypes.dlclose(lib._handle)


def _set_parameter(lib: ctypes.CDLL, param: int, value: int, what: str) -> None:
    if lib.espeak_SetParameter(param, int(value), 0) != 0:
        raise SynthesisError(f"espeak-ng rejected {what}={value}")


def is_pause(phoneme: str) -> bool:
    return phoneme.startswith("_")


def spoken_tokens(text: str) -> list[tuple[int, int, str]]:
    """Whitespace tokens that hold a letter or digit: (first char, end char, word without outer
    punctuation). These are the words a Synthesis reports, one per token, in order."""
    tokens = []
    for match in _TOKEN.finditer(text):
        word = match.group().strip(_OUTER_PUNCTUATION)
        if any(c.isalnum() for c in word):
            tokens.append((match.start(), match.end(), word))
    return tokens


def _timed_units(
    events: list[tuple[int, int, int, int, str]],
    text: str,
    n_samples: int,
    sample_rate: int,
    phoneme_count: Callable[[str], int],
) -> tuple[tuple[Word, ...], tuple[Phoneme, ...]]:
    """Turn the event stream into words and phonemes with start/end seconds.

    A phoneme lasts until the next phoneme event (or the end of the audio). espeak's WORD events do not
    follow whitespace ("1990" gives two events, "twenty-one" and "don't" one that covers only a part), so
    each event is attributed to the whitespace token holding its first character, and a token owns the
    phonemes from its first event to the next token's. A word spans its first to its last non-pause phoneme.

    espeak also speaks some word pairs as one dictionary entry ("has been", "of the") with a single WORD
    event. The pair's phonemes are then split between its words at a phoneme boundary, in proportion to
    each word's phoneme count when spoken alone (``phoneme_count``); the split is exact whenever the
    counts add up, which they do unless the pair is reduced.
    """
    tokens = spoken_tokens(text)
    token_starts = [start for start, _, _ in tokens]
    phonemes: list[tuple[str, int]] = []  # (name, start sample)
    first_phoneme: dict[int, int] = {}  # token index -> index of its first phoneme
    for kind, text_position, _length, sample, name in events:
        if kind == _EVENT_WORD:
            token = bisect.bisect_right(token_starts, text_position - 1) - 1
            if token >= 0 and text_position - 1 < tokens[token][1]:
                first_phoneme.setdefault(token, len(phonemes))
        elif kind == _EVENT_PHONEME:
            phonemes.append((name, sample))
    bounds = [start for _, start in phonemes[1:]] + [n_samples]
    timed_phonemes = tuple(
        Phoneme(name, start / sample_rate, end / sample_rate)
        for (name, start), end in zip(phonemes, bounds, strict=True)
    )
    if tokens and 0 not in first_phoneme:
        raise SynthesisError(f"espeak-ng did not speak the first word {tokens[0][2]!r} of {text[:60]!r}")
    heads = sorted(first_phoneme)  # tokens that got a WORD event; others share their head's phonemes
    timed_words: list[Word] = []
    for k, head in enumerate(heads):
        group_end = heads[k + 1] if k + 1 < len(heads) else len(tokens)
        last = first_phoneme[group_end] if group_end < len(tokens) else len(phonemes)
        spoken = [p for p in timed_phonemes[first_phoneme[head] : last] if not is_pause(p.name)]
        group = [word for _, _, word in tokens[head:group_end]]
        if len(spoken) < len(group):
            raise SynthesisError(
                f"espeak-ng produced too few phonemes for {' '.join(group)!r} in {text[:60]!r}"
            )
        for word, (a, b) in zip(group, _split_points(group, len(spoken), phoneme_count), strict=True):
            timed_words.append(Word(word, spoken[a].start, spoken[b - 1].end))
    return tuple(timed_words), timed_phonemes


def _split_points(
    group: list[str], n_spoken: int, phoneme_count: Callable[[str], int]
) -> list[tuple[int, int]]:
    """(first, end) phoneme indices per word of a group spoken as one unit; each word gets >= 1."""
    if len(group) == 1:
        return [(0, n_spoken)]
    counts = [max(1, phoneme_count(word)) for word in group]
    total = sum(counts)
    cuts, running = [0], 0
    for i, c in enumerate(counts[:-1]):
        running += c
        cut = round(n_spoken * running / total)
        cuts.append(min(max(cut, cuts[-1] + 1), n_spoken - (len(group) - 1 - i)))
    cuts.append(n_spoken)
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def synthesize(
    text: str,
    voice: str = "en-us",
    rate: int = 175,
    pitch: int = 50,
    range_: int = 50,
    volume: int = 100,
    word_gap: int = 0,
) -> Synthesis:
    """Speak ``text`` with espeak-ng; return the audio and its exact word and phoneme times.

    ``voice``: a language, optionally with a variant (``en-us+klatt4``, ``en-us+sa-klatt-female1``);
    ``rate`` in words per minute (80-450); ``pitch`` and ``range_`` 0-100; ``volume`` 0-200;
    ``word_gap``: extra pause between words in units of 10 ms. Deterministic for equal arguments.
    """
    if not text.strip():
        raise SynthesisError("cannot synthesise an empty text")
    with _LOCK, _fresh_library() as (lib, sample_rate, collected):
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SynthesisError(f"espeak-ng has no voice {voice!r} (try 'en-us', 'en-us+klatt4')")
        _set_parameter(lib, _PARAM_RATE, rate, "rate")
        _set_parameter(lib, _PARAM_PITCH, pitch, "pitch")
        _set_parameter(lib, _PARAM_RANGE, range_, "range")
        _set_parameter(lib, _PARAM_VOLUME, volume, "volume")
        _set_parameter(lib, _PARAM_WORDGAP, word_gap, "word_gap")
        encoded = text.encode("utf-8")
        err = lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0 or lib.espeak_Synchronize() != 0:
            raise SynthesisError(f"espeak-ng failed to synthesise {text[:60]!r} (error {err})")
        chunks, events = collected.chunks, collected.events
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    settings = (voice, rate, pitch, range_, volume)
    words, phonemes = _timed_units(
        events, text, len(samples), sample_rate, lambda word: _isolated_phoneme_count(word, settings)
    )
    audio = (samples.astype(np.float32) / 32768.0).astype(np.float32)
    return Synthesis(audio, sample_rate, words, phonemes, text, voice)


@functools.lru_cache(maxsize=4096)
def _isolated_phoneme_count(word: str, settings: tuple[str, int, int, int, int]) -> int:
    """Non-pause phonemes espeak speaks for ``word`` alone, with the same voice and prosody."""
    voice, rate, pitch, range_, volume = settings
    s = synthesize(word, voice, rate=rate, pitch=pitch, range_=range_, volume=volume)
    return sum(1 for p in s.phonemes if not is_pause(p.name))


def available_variants() -> list[str]:
    """Names usable after ``en-us+``: espeak's shipped variants plus CUSTOM_VARIANTS."""
    return sorted(p.name for p in ((_espeak_dir() / "espeak-ng-data") / "voices" / "!v").iterdir())


def variant_gender(variant: str) -> str:
    """'female' or 'male' as the variant file declares it (espeak's default voice is male)."""
    path = (_espeak_dir() / "espeak-ng-data") / "voices" / "!v" / variant
    if not path.exists():
        raise SynthesisError(f"unknown espeak-ng variant {variant!r}")
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "gender":
            return "female" if parts[1].lower().startswith("f") else "male"
    return "male"
