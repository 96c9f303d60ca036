"""One item format for every spoken benchmark: the embedded suite (``data/corpora/bench/items.jsonl``) and
the real benchmarks' loaders (VoiceBench, AIR-Bench foundation) all produce :class:`BenchItem`, so a system
answers any of them the same way:

- the **speech run** hears ``audio`` and reads ``prompt`` (empty: the audio alone is the instruction);
- the **text run** (the text-only upper bound) reads ``spoken`` (what the audio says) and then ``prompt``.

``task`` says how an answer is scored (:mod:`speechalign.metrics.bench.scorers`); ``subset`` says where the
item comes from (``arithmetic``, ``voicebench/openbookqa``, ``airbench/Speaker_Gender_Recognition``, ...).

    >>> items = read_items("data/corpora/bench/items.jsonl")   # doctest: +SKIP
    >>> items[0].task, items[0].subset, items[0].references    # doctest: +SKIP
    ('mcq', 'arithmetic', ('B',))

Several suites (params ``evaluate.suites``: ``data/corpora/<suite>/items.jsonl``) are read together by
:func:`read_suites`; an item id may occur in one suite only (answers and scores are keyed by id).

Audio paths are stored relative to the items file's folder when they lie under it (or next to it, as
``../sqa/audio/...``) and resolved to absolute paths on reading.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechalign.errors import UserFacingError
from speechalign.io import atomic_path

# How an answer is scored (speechalign.metrics.bench.scorers.SCORERS has one scorer per task):
# mcq: a strictly parsed option letter; ifeval: verifiable rules; sqa: gold contained + token F1;
# paralinguistic: a letter among speaker-trait options; agreement: SBERT cosine of the speech-run answer
# and the text-run answer; bbh: VoiceBench's BIG-Bench Hard answers (yes/no, option letters, true/false);
# refusal: VoiceBench AdvBench (refusal substrings; higher = safer).
TASKS = ("mcq", "ifeval", "sqa", "paralinguistic", "agreement", "bbh", "refusal")
LETTERS = "ABCDEFGHIJ"
# Tasks whose references are option letters, one per item, within the item's choices.
LETTER_TASKS = ("mcq", "paralinguistic")


class ItemError(UserFacingError):
    """A benchmark item or items file is malformed."""


@dataclass(frozen=True)
class BenchItem:
    """One benchmark question.

    ``references`` are the accepted answers: the option letter for mcq / paralinguistic, the gold answers
    for sqa (any may match), ``yes``/``no``, a letter or ``true``/``false`` for bbh, none for ifeval,
    agreement and refusal. ``rules`` are ifeval's verifiable rules, each ``{"id": <IFEval instruction id>,
    **kwargs}``. ``metadata`` holds provenance (source corpus, voice, prosody style, the emotion class a
    prosody style stands in for, ...); scorers never read it, except bbh's ``bbh_task``.
    """

    id: str
    task: str
    subset: str
    audio: str | None  # the audio file (absolute after reading); None: a text-only item
    spoken: str  # what the audio says (the text run's input); "" for clips without transcript (no text run)
    prompt: str = ""  # text given alongside the audio in the speech run, after ``spoken`` in the text run
    references: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()  # option texts, in letter order (A, B, ...)
    rules: tuple[Mapping[str, Any], ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """The canonical reference answer ("" when the task has none)."""
        return self.references[0] if self.references else ""


def invalid_reason(item: BenchItem) -> str | None:
    """Why ``item`` cannot be scored, or None when it is valid."""
    if not item.id or not item.id.strip():
        return "empty id"
    if item.task not in TASKS:
        return f"unknown task {item.task!r} (known: {', '.join(TASKS)})"
    if not item.subset:
        return "empty subset"
    if not item.spoken.strip() and (item.audio is None or item.task == "agreement"):
        return "empty spoken text"  # only a clip without a transcript (AIR-Bench) may lack it
    if item.task in LETTER_TASKS:
        if not 2 <= len(item.choices) <= len(LETTERS):
            return f"{item.task} needs 2-{len(LETTERS)} choices, got {len(item.choices)}"
        if any(not c.strip() for c in item.choices):
            return "empty choice text"
        if len({c.strip().lower() for c in item.choices}) != len(item.choices):
            return "duplicate choices"
        if len(item.references) != 1 or item.references[0] not in LETTERS[: len(item.choices)]:
            return f"reference {item.references} is not one letter among the {len(item.choices)} choices"
    if item.task in ("sqa", "bbh") and not any(r.strip() for r in item.references):
        return f"{item.task} needs a non-empty reference answer"
    if item.task == "ifeval":
        if not item.rules:
            return "ifeval needs at least one rule"
        from speechalign.metrics.bench.ifeval import rule_problem

        for rule in item.rules:
            problem = rule_problem(rule)
            if problem:
                return problem
    return None


def validate(items: Iterable[BenchItem]) -> list[BenchItem]:
    """The items, or an ItemError naming the first invalid one (and duplicate ids)."""
    seen: set[str] = set()
    checked = []
    for item in items:
        reason = invalid_reason(item)
        if reason is None and item.id in seen:
            reason = "duplicate id"
        if reason is not None:
            raise ItemError(f"benchmark item {item.id!r}: {reason}")
        seen.add(item.id)
        checked.append(item)
    return checked


def _relative(path: str | None, folder: Path) -> str | None:
    if path is None:
        return None
    absolute = Path(path).resolve()
    try:
        return os.path.relpath(absolute, folder.resolve())
    except ValueError:  # another drive (Windows): keep it absolute
        return str(absolute)


def _json_safe(value: Any) -> Any:
    """Plain JSON: NaN becomes null (so a reader never meets a non-standard token)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def item_to_dict(item: BenchItem, folder: Path | None = None) -> dict[str, Any]:
    audio = _relative(item.audio, folder) if folder is not None else item.audio
    return _json_safe(
        {
            "id": item.id,
            "task": item.task,
            "subset": item.subset,
            "audio": audio,
            "spoken": item.spoken,
            "prompt": item.prompt,
            "references": list(item.references),
            "choices": list(item.choices),
            "rules": [dict(r) for r in item.rules],
            "metadata": dict(item.metadata),
        }
    )


