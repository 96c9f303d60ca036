"""Score every control of every utterance under every normalisation: one tidy table.

The reference path comes from ``reference_path`` at the backend's declared frame rate and offset (what the
ALAS stage does); the oracle's layout comes from ``speechalign.validity.timeline`` (the encoder's geometry and
the exact word times), so the two agree only when the backend's timing is right (``timing_check``).

For each condition (``speechalign.validity.controls``) the fitted normalisations get statistics fitted on that
condition's own audio runs (and on the text runs, shared by all conditions), as they would be on a model's
corpus: a first pass feeds the moment accumulator, a second one scores. Each prefill runs once: the
transcript's hidden states serve every condition and a condition's audio states both passes, kept in memory
up to ``speechalign.alas.measure.HIDDEN_CACHE_BYTES`` (past it, a run is prefilled again: the same numbers,
more time), and the untrained control of a model with no trained projector takes the model's own audio states
(``same_audio_states``).
The reference is the corpus's exact word times: the controls test the metric, not the aligner.
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

from speechalign.alas.measure import HiddenCache, oracle_word_times, word_char_spans
from speechalign.backends import BackendInputError, Run, SpeechLLM, task_instruction
from speechalign.backends.audio import load_wave
from speechalign.metrics.alas import (
    NORMALISATION_KINDS,
    CorpusStatistics,
    MomentAccumulator,
    ReferencePath,
    RoleStatistics,
    alas,
    diagonal_contrast,
    reference_path,
    similarity,
)
from speechalign.validity.controls import (
    Condition,
    MixedProjector,
    condition_seed,
    jittered_rows,
    mismatched_wave,
    oracle_embeddings,
    projector_swapped,
    untrained_projector,
    with_audio_embeddings,
)
from speechalign.validity.timeline import position_centres, spoken_tokens

log = logging.getLogger(__name__)

TABLE_COLUMNS = [
    "utterance",
    "condition",  # oracle, oracle-noise-<s>, oracle-jitter-<s>, audio, aligned, ruler-<w>, mismatched, ...
    "role",  # positive, sweep, model, aligned, ruler, negative, placed
    "noise",  # oracle noise std / RMS of the token embeddings (0 elsewhere)
    "jitter",  # oracle time jitter std in seconds (0 elsewhere)
    "mix",  # ruler step: share of the aligned variation shuffled (aligned 0; NaN off the ruler)
    "normalisation",
    "layer",  # 0 = embedding output
    "alas_tokens",  # mean |MAS path - reference| in tokens (lower is better)
    "alas_words",
    "uniform_tokens",  # the uniform diagonal's distance (the same for every condition of an utterance)
    "uniform_words",
    "calibrated_tokens",  # alas_tokens / uniform_tokens (< 1: better than the diagonal)
    "diagonal_contrast",  # MAS-free: mean similarity on reference cells - matrix mean (higher: better)
    "hub_share",  # share of audio positions on the MAS path's most used token
    "k_skewness",  # skewness of the k-occurrence counts (speechalign.metrics.alas.hubness)
    "n_audio",
    "n_text",
]


@dataclass
class Prepared:
    """What every condition of one utterance starts from."""

    id: str
    instruction: str
    wave: np.ndarray  # (N,) float32
    audio: Run
    text: Run
    reference: ReferencePath
    word_times: np.ndarray  # (W, 2) exact seconds
    word_chars: np.ndarray  # (W, 2) character spans in the transcript


def prepare(backend: SpeechLLM, utterance, task: str, prompts: Mapping[str, str]) -> Prepared:
    instruction = task_instruction(task, prompts, question=utterance.question)
    wave = backend.check_wave(load_wave(utterance.audio_path, backend.sample_rate))
    audio = backend.audio_run(wave, instruction)
    text = backend.text_run(utterance.text, instruction)
    times, words = oracle_word_times(utterance)
    chars = word_char_spans(utterance.text, words)
    reference = reference_path(
        word_times=times,
        word_char_spans=chars,
        token_char_spans=text.token_char_spans,
        n_audio=audio.span_length,
        frame_seconds=backend.frame_seconds,
        offset_seconds=backend.offset_seconds,
    )
    return Prepared(utterance.id, instruction, wave, audio, text, reference, times, chars)


def oracle_rows(backend: SpeechLLM, p: Prepared) -> np.ndarray:
    """The token spoken at each audio position, ``(A,)``, from the exact times and the encoder's geometry
    (never from ``p.reference``)."""
    centres = position_centres(backend, p.audio.span_length)
    return spoken_tokens(p.word_times, p.word_chars, p.text.token_char_spans, centres)


@dataclass
class Projectors:
    """The aligned projector (``None``: no aligned or ruler conditions) and the untrained one."""

    aligned: torch.nn.Module | None
    untrained: torch.nn.Module | None
    seed: int = 0  # the ruler's shuffle of an utterance: the same order at every step


def _projected_run(backend: SpeechLLM, p: Prepared, projector) -> Run:
    with projector_swapped(backend, projector):
        return backend.audio_run(p.wave, p.instruction)


def condition_run(
    backend: SpeechLLM,
    prepared: Sequence[Prepared],
    u: int,
    condition: Condition,
    rng,
    projectors: Projectors,
    placed: Mapping[str, SpeechLLM],
) -> Run:
    """The audio-side run of ``condition`` for utterance ``u`` (its A positions, its prompt)."""
    p = prepared[u]
    if condition.source == "audio":
        return p.audio
    if condition.source == "oracle":
        start, stop = p.text.span
        tokens = p.text.payload["inputs_embeds"][0, start:stop]  # (T, D) the LM's own token embeddings
        rows = jittered_rows(oracle_rows(backend, p), condition.jitter / backend.frame_seconds, rng)
        return with_audio_embeddings(p.audio, oracle_embeddings(tokens, rows, condition.noise, rng))
    if condition.source == "reversed":
        run = backend.audio_run(np.ascontiguousarray(p.wave[::-1]), p.instruction)
    elif condition.source == "mismatched":
        other = prepared[(u + 1) % len(prepared)].wave  # the next utterance's audio
        run = backend.audio_run(mismatched_wave(other, len(p.wave)), p.instruction)
    elif condition.source == "untrained":
        run = _projected_run(backend, p, projectors.untrained)
    elif condition.source in ("aligned", "ruler"):
        order = int(np.random.default_rng([projectors.seed, u]).integers(2**31))  # one order for every step
        run = _projected_run(backend, p, MixedProjector(projectors.aligned, condition.mix, order))
    elif condition.source == "placed":
        run = placed[condition.name.removeprefix("placed:")].audio_run(p.wave, p.instruction)
    else:
        raise ValueError(f"unknown condition source {condition.source!r}")
    if run.span_length != p.audio.span_length:
        raise RuntimeError(
            f"{condition.name} has {run.span_length} audio positions; expected {p.audio.span_length}"
        )
    return run


def fit_role(runs_hidden, components: int) -> RoleStatistics:
    accumulator = MomentAccumulator()
    for hidden in runs_hidden:
        accumulator.update(hidden)
    return accumulator.compute(components)


def utterance_rows(
    utterance: str, condition: Condition, audio, text, reference: ReferencePath, normalisations, statistics
) -> list[dict[str, Any]]:
    """Rows (one per normalisation and layer) of one condition of one utterance."""
    rows = []
    for name in normalisations:
        result = alas(audio, text, reference, normalisation=name, statistics=statistics)
        contrast = diagonal_contrast(
            similarity(audio, text, name, statistics), reference.token_per_row
        )  # (L,)
        for layer in range(result.n_layers):
            rows.append(
                {
                    "utterance": utterance,
                    "condition": condition.name,
                    "role": condition.role,
                    "noise": condition.noise,
                    "jitter": condition.jitter,
                    "mix": _mix(condition),
                    "normalisation": name,
                    **result.layer_scores(layer),  # calibrated_words too; TABLE_COLUMNS leaves it out
                    "diagonal_contrast": float(contrast[layer]),
                }
            )
    return rows


def same_audio_states(conditions: Sequence[Condition], backend: SpeechLLM, projectors: Projectors) -> dict:
    """``{condition index: the index of the condition with the same audio runs}``: the untrained
    control of a model whose own projector is that seeded initialisation (a composed model with no trained
    projector) is the model's audio, so one prefill serves both."""
    own, untrained = getattr(backend, "projector", None), projectors.untrained
    audio = [c for c, condition in enumerate(conditions) if condition.source == "audio"]
    if not audio or own is None or untrained is None or not same_weights(own, untrained):
        return {}
    return {c: audio[0] for c, condition in enumerate(conditions) if condition.source == "untrained"}


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k].to(sa[k].device)) for k in sa)


