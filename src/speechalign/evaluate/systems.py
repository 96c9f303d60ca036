"""The systems the evaluate stage compares, and how each answers a benchmark item.

- every trained SIFT variant (params ``train.run``), once per training seed (``train.seeds``): the composed
  backend with the variant's checkpoint as its projector hears the audio and reads the item's prompt;
- ``untrained``: the same composed model with a freshly initialised semantic projector (the weights training
  starts from with that seed): the floor, once per seed;
- ``text``: the frozen LLM reading what the audio says (the item's ``spoken`` text) in place of the audio: the
  upper bound (seed-free: one run);
- ``cascade``: Whisper ASR (``models.whisper``) of the audio, then the LLM on the recognised text; the ASR
  text and its word errors are recorded (seed-free: one run).

An item with no transcript (AIR-Bench foundation's clips) cannot be given to ``text``, which reads the
transcript: its answer is recorded as not applicable with the reason (``applicable`` false), and the tables
show that cell as not applicable rather than as a score. The cascade hears the audio, so it answers such
items; with no transcript to compare against, their ASR word errors are not counted.

For ``agreement`` items a system also answers the transcript (the text run); the scorer compares the two.
For the behaviour metrics (``speechalign.evaluate.behaviour``), a system that hears audio (trained,
untrained) also answers each item's instruction with another item's audio (the mismatched-audio control), and
given the ``text`` system's answers (``references``) every system records their teacher-forced NLL under its
own run (and under the mismatched run); ``text`` records the NLL of its own answers, the floor.
Every prompt goes through the backends' chat rendering (``audio_run`` / ``text_run``: params
``backends.system_prompt`` and ``backends.layout``, as in training) and every answer through the backends'
batched greedy ``generate``. Finished answers are cached per (system, seed, item, configuration) in an
append-only JSONL (``speechalign.sift.targets.TargetCache``: one ``write`` per batch, fsynced; a torn line is
ignored), so an interrupted run resumes where it stopped.

    runs = system_runs(["sift_s"], ["text", "cascade", "untrained"], seeds=[0, 1])
    answers = answer_items(SystemRun("sift_s", 0), items, backend, cache=..., max_new_tokens=64)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speechalign.errors import UserFacingError

if TYPE_CHECKING:  # the backends import torch: not when the Snakefile imports this module
    from speechalign.backends import Run

log = logging.getLogger(__name__)

__all__ = [
    "BASELINES",
    "CASCADE",
    "SEED_FREE",
    "TEXT",
    "UNTRAINED",
    "Answer",
    "SystemRun",
    "answer_items",
    "asr_word_errors",
    "backend_spec",
    "read_answers",
    "system_runs",
    "write_answers",
]

TEXT, CASCADE, UNTRAINED = "text", "cascade", "untrained"
BASELINES = (TEXT, CASCADE, UNTRAINED)
SEED_FREE = (TEXT, CASCADE)  # greedy answers that no seed can change: one run, at the first seed
AGREEMENT = "agreement"  # the task whose items are also answered from their transcript


@dataclass(frozen=True)
class SystemRun:
    system: str  # a trained variant, or one of BASELINES
    seed: int

    @property
    def kind(self) -> str:
        return self.system if self.system in BASELINES else "trained"


def system_runs(trained: Sequence[str], baselines: Sequence[str], seeds: Sequence[int]) -> list[SystemRun]:
    """Every (system, seed) the stage runs: trained variants and the untrained floor per seed, the seed-free
    baselines once (at the first seed)."""
    if not seeds:
        raise UserFacingError("params train.seeds is empty: the evaluate stage needs at least one seed")
    clash = sorted(set(trained) & set(BASELINES))
    if clash:
        raise UserFacingError(f"trained variants may not be named like a baseline system: {clash}")
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise UserFacingError(f"unknown baseline systems {unknown}; known: {', '.join(BASELINES)}")
    runs = [SystemRun(v, s) for v in trained for s in seeds]
    for b in baselines:
        runs += [SystemRun(b, seeds[0])] if b in SEED_FREE else [SystemRun(b, s) for s in seeds]
    return runs


@dataclass(frozen=True)
class Answer:
    """One system's answer to one item: a line of ``results/evaluate/answers/{system}/seed{seed}.jsonl``."""

    system: str
    seed: int
    item: str
    task: str
    subset: str
    answer: str  # the speech run's answer (text: the LLM on the spoken text; cascade: on the ASR text)
    text_answer: str | None = None  # agreement items: the answer to the transcript
    asr_text: str | None = None  # cascade: what Whisper recognised
    asr_errors: int | None = None  # cascade: word errors (S + D + I) against the spoken text, normalised
    asr_words: int | None = None  # cascade: normalised words of the spoken text (corpus WER sums both)
    asr_errors_whisper: int | None = (
        None  # the same two under Whisper's EnglishTextNormalizer (published WERs)
    )
    asr_words_whisper: int | None = None
    reason: str = ""  # why the system could not answer ("" when it did); such an answer scores as wrong
    applicable: bool = (
        True  # False: the item is not one this system can take (text: no transcript); not scored
    )
    mismatched_item: str | None = None  # audio systems: the item whose audio the mismatched control heard
    mismatched_answer: str | None = None  # the answer to this item's instruction with that audio
    reference_nll: float | None = None  # summed NLL of text's answer to this item under this system's run
    reference_tokens: int | None = None  # its tokens
    mismatched_nll: float | None = None  # the same answer's summed NLL under the mismatched run


