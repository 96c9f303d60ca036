"""ALAS per utterance and layer for one speech LLM on one corpus.

For every utterance the backend accepted: one prefill per run (all layers, kept on the audio span and the
transcript span), the reference path from the word times at the backend's true frame rate and offset, and
``speechalign.metrics.alas.alas``
(similarity, MAS, distances in tokens and words, uniform baseline, calibration).
Every accepted utterance is scored; the response filter's decision travels as a column (``kept``), so the
paper's number (kept pairs only) and the unfiltered one come from the same table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from speechalign.alas.respond import prepare_runs
from speechalign.backends import BackendInputError, SpeechLLM
from speechalign.metrics.alas import AlasResult, alas, pooled_alas, reference_path, similarity

log = logging.getLogger(__name__)

# arrays kept per example utterance: paths, reference_tokens, uniform, layers, similarity
EXAMPLE_FIELDS = 5

TABLE_COLUMNS = [
    "utterance",
    "layer",  # 0 = embedding output, l = after block l
    "alas_tokens",  # mean |MAS path - reference| over audio positions, in tokens (lower is better)
    "alas_words",  # the same in words
    "uniform_tokens",  # the uniform diagonal path's distance, tokens
    "uniform_words",
    "calibrated_tokens",  # alas_tokens / uniform_tokens (< 1: better than the diagonal)
    "calibrated_words",
    "n_audio",  # audio positions (A)
    "n_text",  # transcript tokens (T)
    "n_words",
    "words_without_rows",  # words too short for any audio position
    "similarity",  # SBERT agreement of the two answers
    "kept",  # the filter's decision (similarity >= threshold)
    "normalisation",
    "reference",
]


def word_char_spans(text: str, words: Sequence[str]) -> np.ndarray:
    """Character span of each word in ``text``, found in order (case-insensitive), ``(W, 2)``.

    >>> word_char_spans("The cat, the hat.", ["the", "cat", "the", "hat"]).tolist()
    [[0, 3], [4, 7], [9, 12], [13, 16]]
    """
    lowered, cursor, spans = text.lower(), 0, []
    for word in words:
        start = lowered.find(word.lower(), cursor)
        if start < 0:
            raise BackendInputError(
                f"word {word!r} of the word times is not in the transcript after char {cursor}"
            )
        spans.append((start, start + len(word)))
        cursor = start + len(word)
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


def oracle_word_times(utterance) -> tuple[np.ndarray, list[str]]:
    """The corpus's own word times (exact for synthesised speech): ``(W, 2)`` seconds and the words."""
    if not utterance.words:
        raise BackendInputError("the manifest has no word times for this utterance")
    times = np.array([(w.start, w.end) for w in utterance.words], dtype=np.float64)
    return times, [w.text for w in utterance.words]


def reference_word_times(record) -> tuple[np.ndarray, list[str]]:
    """Word times of a reference file's record (``speechalign.reference.read_reference``): ``(W, 2)``."""
    if record.error:
        raise BackendInputError(f"the {record.aligner} reference failed here: {record.error}")
    if not record.words:
        raise BackendInputError(f"the {record.aligner} reference has no words for this utterance")
    times = np.array([(w.start, w.end) for w in record.words], dtype=np.float64)
    return times, [w.text for w in record.words]


def score_utterance(backend: SpeechLLM, pair, normalisation: str, reference_record=None) -> AlasResult:
    """ALAS of one prepared pair (``speechalign.alas.prepare_runs``) against the word times of
    ``reference_record`` (a reference stage record), or the corpus's own exact times when None (oracle)."""
    if reference_record is None:
        times, words = oracle_word_times(pair.utterance)
    else:
        times, words = reference_word_times(reference_record)
    audio = backend.prefill(pair.audio)  # (L+1, A, D)
    text = backend.prefill(pair.text)  # (L+1, T, D)
    reference = reference_path(
        word_times=times,
        word_char_spans=word_char_spans(pair.utterance.text, words),
        token_char_spans=pair.text.token_char_spans,
        n_audio=audio.shape[1],
        frame_seconds=backend.frame_seconds,
        offset_seconds=backend.offset_seconds,
    )
    return alas(audio, text, reference, normalisation=normalisation)


def figure_layers(n_layers: int) -> list[int]:
    """The layers ALAS Figure 2 shows: the embeddings, the blocks at 1/4, 1/2 and 3/4 depth, and the last."""
    last = n_layers - 1
    return sorted({0, round(last / 4), round(last / 2), round(3 * last / 4), last})


def example_similarity(backend: SpeechLLM, pair, layers: Sequence[int], normalisation: str) -> np.ndarray:
    """The similarity matrices of ``layers`` for one pair, (len(layers), A, T) float16: small enough to keep
    for a few example utterances (a second prefill; only examples pay for it)."""
    audio = backend.prefill(pair.audio)[list(layers)]  # (K, A, D)
    text = backend.prefill(pair.text)[list(layers)]  # (K, T, D)
    return similarity(audio, text, normalisation=normalisation).astype(np.float16)


def result_rows(
    utterance_id: str, result: AlasResult, response: Mapping[str, Any], reference: str
) -> list[dict]:
    return [
        {
            "utterance": utterance_id,
            **result.layer_scores(layer),
            "n_words": result.n_words,
            "words_without_rows": len(result.reference.words_without_rows),
            "similarity": float(response["similarity"]),
            "kept": bool(response["kept"]),
            "normalisation": result.normalisation,
            "reference": reference,
        }
        for layer in range(result.n_layers)
    ]


