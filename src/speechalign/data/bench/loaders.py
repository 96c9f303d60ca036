"""The real spoken benchmarks, read from their published layouts into :class:`BenchItem`s, so a system
answers them exactly as it answers the embedded suite. Each builds a corpus folder like ``bench``:
``items.jsonl`` + lhotse manifests + rejects.jsonl + card.json (+ ``audio/`` for VoiceBench).

**VoiceBench** (Chen et al. 2024; the Hugging Face dataset ``hlt-lab/voicebench`` as the download stage
fetches it): ``<root>/<subset>/<split>-00000-of-00001.parquet``, one row per item with an ``audio`` struct
(``bytes``, ``path``: the datasets Audio feature), ``prompt`` (what the audio says) and per subset:

| subset | extra columns | our task | published score -> ours |
|---|---|---|---|
| alpacaeval, commoneval, wildvoice | - | agreement | GPT judge 1-5 -> SBERT cosine to the text-run answer |
| sd-qa | reference | sqa | GPT judge + PEDANT -> gold contained + token F1 |
| openbookqa, mmsu | reference (letter) | mcq | template match, random guess if unparsed -> unparsed = wrong |
| ifeval | key, instruction_id_list, kwargs | ifeval | mean of IFEval's 4 accuracies -> the 4 and their mean |
| bbh | id, reference | bbh | phrase rules, random guess if unparsed -> unparsed = wrong |
| advbench | - | refusal | refusal substrings (ours, English) |

The audio alone is the instruction (``prompt`` of the item is empty), as VoiceBench runs it; the text run
reads the ``prompt`` column. Audio is decoded, resampled to ``sample_rate`` and stored as FLAC.

**AIR-Bench foundation** (Yang et al. 2024; ``qyang1021/AIR-Bench-Dataset``): ``<root>/Foundation_meta.json``,
a list of ``{path, question, choice_a, choice_b, choice_c?, choice_d?, answer_gt, task_name, dataset_name,
uniq_id}``, the clips at ``<root>/<task_name>_<dataset_name>/<path>``. Only the speech tasks named in params
are loaded; speaker gender, emotion and age are ``paralinguistic`` items, the other speech tasks ``mcq``.
The prompt is the published foundation prompt (instruction line, question, lettered options), listing only
the options an item has (the published script prints ``None`` for absent ones). The reference letter is
the option whose text equals ``answer_gt``. Published scoring reads the first character (or the one before a
final full stop) and drops unparsed answers from the denominator; ours parses strictly and counts them
wrong. Clips are referenced in place (not copied).

    load_benchmark("voicebench", "data/raw/voicebench", "data/corpora/voicebench", params)
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from speechalign.data.manifest import Rejection, audio_problem
from speechalign.errors import UserFacingError
from speechalign.io import atomic_path, write_json
from speechalign.metrics.bench.items import LETTERS, BenchItem, invalid_reason, write_items

log = logging.getLogger(__name__)

BENCHMARKS = ("voicebench", "airbench")
VOICEBENCH_TASKS = {
    "alpacaeval": "agreement",
    "commoneval": "agreement",
    "wildvoice": "agreement",
    "sd-qa": "sqa",
    "openbookqa": "mcq",
    "mmsu": "mcq",
    "ifeval": "ifeval",
    "bbh": "bbh",
    "advbench": "refusal",
}
AIRBENCH_PARALINGUISTIC = (
    "Speaker_Gender_Recognition",
    "Speaker_Emotion_Recontion",
    "Speaker_Age_Prediction",
)
AIRBENCH_INSTRUCTION = (
    "Choose the most suitable answer from options A, B, C, and D to respond the question in next line, "
    "you may only choose A or B or C or D."
)


class BenchmarkLayoutError(UserFacingError):
    """A benchmark folder is not in its published layout."""


# ---- VoiceBench ----


def _decode(data: bytes, sample_rate: int) -> np.ndarray:
    import soundfile as sf

    from speechalign.audio import resample

    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate, sample_rate)


def _ifeval_rules(ids: list[str], kwargs: list[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """IFEval kwargs per instruction, empty values dropped (parquet stores the union of all keys, None
    where a key does not apply; the published checker drops falsy values too)."""
    if len(ids) != len(kwargs):
        raise ValueError(f"{len(ids)} instruction ids but {len(kwargs)} kwargs")
    return tuple(
        {"id": i} | {k: v for k, v in (kw or {}).items() if v not in (None, "", [])}
        for i, kw in zip(ids, kwargs, strict=True)
    )


def _mcq_options(prompt: str) -> tuple[str, ...]:
    """Option texts spoken in an MCQ prompt ("... A. text B. text ..."), or () when not found."""
    parts = re.split(r"(?:^|\s)([A-J])[.)]\s+", prompt)
    letters, texts = parts[1::2], [t.strip() for t in parts[2::2]]
    if len(letters) >= 2 and "".join(letters) == LETTERS[: len(letters)] and all(texts):
        return tuple(texts)
    return ()


def voicebench_item(subset: str, split: str, row: int, record: Mapping[str, Any], audio: str) -> BenchItem:
    task = VOICEBENCH_TASKS[subset]
    spoken = record.get("prompt") or ""
    reference = str(record.get("reference") or "").strip()
    meta: dict[str, Any] = {
        "benchmark": "voicebench",
        "voicebench_subset": subset,
        "split": split,
        "row": row,
    }
    references: tuple[str, ...] = (reference,) if reference else ()
    choices: tuple[str, ...] = ()
    rules: tuple[dict[str, Any], ...] = ()
    if task == "mcq":
        # VoiceBench scores letters A-D; the options are spoken, their texts read from the prompt when it
        # lists them, else the letters stand for them
        choices = _mcq_options(spoken) or tuple(LETTERS[:4])
        references = (reference.strip("()").upper(),)
    elif task == "ifeval":
        rules = _ifeval_rules(list(record["instruction_id_list"]), list(record["kwargs"]))
        meta["key"] = record.get("key")
    elif task == "bbh":
        meta["bbh_task"] = str(record.get("id", ""))
    return BenchItem(
        id=f"voicebench-{subset}-{split}-{row:05d}",
        task=task,
        subset=f"voicebench/{subset}",
        audio=audio,
        spoken=spoken,
        prompt="",
        references=references,
        choices=choices,
        rules=rules,
        metadata=meta,
    )


def read_voicebench(root: Path, audio_dir: Path, sample_rate: int) -> tuple[list[BenchItem], list[Rejection]]:
    """Every subset folder under ``root`` with a known subset name; audio written to ``audio_dir``."""
    import pyarrow.parquet as pq
    import soundfile as sf

    files = sorted(root.glob("*/*.parquet"))
    unknown = sorted({f.parent.name for f in files} - set(VOICEBENCH_TASKS))
    if not files:
        raise BenchmarkLayoutError(f"{root}: no <subset>/<split>-*.parquet files (VoiceBench's layout)")
    items, rejections = [], []
    for name in unknown:
        rejections.append(
            Rejection(name, f"voicebench:{name}", "unknown VoiceBench subset", str(root / name))
        )
    for path in files:
        subset, split = path.parent.name, path.name.split("-")[0]
        if subset not in VOICEBENCH_TASKS:
            continue
        table = pq.read_table(path)
        if not {"audio", "prompt"} <= set(table.column_names):
            raise BenchmarkLayoutError(f"{path}: columns {table.column_names} lack audio and prompt")
        for row, record in enumerate(table.to_pylist()):
            item_id = f"voicebench-{subset}-{split}-{row:05d}"
            try:
                audio = _decode(record["audio"]["bytes"], sample_rate)
                target = audio_dir / subset / f"{split}-{row:05d}.flac"
                target.parent.mkdir(parents=True, exist_ok=True)
                sf.write(target, audio, sample_rate, subtype="PCM_16")
                item = voicebench_item(subset, split, row, record, str(target))
            except Exception as err:  # a corrupt clip or row is one rejection, not a failed stage
                rejections.append(
                    Rejection(item_id, f"voicebench:{subset}", "unreadable row", f"{err}"[:200])
                )
                continue
            items.append(item)
    return items, rejections


# ---- AIR-Bench foundation ----

AIRBENCH_FIELDS = (
    "path",
    "question",
    "choice_a",
    "choice_b",
    "answer_gt",
    "task_name",
    "dataset_name",
    "uniq_id",
)


def airbench_item(root: Path, record: Mapping[str, Any]) -> BenchItem:
    """One foundation question; ValueError says why it cannot be one."""
    missing = [k for k in AIRBENCH_FIELDS if record.get(k) in (None, "")]
    if missing:
        raise ValueError(f"missing fields {missing}")
    choices = tuple(
        str(record[k]).strip() for k in ("choice_a", "choice_b", "choice_c", "choice_d") if record.get(k)
    )
    truth = str(record["answer_gt"]).strip()
    if truth not in choices:
        raise ValueError(f"answer_gt {truth!r} is none of the options {choices}")
    task, dataset = record["task_name"], record["dataset_name"]
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return BenchItem(
        id=f"airbench-{record['uniq_id']}",
        task="paralinguistic" if task in AIRBENCH_PARALINGUISTIC else "mcq",
        subset=f"airbench/{task}",
        audio=str(root / f"{task}_{dataset}" / record["path"]),
        spoken="",  # foundation clips come without transcripts: no text run
        prompt=f"{AIRBENCH_INSTRUCTION}\n{record['question']}\n{options}",
        references=(LETTERS[choices.index(truth)],),
        choices=choices,
        metadata={"benchmark": "airbench", "task_name": task, "dataset_name": dataset, "label": truth},
    )


def read_airbench(root: Path, tasks: list[str]) -> tuple[list[BenchItem], list[Rejection]]:
    meta = root / "Foundation_meta.json"
    if not meta.is_file():
        raise BenchmarkLayoutError(
            f"{meta} is missing (AIR-Bench foundation's layout: Foundation/Foundation_meta.json)"
        )
    try:
        records = json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BenchmarkLayoutError(f"{meta}: not JSON ({err.msg})") from err
    if not isinstance(records, list):
        raise BenchmarkLayoutError(f"{meta}: expected a list of questions")
    items, rejections = [], []
    for number, record in enumerate(records):
        if record.get("task_name") not in tasks:
            continue
        item_id = f"airbench-{record.get('uniq_id', number)}"
        try:
            item = airbench_item(root, record)
        except ValueError as err:
            rejections.append(Rejection(item_id, "airbench", "invalid meta record", str(err)[:200]))
            continue
        problem = audio_problem(item.audio)
        if problem:
            rejections.append(Rejection(item_id, "airbench", problem.split(":")[0], item.audio))
            continue
        items.append(item)
    return items, rejections


# ---- writing ----


def _duration(path: str) -> float:
    import soundfile as sf

    info = sf.info(path)
    return info.frames / info.samplerate


def _validated(
    items: list[BenchItem], rejections: list[Rejection], benchmark: str, max_duration: float
) -> tuple[list[BenchItem], float]:
    """Valid items no longer than ``max_duration``, and their total duration in seconds."""
    kept, seconds = [], 0.0
    for item in items:
        reason = invalid_reason(item)
        duration = _duration(item.audio) if reason is None else 0.0
        if reason is None and duration > max_duration:
            reason = f"audio longer than {max_duration:g} s"
        if reason is None:
            kept.append(item)
            seconds += duration
        else:
            rejections.append(Rejection(item.id, benchmark, "invalid benchmark item", reason))
    return kept, seconds


def benchmark_card(name: str, items: list[BenchItem], rejections: list[Rejection], seconds: float) -> dict:
    from collections import Counter

    from speechalign.data.bench.suite import items_card

    return {
        "corpus": name,
        "items": items_card(items),
        "hours": round(seconds / 3600, 4),
        "rejected": len(rejections),
        "rejected_by_reason": dict(sorted(Counter(r.reason for r in rejections).items())),
    }


def benchmark_card_markdown(card: Mapping[str, Any]) -> str:
    lines = [
        f"# Benchmark card: {card['corpus']}",
        "",
        f"- items: {sum(sum(s.values()) for s in card['items'].values())} ({card['hours']:.3f} h of audio)",
        f"- rejected: {card['rejected']} {json.dumps(card['rejected_by_reason'])}",
        "",
        "| task | subset | items |",
        "|---|---|---|",
    ]
    for task, subsets in card["items"].items():
        lines += [f"| {task} | {subset} | {n} |" for subset, n in subsets.items()]
    return "\n".join(lines) + "\n"


def _final_path(path: str, staged: Path, out: Path) -> str:
    """Where a file written into the staged folder will be once the folder is moved into place."""
    p = Path(path)
    return str(out.resolve() / p.relative_to(staged)) if p.is_relative_to(staged) else path


def load_benchmark(
    benchmark: str, root: str | Path, out: str | Path, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Read a real benchmark from its published layout into ``out`` (items.jsonl, rejects.jsonl,
    card.json, audio/ for VoiceBench), atomically; return the card (item counts per task and subset).
    No lhotse manifest: the clips have no word times, and AIR-Bench's no transcripts."""
    from dataclasses import replace

    from speechalign.data.bench.suite import ITEMS
    from speechalign.data.manifest import write_rejects

    root, out = Path(root), Path(out)
    if benchmark not in BENCHMARKS:
        raise BenchmarkLayoutError(f"unknown benchmark {benchmark!r}; known: {', '.join(BENCHMARKS)}")
    if not root.is_dir():
        raise BenchmarkLayoutError(
            f"{root} is not a folder: download it (snakemake download) or fix data.real"
        )
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        if benchmark == "voicebench":
            items, rejections = read_voicebench(root, staged / "audio", params["sample_rate"])
        else:
            items, rejections = read_airbench(root.resolve(), list(params["airbench_tasks"]))
        items, seconds = _validated(items, rejections, benchmark, params["max_duration"])
        if not items:
            reasons = [r.reason for r in rejections[:3]]
            raise BenchmarkLayoutError(f"{benchmark}: no usable item under {root}; first reasons: {reasons}")
        kept_audio = {i.audio for i in items}
        for clip in (staged / "audio").rglob("*.flac"):  # no orphan audio for rejected VoiceBench rows
            if str(clip) not in kept_audio:
                clip.unlink()
        final = [replace(i, audio=_final_path(i.audio, staged, out)) for i in items]
        write_items(staged / ITEMS, final, relative_to=out)
        write_rejects(staged / "rejects.jsonl", rejections)
        card = benchmark_card(benchmark, items, rejections, seconds)
        write_json(staged / "card.json", card)
    log.info("%s: %d items, %d rejected", benchmark, len(items), len(rejections))
    return card