def _mix(condition: Condition) -> float:
    """A condition's step on the ruler: aligned 0, ruler steps their share, others NaN."""
    return {"aligned": 0.0, "ruler": condition.mix}.get(condition.source, float("nan"))


@torch.no_grad()
def validate_corpus(
    backend: SpeechLLM,
    utterances: Sequence,
    task: str,
    prompts: Mapping[str, str],
    conditions: Sequence[Condition],
    normalisations: Sequence[str],
    components: int,
    seed: int,
    aligned: torch.nn.Module | None = None,
    placed: Mapping[str, SpeechLLM] | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """The tidy table (``TABLE_COLUMNS``) and the rejected utterances ``[{utterance, reason}]``.

    ``aligned``: the aligned projector (needed by the aligned and ruler conditions); ``placed``: the backends
    of the placed models by name (same LM as ``backend``)."""
    unknown = sorted(set(normalisations) - set(NORMALISATION_KINDS))
    if unknown:
        raise BackendInputError(
            f"unknown normalisations {unknown}; registered: {sorted(NORMALISATION_KINDS)}"
        )
    prepared, rejected = [], []
    for utt in tqdm(utterances, desc="prepare", unit="utt"):
        try:
            prepared.append(prepare(backend, utt, task, prompts))
        except (BackendInputError, ValueError) as err:
            log.warning("%s not used: %s", utt.id, err)
            rejected.append({"utterance": utt.id, "reason": str(err)})
    if len(prepared) < 2:
        raise BackendInputError(
            f"validity needs at least 2 usable utterances (mismatched pairs); got {len(prepared)}"
        )
    needs_untrained = any(c.source == "untrained" for c in conditions)
    projectors = Projectors(aligned, untrained_projector(backend, seed) if needs_untrained else None, seed)
    if projectors.aligned is None and any(c.source in ("aligned", "ruler") for c in conditions):
        raise BackendInputError("the aligned and ruler conditions need the aligned projector")
    fitted = any(NORMALISATION_KINDS[n] == "fitted" for n in normalisations)
    cache = HiddenCache()
    aliases = same_audio_states(conditions, backend, projectors)
    reused = set(aliases.values())  # conditions whose states a later one takes: kept until then

    def text_hidden(u: int) -> torch.Tensor:  # (L+1, T, D): the same for every condition
        return cache.get(("text", u), lambda: backend.prefill(prepared[u].text))

    text_stats = fit_role((text_hidden(u) for u in range(len(prepared))), components) if fitted else None
    rows: list[dict[str, Any]] = []
    for c, condition in enumerate(tqdm(conditions, desc="conditions", unit="cond")):

        def audio_hidden(u: int, c: int = c, condition: Condition = condition):  # (L+1, A, D)
            def compute() -> torch.Tensor:
                rng = condition_seed(seed, u, c)  # the same noise draws in the fitting and the scoring pass
                run = condition_run(backend, prepared, u, condition, rng, projectors, placed or {})
                return backend.prefill(run)

            key = ("audio", aliases.get(c, c), u)
            return cache.get(key, compute) if fitted or c in reused or c in aliases else compute()

        statistics = None
        if fitted:
            audio_stats = fit_role((audio_hidden(u) for u in range(len(prepared))), components)
            statistics = CorpusStatistics(audio=audio_stats, text=text_stats)
        for u, p in enumerate(prepared):
            audio, text = audio_hidden(u), text_hidden(u)
            rows += utterance_rows(p.id, condition, audio, text, p.reference, normalisations, statistics)
        if c not in reused:
            cache.drop(("audio", aliases.get(c, c), u) for u in range(len(prepared)))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS), rejected