def score_corpus(
    backend: SpeechLLM,
    utterances: Sequence,
    responses: pd.DataFrame,
    task: str,
    prompts: Mapping[str, str],
    normalisation: str,
    reference: str = "oracle",
    n_examples: int = 0,
    reference_records: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, list[dict], dict[str, np.ndarray]]:
    """The tidy table (``TABLE_COLUMNS``), the rejections ``[{utterance, reason}]`` and, for the first
    ``n_examples`` scored utterances, their paths, reference, uniform path and the similarity matrices of
    the figure layers (``{"<id>/paths": (L, A), "<id>/similarity": (K, A, T), "<id>/layers": (K,), ...}``).

    ``reference`` names the word times: ``reference_records`` (id -> record of the reference stage's file
    for that aligner), or, when it is None, the corpus's own exact times (only for ``"oracle"``)."""
    if reference_records is None and reference != "oracle":
        raise BackendInputError(f"reference {reference!r} needs its reference file (data/reference/...)")
    by_id = responses.set_index("utterance")
    rows: list[dict] = []
    rejected: list[dict] = []
    examples: dict[str, np.ndarray] = {}
    for utt in tqdm(utterances, desc="alas", unit="utt"):
        if utt.id not in by_id.index:
            raise BackendInputError(f"utterance {utt.id} has no response: rerun `speechalign alas respond`")
        response = by_id.loc[utt.id]
        if response["status"] != "ok":
            rejected.append({"utterance": utt.id, "reason": str(response["reason"])})
            continue
        pair = prepare_runs(backend, utt, task, prompts)
        try:
            if pair.reason is not None:
                raise BackendInputError(pair.reason)
            record = None
            if reference_records is not None:
                if utt.id not in reference_records:
                    raise BackendInputError(f"no {reference} reference for this utterance")
                record = reference_records[utt.id]
            result = score_utterance(backend, pair, normalisation, record)
        except (BackendInputError, ValueError) as err:  # e.g. NaN in hidden states, unmatched words
            log.warning("%s not scored: %s", utt.id, err)
            rejected.append({"utterance": utt.id, "reason": str(err)})
            continue
        rows += result_rows(utt.id, result, response, reference)
        if len(examples) < EXAMPLE_FIELDS * n_examples:
            layers = figure_layers(result.n_layers)
            examples[f"{utt.id}/paths"] = result.paths
            examples[f"{utt.id}/reference_tokens"] = result.reference.token_per_row
            examples[f"{utt.id}/uniform"] = result.uniform_path
            examples[f"{utt.id}/layers"] = np.asarray(layers)
            examples[f"{utt.id}/similarity"] = example_similarity(backend, pair, layers, normalisation)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS), rejected, examples


def layer_summary(table: pd.DataFrame, n_boot: int, seed: int) -> list[dict[str, Any]]:
    """Per layer: pooled ALAS (a ratio of sums over utterances: ``speechalign.metrics.alas.pooled_alas``) in
    tokens and words, calibrated, with 95% bootstrap intervals over utterances (percentile method)."""
    out = []
    for layer, part in table.groupby("layer", sort=True):
        part = part.sort_values("utterance")
        n = len(part)
        rng = np.random.default_rng(seed)
        weights = np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1 / n), size=n_boot)])  # (1+B, U)
        rows = part["n_audio"].to_numpy(np.float64)
        entry: dict[str, Any] = {"layer": int(layer), "utterances": n}
        for unit in ("tokens", "words"):
            alas_ = pooled_alas(part[f"alas_{unit}"].to_numpy(), rows, weights)
            uniform = pooled_alas(part[f"uniform_{unit}"].to_numpy(), rows, weights)
            with np.errstate(divide="ignore", invalid="ignore"):
                calibrated = alas_ / uniform
            for name, values in ((f"alas_{unit}", alas_), (f"calibrated_{unit}", calibrated)):
                low, high = np.nanpercentile(values[1:], [2.5, 97.5]) if n_boot else (np.nan, np.nan)
                entry[name] = float(values[0])
                entry[f"{name}_ci"] = [float(low), float(high)]
            entry[f"uniform_{unit}"] = float(uniform[0])
        out.append(entry)
    return out


def summarise(
    table: pd.DataFrame,
    responses: pd.DataFrame,
    rejected: list[dict],
    info: Mapping[str, Any],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """The summary JSON: the response filter's counts, and per layer the pooled ALAS with intervals for the
    kept pairs (the paper's number) and for every scored pair."""
    ok = responses[responses["status"] == "ok"]
    summary: dict[str, Any] = dict(info)
    summary["lower_is_better"] = True
    summary["responses"] = {
        "utterances": len(responses),
        "answered": len(ok),
        "kept": int(ok["kept"].sum()),
        "mean_similarity": float(ok["similarity"].mean()) if len(ok) else None,
        "median_similarity": float(ok["similarity"].median()) if len(ok) else None,
    }
    summary["rejected"] = rejected
    for subset, part in (("kept", table[table["kept"]]), ("all", table)):
        layers = layer_summary(part, n_boot, seed) if len(part) else []
        best = min(layers, key=lambda e: e["alas_tokens"])["layer"] if layers else None
        summary[subset] = {
            "utterances": int(part["utterance"].nunique()),
            "best_layer": best,
            "layers": layers,
        }
    return summary