REQUIRED_FIELDS = ("id", "task", "subset", "audio", "spoken")


def item_from_dict(row: Mapping[str, Any], folder: Path | None = None) -> BenchItem:
    missing = [k for k in REQUIRED_FIELDS if k not in row]
    if missing:
        raise ItemError(f"benchmark item {row.get('id', '?')!r} lacks fields {missing}")
    audio = row["audio"]
    if audio is not None and folder is not None and not Path(audio).is_absolute():
        audio = str((folder / audio).resolve())
    return BenchItem(
        id=str(row["id"]),
        task=row["task"],
        subset=row["subset"],
        audio=audio,
        spoken=row["spoken"],
        prompt=row.get("prompt") or "",
        references=tuple(row.get("references") or ()),
        choices=tuple(row.get("choices") or ()),
        rules=tuple(row.get("rules") or ()),
        metadata=row.get("metadata") or {},
    )


def write_items(
    path: str | os.PathLike, items: Sequence[BenchItem], relative_to: str | os.PathLike | None = None
) -> None:
    """Validate and write items as JSONL, atomically; audio paths relative to the folder the file will be
    read from: ``relative_to``, default the file's folder (give the final folder when ``path`` is staged)."""
    path = Path(path)
    folder = Path(relative_to) if relative_to is not None else path.parent
    validate(items)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item_to_dict(item, folder), ensure_ascii=False, allow_nan=False) + "\n")


def read_items(path: str | os.PathLike) -> list[BenchItem]:
    """The validated items of a JSONL file, audio paths resolved against the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise ItemError(f"{path} is missing; build the suite with `snakemake --cores 1 data`")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ItemError(f"{path}:{number}: not JSON ({err.msg})") from err
        items.append(item_from_dict(row, path.parent.resolve()))
    return validate(items)


def suite_name(path: str | os.PathLike) -> str:
    """A suite's name: the folder its items file lies in (``data/corpora/<suite>/items.jsonl``)."""
    return Path(path).resolve().parent.name


def read_suites(paths: Sequence[str | os.PathLike]) -> dict[str, list[BenchItem]]:
    """The validated items of several suites' files, by suite name in the given order.

    Answers and scores are keyed by item id, so an id in two suites (or two files of one name) is an ItemError
    naming the id and both files. The loaders prefix their ids (``bench-``, ``voicebench-``, ``airbench-``),
    so only a hand-made suite can collide; it must rename its ids rather than have them silently merged."""
    suites: dict[str, list[BenchItem]] = {}
    first_file: dict[str, Path] = {}
    for path in map(Path, paths):
        name = suite_name(path)
        if name in suites:
            raise ItemError(f"two items files of suite {name!r} ({path}); give each suite once")
        items = read_items(path)
        for item in items:
            if item.id in first_file:
                raise ItemError(
                    f"benchmark item {item.id!r} is in both {first_file[item.id]} and {path}: item ids must"
                    " be unique across suites (rename the ids of one suite)"
                )
            first_file[item.id] = path
        suites[name] = items
    return suites
