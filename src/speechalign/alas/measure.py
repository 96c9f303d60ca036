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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from speechalign.alas.respond import prepare_runs
from speechalign.backends import BackendInputError, SpeechLLM
from speechalign.metrics.alas import (
    NORMALISATION_KINDS,
    AlasResult,
    CorpusStatistics,
    MomentAccumulator,
    RoleStatistics,
    alas,
    mean_alas,
    pooled_alas,
    reference_path,
    similarity,
)
from speechalign.metrics.intervals import ratio_bootstrap_interval

log = logging.getLogger(__name__)

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
    "hub_share",  # share of audio positions on the MAS path's most used token (metrics.alas.hubness)
    "k_skewness",  # skewness of the k-occurrence counts over tokens (a few hub tokens: large)
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


def utterance_states(backend: SpeechLLM, pair, reference_record=None, prefill=None):
    """One prefill per run of a prepared pair (``speechalign.alas.prepare_runs``) and its reference path from
    the word times of ``reference_record`` (a reference stage record), or the corpus's own exact times when
    None (oracle): ``(audio (L+1, A, D), text (L+1, T, D), ReferencePath)``. ``prefill``: run -> hidden
    states (default ``backend.prefill``; a ``HiddenCache`` in front of it reuses an earlier pass's)."""
    if reference_record is None:
        times, words = oracle_word_times(pair.utterance)
    else:
        times, words = reference_word_times(reference_record)
    prefill = prefill or backend.prefill
    audio = prefill(pair.audio)  # (L+1, A, D)
    text = prefill(pair.text)  # (L+1, T, D)
    reference = reference_path(
        word_times=times,
        word_char_spans=word_char_spans(pair.utterance.text, words),
        token_char_spans=pair.text.token_char_spans,
        n_audio=audio.shape[1],
        frame_seconds=backend.frame_seconds,
        offset_seconds=backend.offset_seconds,
    )
    return audio, text, reference


def score_utterance(
    backend: SpeechLLM, pair, normalisation: str, reference_record=None, statistics=None
) -> AlasResult:
    """ALAS of one prepared pair under one normalisation (``statistics``: a fitted one's statistics)."""
    audio, text, reference = utterance_states(backend, pair, reference_record)
    return alas(audio, text, reference, normalisation=normalisation, statistics=statistics)


def figure_layers(n_layers: int) -> list[int]:
    """The layers ALAS Figure 2 shows: the embeddings, the blocks at 1/4, 1/2 and 3/4 depth, and the last."""
    last = n_layers - 1
    return sorted({0, round(last / 4), round(last / 2), round(3 * last / 4), last})


def example_arrays(
    utterance_id: str, results: Mapping[str, AlasResult], audio, text, statistics
) -> dict[str, np.ndarray]:
    """What a figure keeps of one example utterance: its reference and uniform paths, the figure layers,
    and per normalisation the MAS paths ``(L, A)`` and the figure layers' similarity ``(K, A, T)`` float16."""
    first = next(iter(results.values()))
    layers = figure_layers(first.n_layers)
    out = {
        f"{utterance_id}/reference_tokens": first.reference.token_per_row,
        f"{utterance_id}/uniform": first.uniform_path,
        f"{utterance_id}/layers": np.asarray(layers),
    }
    for name, result in results.items():
        sim = similarity(audio[layers], text[layers], name, _layer_statistics(statistics, layers))
        out[f"{utterance_id}/{name}/paths"] = result.paths
        out[f"{utterance_id}/{name}/similarity"] = sim.astype(np.float16)
    return out


def _layer_statistics(statistics, layers: Sequence[int]):
    """Fitted statistics restricted to ``layers`` (None stays None)."""
    if statistics is None:
        return None
    pick = list(layers)
    return CorpusStatistics(
        *(
            RoleStatistics(role.mean[pick], role.components[pick], role.positions)
            for role in (statistics.audio, statistics.text)
        )
    )


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


@dataclass
class Scorable:
    """One utterance ready to score: its prepared runs, its response row and its reference record."""

    utterance: Any
    pair: Any
    response: Any
    record: Any


def scorable_pairs(
    backend: SpeechLLM,
    utterances: Sequence,
    responses: pd.DataFrame,
    task: str,
    prompts: Mapping[str, str],
    reference: str,
    reference_records: Mapping[str, Any] | None,
) -> tuple[list[Scorable], list[dict]]:
    """The utterances that can be scored, and the rejections ``[{utterance, reason}]`` of the others."""
    by_id = responses.set_index("utterance")
    ready, rejected = [], []
    for utt in utterances:
        if utt.id not in by_id.index:
            raise BackendInputError(f"utterance {utt.id} has no response: rerun `speechalign alas respond`")
        response = by_id.loc[utt.id]
        reason = (str(response["reason"]) or "not answered") if response["status"] != "ok" else None
        pair = prepare_runs(backend, utt, task, prompts) if reason is None else None
        reason = reason or pair.reason
        if reason is None and reference_records is not None and utt.id not in reference_records:
            reason = f"no {reference} reference for this utterance"
        if reason is not None:
            rejected.append({"utterance": utt.id, "reason": reason})
            continue
        record = reference_records[utt.id] if reference_records is not None else None
        ready.append(Scorable(utt, pair, response, record))
    return ready, rejected


