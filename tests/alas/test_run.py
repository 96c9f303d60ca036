"""`speechalign alas run` and its Python API (speechalign.alas.run) on a tiny random speech LLM; once end to
end with the real models, the real aligner and synthesised speech (``models``)."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
import soundfile as sf
import tiny_models

from speechalign.alas import run as R
from speechalign.metrics.alas import pooled_alas


def test_docstring_example_runs():
    outcome = doctest.testmod(R)
    assert outcome.attempted > 0 and outcome.failed == 0


def even_times(text: str, seconds: float):
    words = text.rstrip(".").split()
    edges = np.linspace(0.05, seconds - 0.05, len(words) + 1)
    return np.stack([edges[:-1], edges[1:]], axis=1), words


@pytest.fixture(scope="module")
def two_runs(tiny_composed):
    texts = ["Hello world again.", "The cat sat on the mat."]
    waves = [tiny_models.tone(1.2), tiny_models.tone(2.0)]
    times = [even_times(texts[0], 1.2), even_times(texts[1], 2.0)]
    run = R.alas_run(
        tiny_composed,
        waves + [tiny_models.tone(1.0)],
        texts + ["   "],
        word_times=times + [None],
        normalisations=["cosine", "corpus-centred"],
        ids=["a", "b", "blank"],
        components=2,
    )
    return run


def test_pooled_layers_are_ratios_of_sums_over_recordings(two_runs):
    a, b = two_runs.utterances
    rows = np.array([a.results["cosine"].n_audio, b.results["cosine"].n_audio], dtype=np.float64)
    layer = 2
    expected = pooled_alas(
        np.array([a.results["cosine"].scores.tokens[layer], b.results["cosine"].scores.tokens[layer]]), rows
    )[0]
    assert two_runs.layers["cosine"][layer]["alas_tokens"] == pytest.approx(expected)
    assert rows[0] != rows[1]  # unequal lengths: a mean of means would differ


def test_a_fitted_normalisation_is_fitted_on_the_recordings(two_runs):
    a = two_runs.utterances[0]
    assert a.results["corpus-centred"].normalisation == "corpus-centred"
    assert not np.allclose(a.similarity["corpus-centred"], a.similarity["cosine"])


def test_a_recording_the_backend_cannot_take_is_rejected_with_its_reason(two_runs):
    assert [u.id for u in two_runs.utterances] == ["a", "b"]
    (rejected,) = two_runs.rejected
    assert rejected["utterance"] == "blank" and "empty transcript" in rejected["reason"]


def test_unknown_normalisation_is_refused(tiny_composed):
    with pytest.raises(ValueError, match="unknown normalisations"):
        R.alas_run(tiny_composed, [], [], normalisations=["cosin"])


def test_model_spec_resolves_names_checkpoints_and_other_models(tmp_path):
    from speechalign.backends.checkpoint import CONFIG_FILE
    from speechalign.params import load_params

    backends = load_params(".")["backends"]
    assert R.model_spec(backends, "composed-untrained")["kind"] == "composed"
    assert R.model_spec(backends, "Qwen/Qwen2-Audio-7B-Instruct") == {
        "kind": "qwen2-audio",
        "model": "Qwen/Qwen2-Audio-7B-Instruct",
        "system_prompt": backends["system_prompt"],
        "layout": backends["layout"],
    }
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    config = {
        "llm": "smollm2-135m-instruct",
        "encoder": "whisper-base",
        "paralinguistic_layer": None,
        "encoder_dim": 512,
        "llm_dim": 576,
        "projector_hidden": 8,
        "stack": 4,
        "layout": "{speech} {task}",
    }
    (checkpoint / CONFIG_FILE).write_text(json.dumps(config))
    spec = R.model_spec(backends, str(checkpoint))
    assert (spec["kind"], spec["projector"], spec["layout"]) == (
        "composed",
        str(checkpoint),
        "{speech} {task}",
    )


def test_cli_on_a_folder_of_wav_and_txt(tmp_path, monkeypatch, tiny_composed):
    """The command end to end (backend and aligner stubbed: a tiny model, evenly spread word times)."""
    from speechalign import backends
    from speechalign.cli import main

    clips = tmp_path / "clips"
    clips.mkdir()
    for name, text, seconds in [("one", "Good morning to you.", 1.5), ("two", "It is raining today.", 1.8)]:
        sf.write(clips / f"{name}.wav", tiny_models.tone(seconds), 16000)
        (clips / f"{name}.txt").write_text(text + "\n")
    monkeypatch.setattr(backends, "load_backend", lambda spec, seed: tiny_composed)
    monkeypatch.setattr(
        R, "aligned_words", lambda wave, rate, text, aligner, settings: even_times(text, len(wave) / rate)
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "alas",
                "run",
                "--model",
                "composed-untrained",
                "--audio",
                str(clips),
                "--out",
                str(out),
                "--normalisation",
                "cosine",
                "--normalisation",
                "centred",
            ]
        )
        == 0
    )
    result = json.loads((out / "alas.json").read_text())
    assert [u["id"] for u in result["utterances"]] == ["one", "two"]
    assert set(result["layers"]) == {"cosine", "centred"} and result["aligner"] == "whisper-timestamped"
    assert len(result["layers"]["cosine"]) == tiny_composed.num_hidden_states
    assert result["utterances"][0]["words"][0]["text"] == "Good"
    pngs = sorted(p.name for p in (out / "heatmaps").glob("*.png"))
    assert pngs == ["one.centred.png", "one.cosine.png", "two.centred.png", "two.cosine.png"]


def test_cli_needs_one_transcript_per_file(tmp_path, capsys):
    from speechalign.cli import main

    wav = tmp_path / "a.wav"
    sf.write(wav, tiny_models.tone(1.0), 16000)
    assert (
        main(["alas", "run", "--model", "composed-untrained", "--audio", str(wav), "--out", str(tmp_path)])
        == 2
    )
    assert "1 --audio files but 0 --text transcripts" in capsys.readouterr().err


@pytest.mark.models
def test_real_model_real_aligner_on_synthesised_speech(tmp_path, provisioned):
    """whisper-timestamped word times, the untrained composed model (Whisper + SmolLM2), raw and centred."""
    from speechalign.audio import resample
    from speechalign.cli import main
    from speechalign.data.espeak import synthesize

    provisioned("whisper-base"), provisioned("smollm2-135m-instruct")
    text = "Mary Smith is forty-two years old and she works as a nurse in Boston."
    speech = synthesize(text, "en-us+klatt4")
    sf.write(tmp_path / "mary.wav", resample(speech.audio, speech.sample_rate, 16000), 16000)
    out = tmp_path / "out"
    assert (
        main(
            [
                "alas",
                "run",
                "--model",
                "composed-untrained",
                "--audio",
                str(tmp_path / "mary.wav"),
                "--text",
                text,
                "--out",
                str(out),
                "--normalisation",
                "cosine",
                "--normalisation",
                "centred",
            ]
        )
        == 0
    )
    result = json.loads((out / "alas.json").read_text())
    (utt,) = result["utterances"]
    starts = [w["start"] for w in utt["words"]]
    exact = [w.start for w in speech.words]
    assert (
        len(starts) == len(exact) and np.mean(np.abs(np.array(starts) - exact)) < 0.3
    )  # the aligner heard it
    assert all(np.isfinite(e["alas_tokens"]) for e in result["layers"]["centred"])
