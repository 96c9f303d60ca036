"""The download stage end to end through `speechalign download`, against a local HTTP server, in each
corpus's layout; and the real corpora.lock.yaml."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
import soundfile as sf
import yaml
from archives import corrupt_tar, librispeech_tar, traversal_tar, tree

from speechalign.cli import main
from speechalign.download.lock import read_lock
from speechalign.params import load_params

ROOT = Path(__file__).resolve().parents[2]


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def write_lock(path: Path, corpora: dict) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "corpora": corpora}))
    return path


def entry(kind: str = "files", **extra) -> dict:
    return {
        "licence": "CC BY 4.0",
        "homepage": "https://example.org",
        "approx_size": "1 MB",
        "kind": kind,
        **extra,
    }


def params(**overrides) -> str:
    cfg = load_params(ROOT, {"profile": "quick"})["download"]
    cfg.update(connect_timeout_s=1, read_timeout_s=2, retries=0, **overrides)
    return json.dumps(cfg)


def run_stage(tmp_path: Path, lock: Path, name: str, **overrides) -> int:
    out = tmp_path / "raw" / name / "DOWNLOADED.json"
    argv = ["download", "corpus", "--name", name, "--lock", str(lock), "--out", str(out)]
    argv += ["--cache", str(tmp_path / "cache"), "--download-params", params(**overrides)]
    return main(argv)


def marker(tmp_path: Path, name: str) -> dict:
    return json.loads((tmp_path / "raw" / name / "DOWNLOADED.json").read_text())


@pytest.fixture
def librispeech_lock(http_server, tmp_path):
    dev, test = librispeech_tar("dev-clean"), librispeech_tar("test-clean", speaker="1089")
    files = [
        {
            "subset": s,
            "path": f"{s}.tar.gz",
            "extract": True,
            "size": len(d),
            "checksum": md5(d),
            "url": http_server.serve(f"/12/{s}.tar.gz", d),
        }
        for s, d in (("dev-clean", dev), ("test-clean", test))
    ]
    return write_lock(tmp_path / "lock.yaml", {"librispeech": entry(files=files)})


def test_librispeech_lands_in_the_openslr_layout_with_a_marker(tmp_path, librispeech_lock):
    assert run_stage(tmp_path, librispeech_lock, "librispeech") == 0
    root = tmp_path / "raw" / "librispeech" / "LibriSpeech"
    for subset, speaker in (("dev-clean", "84"), ("test-clean", "1089")):
        chapter = root / subset / speaker / "121123"
        lines = (chapter / f"{speaker}-121123.trans.txt").read_text().splitlines()
        utt_id, text = lines[0].split(" ", 1)
        audio, rate = sf.read(chapter / f"{utt_id}.flac")
        assert rate == 16000 and len(audio) == 3200 and text == "GO DO YOU HEAR"
    record = marker(tmp_path, "librispeech")
    assert [f["pinned"] for f in record["files"]] == [True, True] and record["unpinned"] == []
    assert record["files"][0]["extracted"] == ["LibriSpeech"]  # first subset: one rename
    assert "LibriSpeech/test-clean" in record["files"][1]["extracted"]  # second: merged into it
    assert not list((tmp_path / "cache").rglob("*.tar.gz"))  # archives dropped once unpacked


def test_the_data_stage_loader_reads_what_the_download_stage_wrote(tmp_path, librispeech_lock):
    """Download -> data: the LibriSpeech loader takes the downloaded folder as it lies (paper profile:
    data.real.librispeech = data/raw/librispeech/LibriSpeech)."""
    from speechalign.data.loaders import load_items
    from speechalign.params import load_params

    assert run_stage(tmp_path, librispeech_lock, "librispeech") == 0
    params = load_params(Path(__file__).resolve().parents[2])["data"]
    kept, rejected = load_items("librispeech", tmp_path / "raw" / "librispeech" / "LibriSpeech", params)
    assert rejected == []
    assert {u.source for u in kept} == {"librispeech:dev-clean", "librispeech:test-clean"}
    assert "GO DO YOU HEAR" in {u.text for u in kept} and all(u.num_samples == 3200 for u in kept)


def test_subset_selection_fetches_only_those(tmp_path, librispeech_lock, http_server):
    assert run_stage(tmp_path, librispeech_lock, "librispeech", librispeech_subsets=["test-clean"]) == 0
    assert {p for p, _ in http_server.requests} == {"/12/test-clean.tar.gz"}
    assert not (tmp_path / "raw" / "librispeech" / "LibriSpeech" / "dev-clean").exists()


def test_rerun_after_a_failure_skips_what_is_done(tmp_path, http_server):
    good = librispeech_tar("dev-clean")
    files = [
        {
            "subset": "dev-clean",
            "path": "dev-clean.tar.gz",
            "extract": True,
            "checksum": md5(good),
            "url": http_server.serve("/dev.tar.gz", good),
        },
        {
            "subset": "test-clean",
            "path": "test-clean.tar.gz",
            "extract": True,
            "checksum": md5(b"x"),
            "url": http_server.serve("/test.tar.gz", b"not this"),
        },
    ]
    lock = write_lock(tmp_path / "lock.yaml", {"librispeech": entry(files=files)})
    assert run_stage(tmp_path, lock, "librispeech") == 2  # test-clean fails its checksum
    assert not (tmp_path / "raw" / "librispeech" / "DOWNLOADED.json").exists()
    http_server.routes["/test.tar.gz"].body = b"x"  # "fixed upstream"; a plain file, not an archive
    files[1]["extract"] = False
    write_lock(lock, {"librispeech": entry(files=files)})
    assert run_stage(tmp_path, lock, "librispeech") == 0
    assert [p for p, _ in http_server.requests].count("/dev.tar.gz") == 1


@pytest.mark.parametrize("archive, message", [(corrupt_tar, "corrupt"), (traversal_tar, "path traversal")])
def test_bad_archive_stops_the_stage_and_leaves_no_data(tmp_path, http_server, capsys, archive, message):
    data = archive()
    files = [
        {
            "subset": "dev-clean",
            "path": "dev-clean.tar.gz",
            "extract": True,
            "checksum": md5(data),
            "url": http_server.serve("/bad.tar.gz", data),
        }
    ]
    lock = write_lock(tmp_path / "lock.yaml", {"librispeech": entry(files=files)})
    assert run_stage(tmp_path, lock, "librispeech", librispeech_subsets=["dev-clean"]) == 2
    assert message in capsys.readouterr().err
    assert tree(tmp_path / "raw" / "librispeech") == set()  # no marker, no stamp, no partial extraction
    assert not list((tmp_path / "cache").rglob("*.tar.gz"))  # a rerun fetches it afresh
    assert not (tmp_path / "raw" / "escaped.txt").exists()


def test_checksum_mismatch_through_the_cli_is_one_clear_line(tmp_path, http_server, capsys):
    files = [{"path": "a.json", "checksum": md5(b"expected"), "url": http_server.serve("/a.json", b"other")}]
    lock = write_lock(tmp_path / "lock.yaml", {"librisqa": entry(files=files)})
    assert run_stage(tmp_path, lock, "librisqa") == 2
    err = capsys.readouterr().err
    assert "speechalign download: error:" in err and "md5 mismatch" in err
    assert tree(tmp_path / "raw" / "librisqa") == set()


def test_unpinned_files_and_a_listing_record_observed_sha256_loudly(tmp_path, http_server, caplog):
    csv = b"Stimulus_Number,Filename\n1,1001_DFA_ANG_XX\n2,1001_IEO_HAP_HI\n"
    wav = {name: f"RIFF-{name}".encode() for name in ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI")}
    for name, data in wav.items():
        http_server.serve(f"/AudioWAV/{name}.wav", data)
    cremad = entry(
        files=[{"path": "SentenceFilenames.csv", "checksum": None, "url": http_server.serve("/s.csv", csv)}],
        listing={
            "from": "SentenceFilenames.csv",
            "url": http_server.base + "/AudioWAV/{Filename}.wav",
            "path": "AudioWAV/{Filename}.wav",
        },
    )
    lock = write_lock(tmp_path / "lock.yaml", {"cremad": cremad})
    assert run_stage(tmp_path, lock, "cremad") == 0
    root = tmp_path / "raw" / "cremad"
    assert (root / "AudioWAV" / "1001_IEO_HAP_HI.wav").read_bytes() == wav["1001_IEO_HAP_HI"]
    record = marker(tmp_path, "cremad")
    assert record["files"][0]["sha256_observed"] == hashlib.sha256(csv).hexdigest()
    assert record["unpinned"] == ["SentenceFilenames.csv", "2 files listed in SentenceFilenames.csv"]
    assert (
        record["listing"]["sha256_observed"]["AudioWAV/1001_DFA_ANG_XX.wav"]
        == hashlib.sha256(wav["1001_DFA_ANG_XX"]).hexdigest()
    )
    assert "UNPINNED" in caplog.text


def test_listing_field_missing_names_the_field(tmp_path, http_server, capsys):
    meta = json.dumps([{"path": "a.wav", "task_name": "Speaker_Gender"}]).encode()
    airbench = entry(
        files=[{"path": "meta.json", "checksum": None, "url": http_server.serve("/meta.json", meta)}],
        listing={
            "from": "meta.json",
            "url": http_server.base + "/{task_name}_{dataset_name}/{path}",
            "path": "{task_name}_{dataset_name}/{path}",
        },
    )
    lock = write_lock(tmp_path / "lock.yaml", {"airbench": airbench})
    assert run_stage(tmp_path, lock, "airbench") == 2
    assert "no field 'dataset_name'" in capsys.readouterr().err


def test_unreachable_host_fails_fast_before_any_transfer(tmp_path, closed_port_url, capsys):
    files = [
        {
            "subset": "dev-clean",
            "path": "x.tar.gz",
            "extract": True,
            "checksum": md5(b"x"),
            "url": closed_port_url,
        }
    ]
    lock = write_lock(tmp_path / "lock.yaml", {"librispeech": entry(files=files)})
    assert run_stage(tmp_path, lock, "librispeech", librispeech_subsets=["dev-clean"]) == 2
    assert "cannot connect to 127.0.0.1" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def make_iemocap(folder: Path) -> None:
    for i in range(1, 6):
        session = folder / f"Session{i}"
        (session / "sentences" / "wav" / f"Ses0{i}F_impro01").mkdir(parents=True)
        (session / "sentences" / "wav" / f"Ses0{i}F_impro01" / f"Ses0{i}F_impro01_F000.wav").write_bytes(b"R")
        (session / "dialog" / "EmoEvaluation").mkdir(parents=True)
        (session / "dialog" / "transcriptions").mkdir(parents=True)


def test_iemocap_missing_says_where_to_request_and_where_to_put_it(tmp_path, capsys):
    lock = write_lock(
        tmp_path / "lock.yaml", {"iemocap": entry("local", homepage="https://sail.usc.edu/iemocap/")}
    )
    assert run_stage(tmp_path, lock, "iemocap", iemocap_path=str(tmp_path / "nowhere")) == 2
    err = capsys.readouterr().err
    assert "https://sail.usc.edu/iemocap/" in err and "IEMOCAP_full_release" in err and "iemocap_path" in err
    assert not (tmp_path / "raw" / "iemocap" / "DOWNLOADED.json").exists()


def test_iemocap_local_copy_is_registered_in_the_standard_place(tmp_path):
    copy = tmp_path / "licensed" / "IEMOCAP_full_release"
    make_iemocap(copy)
    lock = write_lock(tmp_path / "lock.yaml", {"iemocap": entry("local")})
    assert run_stage(tmp_path, lock, "iemocap", iemocap_path=str(copy)) == 0
    standard = tmp_path / "raw" / "iemocap" / "IEMOCAP_full_release"
    assert (
        standard / "Session3" / "sentences" / "wav" / "Ses03F_impro01" / "Ses03F_impro01_F000.wav"
    ).is_file()
    assert marker(tmp_path, "iemocap")["wav_files"]["Session5"] == 1


def test_commonvoice_needs_an_archive_and_unpacks_a_local_one(tmp_path, capsys):
    lock = write_lock(tmp_path / "lock.yaml", {"commonvoice": entry("user-archive")})
    assert run_stage(tmp_path, lock, "commonvoice") == 2
    assert "download.commonvoice_archive" in capsys.readouterr().err
    archive = tmp_path / "cv-corpus-1.0-en.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("cv-corpus-1.0/en/validated.tsv", "cv-corpus-1.0/en/clips/a.mp3"):
            src = tmp_path / "member"
            src.write_bytes(b"client_id\tpath\tsentence\n" if name.endswith("tsv") else b"ID3")
            tar.add(src, arcname=name)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (
        run_stage(tmp_path, lock, "commonvoice", commonvoice_archive=str(archive), commonvoice_sha256=sha)
        == 0
    )
    assert (tmp_path / "raw" / "commonvoice" / "cv-corpus-1.0" / "en" / "clips" / "a.mp3").is_file()
    assert marker(tmp_path, "commonvoice")["unpinned"] == []


def test_index_summarises_the_markers(tmp_path, librispeech_lock):
    run_stage(tmp_path, librispeech_lock, "librispeech")
    out = tmp_path / "raw" / "corpora.json"
    assert (
        main(["download", "index", "--out", str(out), str(tmp_path / "raw/librispeech/DOWNLOADED.json")]) == 0
    )
    assert json.loads(out.read_text())["corpora"]["librispeech"]["licence"] == "CC BY 4.0"
    assert main(["download", "index", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == {"corpora": {}}


PUBLISHED_MD5 = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}


def test_the_real_lock_pins_librispeech_and_marks_the_rest_unpinned():
    lock = read_lock(ROOT / "corpora.lock.yaml")
    libri = {f.subset: f for f in lock["librispeech"].files}
    assert {s: f.checksum for s, f in libri.items()} == {s: f"md5:{m}" for s, m in PUBLISHED_MD5.items()}
    assert libri["dev-clean"].size == 337926286 and libri["train-clean-100"].size == 6387309499
    assert all(f.url == f"https://www.openslr.org/resources/12/{s}.tar.gz" for s, f in libri.items())
    for name in ("librisqa", "cremad", "voicebench", "airbench"):
        assert all(f.checksum is None for f in lock[name].files), name
        assert "UNPINNED" in lock[name].note, name
    assert lock["iemocap"].kind == "local" and lock["iemocap"].homepage == "https://sail.usc.edu/iemocap/"
    assert lock["commonvoice"].kind == "user-archive"


def test_every_subset_in_the_schema_is_in_the_lock():
    schema = yaml.safe_load((ROOT / "workflow/schemas/params.schema.yaml").read_text())
    props = schema["properties"]["download"]["properties"]
    lock = read_lock(ROOT / "corpora.lock.yaml")
    assert set(props["librispeech_subsets"]["items"]["enum"]) == {f.subset for f in lock["librispeech"].files}
    assert set(props["voicebench_subsets"]["items"]["enum"]) == {f.subset for f in lock["voicebench"].files}
    assert set(props["corpora"]["items"]["enum"]) == set(lock)