def fit_corpus_statistics(backend: SpeechLLM, ready: Sequence[Scorable], components: int, prefill=None):
    """Corpus statistics of both run roles over the scored utterances (a first prefill pass), for the fitted
    normalisations (``speechalign.metrics.alas.normalisations``). ``prefill`` as in ``utterance_states``."""
    prefill = prefill or backend.prefill
    audio, text = MomentAccumulator(), MomentAccumulator()
    for item in tqdm(ready, desc="fit statistics", unit="utt"):
        audio.update(prefill(item.pair.audio))
        text.update(prefill(item.pair.text))
    return CorpusStatistics(audio.compute(components), text.compute(components))


# Hidden states kept between two passes over the same runs (statistics, then scores): 2 GiB holds the quick
# and small profiles' corpora (SmolLM2-135M: 31 x 375 x 576 floats, 27 MB, for 30 s of audio); a paper-scale
# LM prefills again what does not fit (the same numbers, more time).
HIDDEN_CACHE_BYTES = 2 << 30


class HiddenCache:
    """Prefill results by key while they fit in ``budget`` bytes (default ``HIDDEN_CACHE_BYTES``); past it,
    ``get`` computes and keeps nothing."""

    def __init__(self, budget: int | None = None):
        self.budget, self.used = HIDDEN_CACHE_BYTES if budget is None else budget, 0
        self.kept: dict[Any, torch.Tensor] = {}

    def get(self, key, compute) -> torch.Tensor:
        if key in self.kept:
            return self.kept[key]
        value = compute()
        size = value.element_size() * value.nelement()
        if self.used + size <= self.budget:
            self.kept[key] = value
            self.used += size
        return value

    def drop(self, keys) -> None:
        for key in keys:
            value = self.kept.pop(key, None)
            if value is not None:
                self.used -= value.element_size() * value.nelement()


def score_corpus(
    backend: SpeechLLM,
    utterances: Sequence,
    responses: pd.DataFrame,
    task: str,
    prompts: Mapping[str, str],
    normalisations: str | Sequence[str],
    reference: str = "oracle",
    n_examples: int = 0,
    reference_records: Mapping[str, Any] | None = None,
    components: int = 5,
) -> tuple[pd.DataFrame, list[dict], dict[str, np.ndarray]]:
    """The tidy table (``TABLE_COLUMNS``, one row per utterance, normalisation and layer), the rejections
    ``[{utterance, reason}]`` and, for the first ``n_examples`` scored utterances, what the figures draw
    (``example_arrays``).

    ``normalisations``: one name or several, scored from the same prefill; fitted ones get statistics fitted
    on the scored utterances (``components``: pc-removed's). ``reference`` names the word times:
    ``reference_records`` (id -> record of the reference stage's file for that aligner), or, when it is None,
    the corpus's own exact times (only for ``"oracle"``)."""
    if reference_records is None and reference != "oracle":
        raise BackendInputError(f"reference {reference!r} needs its reference file (data/reference/...)")
    names = [normalisations] if isinstance(normalisations, str) else list(dict.fromkeys(normalisations))
    ready, rejected = scorable_pairs(
        backend, utterances, responses, task, prompts, reference, reference_records
    )
    fitted = any(NORMALISATION_KINDS.get(n) == "fitted" for n in names)
    cache = HiddenCache()

    def prefill(run):  # the statistics pass's hidden states serve the scoring pass
        return cache.get(id(run), lambda: backend.prefill(run))

    statistics = fit_corpus_statistics(backend, ready, components, prefill) if fitted and ready else None
    rows: list[dict] = []
    examples: dict[str, np.ndarray] = {}
    for item in tqdm(ready, desc="alas", unit="utt"):
        utt_id = item.utterance.id
        try:
            audio, text, ref = utterance_states(backend, item.pair, item.record, prefill)
            cache.drop([id(item.pair.audio), id(item.pair.text)])
            results = {n: alas(audio, text, ref, normalisation=n, statistics=statistics) for n in names}
        except (BackendInputError, ValueError) as err:  # e.g. NaN in hidden states, unmatched words
            log.warning("%s not scored: %s", utt_id, err)
            rejected.append({"utterance": utt_id, "reason": str(err)})
            continue
        for result in results.values():
            rows += result_rows(utt_id, result, item.response, reference)
        if len({k.split("/")[0] for k in examples}) < n_examples:
            examples |= example_arrays(utt_id, results, audio, text, statistics)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS), rejected, examples