def _normalised_words(text: str, normaliser: str) -> list[str]:
    if normaliser == "whisper":
        from whisper.normalizers import EnglishTextNormalizer

        return EnglishTextNormalizer()(text).split()
    from speechalign.reference.normalise import normalise_words

    return [t.text for t in normalise_words(text.split())]


def asr_word_errors(spoken: str, recognised: str, normaliser: str = "speechalign") -> tuple[int, int]:
    """(S + D + I, N) of ``recognised`` against ``spoken`` after a normaliser: ``speechalign`` (the reference
    stage's: numbers spelled out) or ``whisper`` (Whisper's EnglishTextNormalizer, which published WERs use).

    >>> asr_word_errors("Mary is forty-two.", "Mary 42")
    (1, 4)
    >>> asr_word_errors("Mary is forty-two.", "Mary 42", "whisper")
    (1, 3)
    """
    from speechalign.reference.matching import edit_operations

    ref, hyp = _normalised_words(spoken, normaliser), _normalised_words(recognised, normaliser)
    errors = sum(op != "match" for op, _, _ in edit_operations(ref, hyp))
    return errors, len(ref)


# --- backends ------------------------------------------------------------------------------------------
def backend_spec(
    run: SystemRun,
    checkpoint: str | None,
    models: Mapping[str, Any],
    backends: Mapping[str, Any],
    train: Mapping[str, Any],
) -> dict[str, Any]:
    """The composed backend entry a system run loads (``speechalign.backends.load_backend``).

    Trained: the variant's SIFT checkpoint folder (single or dual encoder) as projector. Untrained: a fresh
    projector of the trained variants' architecture (``train.projector_hidden``, ``train.stack``), initialised
    from the seed. The seed-free baselines use only the LLM (the same fresh spec; no projector runs)."""
    if run.kind == "trained" and not checkpoint:
        raise UserFacingError(f"system {run.system} is a trained variant: give its --checkpoint")
    return {
        "kind": "composed",
        "llm": models["llm"],
        "encoder": models["whisper"],
        "projector": str(checkpoint) if run.kind == "trained" else None,
        "projector_hidden": train["projector_hidden"],
        "stack": train["stack"],
        "system_prompt": backends["system_prompt"],
        "layout": backends["layout"],
    }


# 2: the behaviour fields (mismatched control, reference NLLs); cached answers of format 1 lack them
ANSWER_FORMAT = 2


