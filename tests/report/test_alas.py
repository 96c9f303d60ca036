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
    reported_layers,
    ruler_placements,
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


def layer_entries(values):
    return [
        {"layer": i, "utterances": 2, "alas_tokens": a, "alas_tokens_ci": [a - 0.1, a + 0.1],
         "alas_tokens_mean": a + 0.05, "uniform_tokens": 1.0, "calibrated_tokens": a, "alas_words": a / 2,
         "calibrated_words": a, "hub_share": 0.2, "k_skewness": 1.0}
        for i, a in enumerate(values)
    ]  # fmt: skip


def summary(path, layers, kept=1, answered=2, headline="centred"):
    """A stage summary: the headline normalisation's layers, and raw cosine's at twice the values."""
    by_normalisation = {
        name: {"all": {"layers": layer_entries(values)}, "kept": {"layers": layer_entries(values)[:1]}}
        for name, values in ((headline, layers), ("cosine", [2 * v for v in layers]))
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "responses": {"utterances": 3, "answered": answered, "kept": kept, "mean_similarity": 0.5,
                      "median_similarity": 0.5},
        "normalisation": headline, "by_normalisation": by_normalisation, **by_normalisation[headline],
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
    assert set(table["normalisation"]) == {"centred"}  # the headline by default
    assert layer_table([a], normalisation="cosine")["alas_tokens"].tolist() == [4.0, 3.0]
    assert len(layer_table([a], subset="kept")) == 1


def test_figure_3_draws_kept_and_all_pairs_per_normalisation_with_the_aligned_model_as_reference(tmp_path):
    paths = [summary(tmp_path / "alas" / m / "sqa.json", [2.0, 1.5]) for m in ("m1", "composed-aligned")]
    table = reported_layers(paths)
    assert sorted(set(zip(table["normalisation"], table["pairs"], strict=True))) == [
        ("centred", "all"), ("centred", "kept"), ("cosine", "all"), ("cosine", "kept")
    ]  # fmt: skip
    fig = alas_by_layer_figure(table)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "sqa, centred: SBERT-kept pairs", "sqa, centred: all pairs",
        "sqa, cosine: SBERT-kept pairs", "sqa, cosine: all pairs",
    ]  # fmt: skip
    for ax in fig.axes:  # kept and all pairs: m1 and its uniform path; the aligned model, over all its pairs
        lines = ax.get_lines()
        assert len(lines) == 3 and [line.get_linestyle() for line in lines].count("-.") == 1


def test_figure_3_gives_a_model_one_colour_in_every_panel(tmp_path):
    """A panel without some model (no SBERT-kept pair of m1) must not shift the others' colours."""
    paths = [summary(tmp_path / "alas" / m / "sqa.json", [2.0, 1.5]) for m in ("m1", "m2")]
    table = reported_layers(paths)
    table = table[~((table["model"] == "m1") & (table["pairs"] == "kept"))]
    fig = alas_by_layer_figure(table)

    def colour_of(ax, model):
        (line,) = [line for line in ax.get_lines() if line.get_label().startswith(model)]
        return line.get_color()

    kept, every = fig.axes[:2]
    assert colour_of(kept, "m2") == colour_of(every, "m2") != colour_of(every, "m1")


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


def test_heatmaps_raw_and_selected_normalisation_side_by_side_with_both_paths(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "ex.npz"
    arrays = {"u1/layers": np.array([0, 2]), "u1/reference_tokens": np.array([0, 1, 1, 1, 2, 2]),
              "u1/uniform": np.array([0, 0, 1, 1, 2, 2])}  # fmt: skip
    for name in ("cosine", "pc-removed"):
        arrays[f"u1/{name}/similarity"] = rng.random((2, 6, 3)).astype(np.float16)
        arrays[f"u1/{name}/paths"] = np.array([[0, 0, 1, 1, 2, 2]] * 3)
    np.savez(path, **arrays)
    fig = heatmap_figure(path, order=["pc-removed", "cosine"])
    panels = [ax for ax in fig.axes if "layer" in ax.get_title()]
    assert [ax.get_title() for ax in panels] == [
        "pc-removed, layer 0", "pc-removed, layer 2", "cosine, layer 0", "cosine, layer 2"
    ]  # fmt: skip
    assert all(len(ax.lines) == 2 for ax in panels)  # reference and MAS
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(ValueError, match="no example utterances"):
        heatmap_figure(tmp_path / "empty.npz")


def test_ruler_placements_name_each_model_with_its_step(tmp_path):
    place = {"alas_tokens_layer": 2.0, "step_layer": 0.4, "alas_tokens_mean_over_layers": 3.0,
             "step_mean_over_layers": 0.5}  # fmt: skip
    ruler = {"layer": 0, "steps": [], "spearman_layer": 1.0, "spearman_mean_over_layers": 0.9,
             "placements": {"audio": place, "placed:m2": place}}  # fmt: skip
    path = tmp_path / "test.json"
    path.write_text(json.dumps({"corpus": "sqa", "model": "m1", "ruler": {"pc-removed": ruler}}))
    table = ruler_placements([path])
    assert table["model"].tolist() == ["m1", "m2"] and table["step_layer"].tolist() == [0.4, 0.4]
    assert table["ruler_rho_layer"].tolist() == [1.0, 1.0]


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


def test_layer_trend_pairs_late_and_early_blocks_per_utterance(tmp_path):
    from speechalign.report.alas import layer_trend

    # 8 blocks: early quarter = blocks 1-2, late quarter = 7-8; layer 0 (embeddings) is left out
    rows = []
    for u, offset in enumerate([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]):
        for layer in range(9):
            value = 100.0 if layer == 0 else offset + (5.0 if layer <= 2 else 2.0 if layer >= 7 else 3.0)
            rows.append((f"u{u}", layer, value, "cosine"))
            rows.append((f"u{u}", layer, offset + 1.0, "centred"))  # flat: no trend
    columns = ["utterance", "layer", "alas_tokens", "normalisation"]
    path = tmp_path / "composed-x" / "sqa.parquet"
    path.parent.mkdir()
    pd.DataFrame(rows, columns=columns).to_parquet(path)
    table = layer_trend([path], 0.95, 500, 0).set_index("normalisation")
    cosine = table.loc["cosine"]
    assert (cosine["early_layers"], cosine["late_layers"]) == ("1-2", "7-8")
    assert cosine["early"] == pytest.approx(7.5) and cosine["late"] == pytest.approx(4.5)
    assert cosine["late_minus_early"] == pytest.approx(-3.0) and cosine["p_value"] == pytest.approx(2 / 64)
    assert cosine["verdict"] == "holds" and cosine["utterances"] == 6 and cosine["model"] == "composed-x"
    # the same trend on 4 utterances: every bootstrap draw is -3, but the sign-flip p is 2/16: not resolved
    pd.DataFrame([r for r in rows if r[0] < "u4"], columns=columns).to_parquet(path)
    four = layer_trend([path], 0.95, 500, 0).set_index("normalisation").loc["cosine"]
    assert four["high"] < 0 and four["p_value"] == pytest.approx(0.125) and four["verdict"] == "not resolved"
    flat = table.loc["centred"]
    assert flat["late_minus_early"] == 0.0 and flat["verdict"] == "not resolved"
