"""The ALAS report functions on hand-made stage outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speechalign.data.manifest import Utterance, Word, write_manifest
from speechalign.report.alas import (
    agreement_table,
    alas_by_layer_figure,
    emotion_accuracy,
    heatmap_figure,
    layer_table,
    parse_emotion,
    plot_file,
    save_layer_plots,
)


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("Anger.", "angry"),
        ("The speaker sounds happy", "happy"),
        ("sadness", "sad"),
        ("NEUTRALITY", "neutral"),
        ("happy or sad, hard to say", None),  # two classes: wrong, not the first one
        ("I cannot tell.", None),
        ("", None),
        ("unhappy", None),  # whole words only
    ],
)
def test_parse_emotion(answer, label):
    assert parse_emotion(answer) == label


def summary(path, layers, kept=1, answered=2):
    entries = [
        {"layer": i, "utterances": 2, "alas_tokens": a, "alas_tokens_ci": [a - 0.1, a + 0.1],
         "uniform_tokens": 1.0, "calibrated_tokens": a, "alas_words": a / 2, "calibrated_words": a}
        for i, a in enumerate(layers)
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "responses": {"utterances": 3, "answered": answered, "kept": kept, "mean_similarity": 0.5,
                      "median_similarity": 0.5},
        "all": {"layers": entries}, "kept": {"layers": entries[:1]},
    }))  # fmt: skip
    return path


def test_layer_table_reads_model_and_corpus_from_the_path(tmp_path):
    a = summary(tmp_path / "alas" / "m1" / "sqa.json", [2.0, 1.5])
    b = summary(tmp_path / "alas" / "m2" / "sqa.json", [3.0, 0.5])
    table = layer_table([a, b])
    assert table[["model", "corpus", "layer"]].values.tolist() == [
        ["m1", "sqa", 0], ["m1", "sqa", 1], ["m2", "sqa", 0], ["m2", "sqa", 1]
    ]  # fmt: skip
    assert table["ci_high"].tolist() == pytest.approx([2.1, 1.6, 3.1, 0.6])
    assert len(layer_table([a], subset="kept")) == 1
    fig = alas_by_layer_figure(table)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 4  # two curves, two uniform lines


def test_layer_plots_are_one_flat_file_per_model_and_corpus(tmp_path):
    """DVC plot sources: one TSV per (model, corpus), layers in order, values exactly the summaries'."""
    a = summary(tmp_path / "alas" / "m1" / "sqa.json", [2.0, 1.5, 4.0])
    b = summary(tmp_path / "alas" / "m2" / "emo.json", [3.0])
    table = layer_table([a, b]).sample(frac=1, random_state=0)  # shuffled rows: the writer orders them
    paths = save_layer_plots(table, tmp_path / "plots")
    assert sorted(paths) == sorted(
        [plot_file(tmp_path / "plots", "m1", "sqa"), plot_file(tmp_path / "plots", "m2", "emo")]
    )
    m1 = pd.read_csv(plot_file(tmp_path / "plots", "m1", "sqa"), sep="\t")
    assert m1.columns.tolist() == ["layer", "alas_tokens", "ci_low", "ci_high", "uniform_tokens"]
    assert m1["layer"].tolist() == [0, 1, 2]
    assert m1["alas_tokens"].tolist() == [2.0, 1.5, 4.0]
    assert m1["ci_low"].tolist() == pytest.approx([1.9, 1.4, 3.9])


def test_agreement_table(tmp_path):
    table = agreement_table([summary(tmp_path / "m" / "sqa.json", [1.0], kept=1, answered=4)])
    assert table.loc[0, "kept_share"] == 0.25 and table.loc[0, "model"] == "m"


def test_heatmap_draws_reference_and_mas_on_every_figure_layer(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "ex.npz"
    np.savez(path, **{
        "u1/layers": np.array([0, 2]), "u1/similarity": rng.random((2, 6, 3)).astype(np.float16),
        "u1/paths": np.array([[0, 0, 1, 1, 2, 2]] * 3), "u1/reference_tokens": np.array([0, 1, 1, 1, 2, 2]),
        "u1/uniform": np.array([0, 0, 1, 1, 2, 2]),
    })  # fmt: skip
    fig = heatmap_figure(path)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("layer")]
    assert [ax.get_title() for ax in panels] == ["layer 0", "layer 2"]
    assert all(len(ax.lines) == 2 for ax in panels)
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(ValueError, match="no example utterances"):
        heatmap_figure(tmp_path / "empty.npz")


def test_emotion_accuracy_counts_unparsed_as_wrong(tmp_path):
    audio = tmp_path / "a.flac"
    sf.write(audio, np.full(16000, 0.01, dtype=np.float32), 16000)
    utts = [
        Utterance(id=f"u{i}", audio_path=str(audio), sample_rate=16000, num_samples=16000, text="a word",
                  speaker="s", split="test", source="t", words=(Word("a", 0.1, 0.2), Word("word", 0.2, 0.5)),
                  emotion=emotion)
        for i, emotion in enumerate(["sad", "happy", "angry"])
    ]  # fmt: skip
    write_manifest(tmp_path / "corpus", utts)
    responses = pd.DataFrame({
        "utterance": ["u0", "u1", "u2", "u3"], "status": ["ok", "ok", "ok", "rejected"],
        "audio_response": ["Sadness.", "anger", "no idea", None], "text_response": ["neutral"] * 3 + [None],
    })  # fmt: skip
    responses.to_parquet(tmp_path / "r.parquet")
    counts = emotion_accuracy(tmp_path / "r.parquet", tmp_path / "corpus")
    assert counts == {
        "answered": 3, "audio_correct": 1, "audio_unparsed": 1, "audio_accuracy": pytest.approx(1 / 3),
        "text_correct": 0, "text_unparsed": 0, "text_accuracy": 0.0,
    }  # fmt: skip