def configuration_key(
    spec: Mapping[str, Any],
    checkpoint: str | None,
    max_new_tokens: int,
    asr: str,
    references: Mapping[str, str] | None = None,
    control_items: int | None = None,
) -> str:
    """Everything besides the item that changes an answer, hashed: model spec, weights, token budget, ASR, the
    ``text`` answers whose NLL it records, the items with a mismatched control, the answer format."""
    from speechalign.io import folder_digest

    changes = [dict(spec), folder_digest(checkpoint), max_new_tokens, asr, dict(references or {})]
    blob = json.dumps([*changes, control_items, ANSWER_FORMAT], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def item_key(run: SystemRun, item, configuration: str) -> str:
    blob = json.dumps(
        [run.system, run.seed, item.id, item.audio, item.spoken, item.prompt, configuration],
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


# --- answering -----------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """One item's runs, or why it cannot run: the system's own run (``main``), the transcript's for agreement
    items (``text``), and the mismatched-audio control (``mismatched``, audio systems)."""

    item: Any
    main: Run | None = None
    text: Run | None = None
    mismatched: Run | None = None
    mismatched_item: str | None = None
    asr_text: str | None = None
    reason: str = ""
    applicable: bool = True

    @property
    def runs(self) -> dict[str, Run]:
        """The runs to generate from, by role, in order."""
        roles = {"main": self.main, "text": self.text, "mismatched": self.mismatched}
        return {role: run for role, run in roles.items() if run is not None}


NO_TRANSCRIPT = "not applicable: the item has no transcript for the text system to read"
HEARS_AUDIO = ("trained", UNTRAINED)  # the systems the mismatched-audio control applies to


def prepare(run: SystemRun, item, backend, asr: Callable[[Any], str] | None, partner=None) -> Prepared:
    """The runs a system needs for one item; input problems become a recorded reason. ``partner``: the item
    whose audio the mismatched control hears (audio systems; a partner the backend refuses is skipped)."""
    from speechalign.backends import BackendInputError
    from speechalign.backends.audio import load_wave

    try:
        if run.kind == TEXT:
            if not item.spoken.strip():
                return Prepared(item, reason=NO_TRANSCRIPT, applicable=False)
            return Prepared(item, backend.text_run(item.spoken, item.prompt))
        if not item.audio:
            return Prepared(item, reason="the item has no audio")
        wave = load_wave(item.audio, backend.sample_rate)
        prepared = Prepared(item)
        if run.kind == CASCADE:
            prepared.asr_text = asr(wave).strip() if asr else ""
            if not prepared.asr_text:
                return Prepared(item, asr_text="", reason="the ASR recognised no words")
            prepared.main = backend.text_run(prepared.asr_text, item.prompt)
        else:
            prepared.main = backend.audio_run(wave, item.prompt)
        if item.task == AGREEMENT:
            prepared.text = backend.text_run(item.spoken, item.prompt)
    except BackendInputError as err:
        return Prepared(item, reason=str(err))
    if run.kind in HEARS_AUDIO and partner is not None:
        try:
            prepared.mismatched = backend.audio_run(
                load_wave(partner.audio, backend.sample_rate), item.prompt
            )
            prepared.mismatched_item = partner.id
        except BackendInputError:
            pass  # the partner's audio does not fit this backend: no control for this item
    return prepared


def to_answer(run: SystemRun, prepared: Prepared, generated: Mapping[str, str]) -> Answer:
    """The item's answer from the generated text of each role of ``prepared.runs``."""
    item = prepared.item
    fields: dict[str, Any] = {"system": run.system, "seed": run.seed, "item": item.id}
    fields |= {"task": item.task, "subset": item.subset, "reason": prepared.reason}
    fields["applicable"] = prepared.applicable
    if prepared.asr_text is not None:
        fields["asr_text"] = prepared.asr_text
        if item.spoken.strip():  # no transcript (AIR-Bench): no word errors to count
            errors, words = asr_word_errors(item.spoken, prepared.asr_text)
            fields |= {"asr_errors": errors, "asr_words": words}
            errors, words = asr_word_errors(item.spoken, prepared.asr_text, "whisper")
            fields |= {"asr_errors_whisper": errors, "asr_words_whisper": words}
    if prepared.reason:
        return Answer(answer="", **fields)
    text_answer = None
    if item.task == AGREEMENT:  # the text system's one run reads the transcript: both answers are that one
        text_answer = generated.get("text", generated["main"])
    if "mismatched" in generated:
        fields |= {"mismatched_item": prepared.mismatched_item, "mismatched_answer": generated["mismatched"]}
    return Answer(answer=generated["main"], text_answer=text_answer, **fields)


SCORED_ROLES = ("main", "mismatched")  # the runs under which the reference's NLL is recorded


def with_reference_nlls(answer: Answer, scored: Mapping[str, tuple[float, int]]) -> Answer:
    """``answer`` with the reference's (summed NLL, tokens) by role (``generate_chunk``'s)."""
    main, mismatched = scored.get("main"), scored.get("mismatched")
    if main is None:
        return answer
    return replace(
        answer,
        reference_nll=main[0],
        reference_tokens=main[1],
        mismatched_nll=None if mismatched is None else mismatched[0],
    )


def reference_of(run: SystemRun, item, references: Mapping[str, str] | None) -> str | None:
    """What an audio system's behaviour match scores: text's answer to the item (``references``)."""
    return None if run.kind == TEXT else (references or {}).get(item.id)


def generate_chunk(run: SystemRun, prepared: Sequence[Prepared], backend, references, nll, **settings):
    """The generated text of every role of every prepared item, and the reference's NLLs by role. An audio
    system's reference (text's answer) is known beforehand: a backend with ``generate_scoring`` reads its NLL
    off the generation's own prefill; otherwise ``nll`` scores it afterwards (``text`` its own answer)."""
    runs = [(k, role, r) for k, p in enumerate(prepared) for role, r in p.runs.items()]
    generated: list[dict[str, str]] = [{} for _ in prepared]
    scored: list[dict[str, tuple[float, int]]] = [{} for _ in prepared]
    fused = nll is not None and run.kind != TEXT and hasattr(backend, "generate_scoring")
    if not runs:
        return generated, scored
    if fused:
        texts = [
            reference_of(run, prepared[k].item, references) if role in SCORED_ROLES else None
            for k, role, _ in runs
        ]
        answers, scores = backend.generate_scoring([r for _, _, r in runs], texts, **settings)
    else:
        answers, scores = backend.generate([r for _, _, r in runs], **settings), [None] * len(runs)
    for (k, role, _), answer, score in zip(runs, answers, scores, strict=True):
        generated[k][role] = answer
        if score is not None:
            scored[k][role] = score
    if nll is not None and not fused:
        requests = [
            (k, role, r, generated[k]["main"] if run.kind == TEXT else reference_of(run, p.item, references))
            for k, p in enumerate(prepared)
            for role, r in p.runs.items()
            if role in SCORED_ROLES
        ]
        requests = [request for request in requests if request[3]]
        scores = nll([(r, reference) for _, _, r, reference in requests]) if requests else []
        for (k, role, _, _), score in zip(requests, scores, strict=True):
            if score is not None:
                scored[k][role] = score
    return generated, scored


def answer_items(
    run: SystemRun,
    items: Sequence,
    backend,
    cache=None,
    configuration: str = "",
    max_new_tokens: int = 64,
    batch_size: int = 8,
    asr: Callable[[Any], str] | None = None,
    chunk_items: int | None = None,
    references: Mapping[str, str] | None = None,
    nll: Callable[[Sequence[tuple[Run, str]]], list[tuple[float, int] | None]] | None = None,
    control_items: int | None = None,
) -> list[Answer]:
    """Every item's answer, in item order: cached ones reused, the rest prepared, generated in batches and
    appended to ``cache`` (a ``TargetCache``) every ``chunk_items`` items (default ``4 * batch_size``).
    ``references`` (item id -> the ``text`` system's answer) and ``nll`` add the behaviour match (the text
    system scores its own answers); audio systems also answer the mismatched-audio control (on the first
    ``control_items`` items of each task; None: all)."""
    from tqdm import tqdm

    from speechalign.evaluate.behaviour import mismatched_partners

    partners = mismatched_partners(items, control_items) if run.kind in HEARS_AUDIO else {}
    keys = [item_key(run, item, configuration) for item in items]
    done: dict[str, Answer] = {}
    for key in keys:
        entry = cache.get(key) if cache is not None else None
        if entry is not None:
            done[key] = Answer(**entry["answer"])
    todo = [i for i, k in enumerate(keys) if k not in done]
    log.info("%s seed %d: %d answers cached, %d to generate", run.system, run.seed, len(done), len(todo))
    chunk_items = chunk_items or 4 * batch_size
    with tqdm(total=len(todo), desc=f"{run.system} seed{run.seed}", unit="item", mininterval=2) as bar:
        for first in range(0, len(todo), chunk_items):
            chunk = todo[first : first + chunk_items]
            prepared = [prepare(run, items[i], backend, asr, partners.get(items[i].id)) for i in chunk]
            generated, scored = generate_chunk(
                run, prepared, backend, references, nll, max_new_tokens=max_new_tokens, batch_size=batch_size
            )
            answers = [to_answer(run, p, g) for p, g in zip(prepared, generated, strict=True)]
            new = {keys[i]: with_reference_nlls(a, s) for i, a, s in zip(chunk, answers, scored, strict=True)}
            if cache is not None:
                cache.add_many({"key": k, "answer": asdict(a)} for k, a in new.items())
            done |= new
            bar.update(len(chunk))
    return [done[k] for k in keys]


def write_answers(path: str | os.PathLike, answers: Sequence[Answer]) -> None:
    """The answers as JSONL, atomically (the stage's DVC-tracked output)."""
    from speechalign.io import write_text

    write_text(
        path, "".join(json.dumps(asdict(a), ensure_ascii=False, sort_keys=True) + "\n" for a in answers)
    )


def read_answers(path: str | os.PathLike) -> list[Answer]:
    path = Path(path)
    if not path.is_file():
        raise UserFacingError(
            f"{path} is missing; run `snakemake --cores 1 evaluate` to answer the benchmark"
        )
    return [
        Answer(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def whisper_asr(whisper: str, recogniser: str = "faster-whisper", threads: int = 2) -> Callable[[Any], str]:
    """Whisper ASR of a 16 kHz waveform with the reference stage's decoding settings (greedy, English)."""
    from speechalign.reference.aligners import AlignerSettings, align

    settings = AlignerSettings(whisper=whisper, threads=threads)

    def transcribe(wave) -> str:
        return align(recogniser, wave, 16000, "", settings).text

    return transcribe