def _interval(numerators: np.ndarray, denominators: np.ndarray, n_boot: int, seed: int) -> list[float]:
    """95% percentile bootstrap interval over utterances of ``sum(numerators) / sum(denominators)`` (both
    ``(U,)``), by the project's one implementation (``speechalign.metrics.intervals``); NaN unresampled."""
    if not n_boot:
        return [np.nan, np.nan]
    _, low, high = ratio_bootstrap_interval(numerators[None], denominators[None], 0.95, n_boot, seed)
    return [low, high]


def layer_summary(table: pd.DataFrame, n_boot: int, seed: int) -> list[dict[str, Any]]:
    """Per layer of one normalisation's rows: ALAS in tokens and words aggregated both ways over utterances,
    each with a 95% bootstrap interval (percentile method over utterances; every interval of a layer draws
    the same resamples): ``alas_<unit>``, a ratio of sums (``speechalign.metrics.alas.pooled_alas``; ours,
    what the figures draw) and ``alas_<unit>_mean``, the average over utterances (``mean_alas``; what the
    ALAS paper reports); the calibrated ratio of sums (sum of ALAS x rows over the uniform path's), the
    uniform path's, and the mean hubness diagnostics."""
    out = []
    for layer, part in table.groupby("layer", sort=True):
        part = part.sort_values("utterance")
        n = len(part)
        rows = part["n_audio"].to_numpy(np.float64)
        entry: dict[str, Any] = {"layer": int(layer), "utterances": n}
        for unit in ("tokens", "words"):
            per_utterance = part[f"alas_{unit}"].to_numpy(np.float64)
            per_uniform = part[f"uniform_{unit}"].to_numpy(np.float64)
            alas_ = float(pooled_alas(per_utterance, rows)[0])
            uniform = float(pooled_alas(per_uniform, rows)[0])
            with np.errstate(divide="ignore", invalid="ignore"):
                calibrated = float(np.float64(alas_) / uniform)
            # name -> (estimate, the ratio of sums over utterances it is: numerators, denominators)
            estimates = {
                f"alas_{unit}": (alas_, per_utterance * rows, rows),
                f"alas_{unit}_mean": (float(mean_alas(per_utterance)[0]), per_utterance, np.ones(n)),
                f"calibrated_{unit}": (calibrated, per_utterance * rows, per_uniform * rows),
            }
            for name, (value, numerators, denominators) in estimates.items():
                entry[name] = value
                entry[f"{name}_ci"] = _interval(numerators, denominators, n_boot, seed)
            entry[f"uniform_{unit}"] = uniform
        entry["hub_share"] = float(part["hub_share"].mean())
        entry["k_skewness"] = float(part["k_skewness"].mean())
        out.append(entry)
    return out


AGGREGATION = {
    "alas_tokens": "ratio of sums over utterances (each weighs by its audio positions); the figures draw it",
    "alas_tokens_mean": "average of per-utterance ALAS (the ALAS paper's aggregation)",
}


def subset_summaries(table: pd.DataFrame, n_boot: int, seed: int) -> dict[str, Any]:
    """``{"kept": ..., "all": ...}`` of one normalisation's rows: the filter's kept pairs (the paper's
    Figure 3) and every scored pair."""
    out = {}
    for subset, part in (("kept", table[table["kept"]]), ("all", table)):
        layers = layer_summary(part, n_boot, seed) if len(part) else []
        best = min(layers, key=lambda e: e["alas_tokens"])["layer"] if layers else None
        out[subset] = {"utterances": int(part["utterance"].nunique()), "best_layer": best, "layers": layers}
    return out


def summarise(
    table: pd.DataFrame,
    responses: pd.DataFrame,
    rejected: list[dict],
    info: Mapping[str, Any],
    n_boot: int,
    seed: int,
    headline: str | None = None,
) -> dict[str, Any]:
    """The summary JSON: the response filter's counts, and per normalisation and layer the ALAS of the kept
    pairs (the paper's number) and of every scored pair, with intervals. ``headline``: the normalisation whose
    numbers are also at the top level (``kept``, ``all``; default: the table's first); every normalisation is
    under ``by_normalisation`` (the paper's raw cosine among them whenever it was scored)."""
    ok = responses[responses["status"] == "ok"]
    names = list(dict.fromkeys(table["normalisation"])) or [headline]
    headline = headline or names[0]
    summary: dict[str, Any] = dict(info)
    summary["lower_is_better"] = True
    summary["normalisation"] = headline
    summary["aggregation"] = AGGREGATION
    summary["responses"] = {
        "utterances": len(responses),
        "answered": len(ok),
        "kept": int(ok["kept"].sum()),
        "mean_similarity": float(ok["similarity"].mean()) if len(ok) else None,
        "median_similarity": float(ok["similarity"].median()) if len(ok) else None,
    }
    summary["rejected"] = rejected
    summary["by_normalisation"] = {
        name: subset_summaries(table[table["normalisation"] == name], n_boot, seed) for name in names
    }
    summary |= summary["by_normalisation"].get(headline) or subset_summaries(table.iloc[:0], n_boot, seed)
    return summary
