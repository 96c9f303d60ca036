"""The embedded spoken benchmark suite: the ``bench`` corpus of the data stage.

``data/corpora/bench/`` is a corpus folder like the others (lhotse manifests of the synthesised questions,
rejects.jsonl, card.json, audio/) plus ``items.jsonl``, the benchmark items
(:mod:`speechalign.metrics.bench.items`) of five tasks:

- ``mcq``, ``ifeval``, ``agreement``: questions written here (:mod:`speechalign.data.bench.questions`),
  spoken by the embedded voices in turn (plain prosody), deterministic for the seed;
- ``sqa``: the sqa corpus's test passages (the passage audio, the question in text);
- ``paralinguistic``: the paralinguistic corpus's test utterances (held-out voices), each asked two
  questions in the AIR-Bench foundation manner, the question and options in text: the speaker's gender,
  and the emotion class its prosody style stands in for (no emotional speech can be synthesised offline:
  the subset is named ``prosody`` and measures sensitivity to prosody, not emotion recognition).

    speechalign data build --corpus bench --out data/corpora/bench --card results/data/bench.md --seed 0

Items whose synthesis fails or whose audio is longer than ``data.max_duration`` are rejected with the
reason (rejects.jsonl), as are invalid items; nothing is dropped silently.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from speechalign.data.bench.questions import (
    MCQ_SUBSETS,
    Question,
    agreement_requests,
    ifeval_question,
    mcq_question,
)
from speechalign.data.corpora import (
    CorpusError,
    Plan,
    Style,
    Voice,
    render_all,
    styles_from_params,
    voices_from_params,
)
from speechalign.data.manifest import Rejection, Utterance, partition, read_manifest, write_manifest_files
from speechalign.io import atomic_path, write_json
from speechalign.metrics.bench.items import LETTERS, BenchItem, invalid_reason, write_items

log = logging.getLogger(__name__)

ITEMS = "items.jsonl"
SOURCE = "embedded:bench:template"
GENDERS = ("female", "male")
EMOTIONS = ("neutral", "happy", "angry", "sad")


def written_questions(cfg: Mapping[str, Any], seed: int) -> list[tuple[str, Question]]:
    """(task, question) for the mcq, ifeval and agreement items, distinct texts, in a fixed order."""
    rng = random.Random(f"bench-{seed}")
    subsets = list(MCQ_SUBSETS)
    chosen: list[tuple[str, Question]] = []
    seen: set[str] = set()

    def add(task: str, make: Callable[[int], Question], count: int) -> None:
        tries = 0
        while sum(t == task for t, _ in chosen) < count:
            question = make(len(chosen))
            tries += 1
            if tries > 50 * count + 100:
                raise CorpusError(
                    f"bench: cannot write {count} distinct {task} questions; lower data.bench.{task}"
                )
            if question.text not in seen:
                seen.add(question.text)
                chosen.append((task, question))

    add("mcq", lambda k: mcq_question(rng, subsets[k % len(subsets)]), cfg["mcq"])
    add("ifeval", lambda k: ifeval_question(rng), cfg["ifeval"])
    requests = agreement_requests()
    if cfg["agreement"] > len(requests):
        raise CorpusError(
            f"data.bench.agreement={cfg['agreement']} but only {len(requests)} requests are written"
        )
    for text in rng.sample(requests, cfg["agreement"]):
        chosen.append(("agreement", Question("requests", text)))
    return chosen


def plan_written(
    cfg: Mapping[str, Any], seed: int, voices: list[Voice], plain: Style
) -> list[tuple[Plan, str, Question]]:
    """One synthesis plan per written question, voices in turn."""
    plans = []
    for k, (task, question) in enumerate(written_questions(cfg, seed)):
        plan = Plan(
            id=f"bench-{task}-{k:05d}",
            text=question.text,
            voice=voices[k % len(voices)],
            style=plain,
            split="test",
            source=SOURCE,
            extra={"task": task, "subset": question.subset},
        )
        plans.append((plan, task, question))
    return plans


def written_item(
    task: str, question: Question, utt: Utterance, instructions: Mapping[str, str], audio_dir: Path
) -> BenchItem:
    """The item of a synthesised question; its audio where the corpus folder will finally be."""
    prompt = instructions["mcq"] if task == "mcq" else ""
    return BenchItem(
        id=utt.id,
        task=task,
        subset=question.subset,
        audio=str(audio_dir / Path(utt.audio_path).name),
        spoken=utt.text,
        prompt=prompt,
        references=(question.answer,) if question.answer else (),
        choices=question.choices,
        rules=question.rules,
        metadata={"voice": utt.voice, "speaker": utt.speaker, "duration": round(utt.duration, 3)}
        | dict(question.metadata),
    )


def _test_utterances(folder: Path, limit: int | None) -> list[Utterance]:
    utts = sorted((u for u in read_manifest(folder) if u.split == "test"), key=lambda u: u.id)
    return utts if limit is None else utts[:limit]


def sqa_items(folder: Path, limit: int | None, instructions: Mapping[str, str]) -> list[BenchItem]:
    """The sqa corpus's test passages: the passage audio, the question in text."""
    return [
        BenchItem(
            id=f"bench-sqa-{u.id}",
            task="sqa",
            subset="passages",
            audio=u.audio_path,
            spoken=u.text,
            prompt=instructions["sqa"].format(question=u.question),
            references=(u.answer,),
            metadata={"corpus": "sqa", "utterance": u.id, "voice": u.voice, "duration": round(u.duration, 3)},
        )
        for u in _test_utterances(folder, limit)
        if u.question and u.answer
    ]


def choice_prompt(template: str, question: str, choices: tuple[str, ...]) -> str:
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return template.format(question=question, options=options)


def paralinguistic_items(
    folder: Path, limit: int | None, instructions: Mapping[str, str], seed: int
) -> list[BenchItem]:
    """Two questions per test utterance: speaker gender and prosody class (options in a drawn order)."""
    rng = random.Random(f"bench-paralinguistic-{seed}")
    template = instructions["paralinguistic"]
    items = []
    for u in _test_utterances(folder, limit):
        meta = {
            "corpus": "paralinguistic",
            "utterance": u.id,
            "voice": u.voice,
            "prosody_style": u.prosody_style,
        }
        asked = [
            ("gender", "What is the gender of the speaker?", GENDERS, u.gender),
            ("prosody", "Which emotion does the speaker's voice express?", EMOTIONS, u.emotion),
        ]
        for subset, question, options, truth in asked:
            if truth is None:
                continue
            choices = tuple(rng.sample(options, len(options)))
            items.append(
                BenchItem(
                    id=f"bench-{subset}-{u.id}",
                    task="paralinguistic",
                    subset=subset,
                    audio=u.audio_path,
                    spoken=u.text,
                    prompt=choice_prompt(template, question, choices),
                    references=(LETTERS[choices.index(truth)],),
                    choices=choices,
                    metadata=meta | {"label": truth},
                )
            )
    return items


def _keep_valid(items: list[BenchItem], rejections: list[Rejection], source: str) -> list[BenchItem]:
    kept = []
    for item in items:
        reason = invalid_reason(item)
        if reason is None:
            kept.append(item)
        else:
            rejections.append(Rejection(item.id, source, "invalid benchmark item", reason))
    return kept


def items_card(items: list[BenchItem]) -> dict[str, dict[str, int]]:
    """Items per task and subset."""
    counts: dict[str, dict[str, int]] = {}
    for (task, subset), n in sorted(Counter((i.task, i.subset) for i in items).items()):
        counts.setdefault(task, {})[subset] = n
    return counts


def build_bench(
    params: Mapping[str, Any],
    seed: int,
    out: str | Path,
    workers: int = 1,
    sqa: str | Path | None = None,
    paralinguistic: str | Path | None = None,
) -> dict[str, Any]:
    """Synthesise the written questions, gather the sqa and paralinguistic test items, validate, and write
    the bench corpus folder atomically; return its data card (with item counts per task and subset).
    ``sqa`` and ``paralinguistic`` are those corpora's folders (default: beside ``out``)."""
    cfg, out = params["bench"], Path(out)
    sqa = Path(sqa) if sqa else out.parent / "sqa"
    paralinguistic = Path(paralinguistic) if paralinguistic else out.parent / "paralinguistic"
    styles = styles_from_params(params)
    plain = next((s for s in styles if s.emotion == "neutral"), styles[0])
    planned = plan_written(cfg, seed, voices_from_params(params), plain)
    instructions = cfg["instructions"]
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        results = render_all([p for p, _, _ in planned], staged / "audio", params["sample_rate"], workers)
        rendered = [r for r in results if isinstance(r, Utterance)]
        rejections = [r for r in results if isinstance(r, Rejection)]
        kept, invalid = partition(rendered, max_duration=params["max_duration"], check_audio=True)
        rejections += invalid
        by_id = {u.id: u for u in kept}
        final_audio = out.resolve() / "audio"
        written = [
            written_item(t, q, by_id[p.id], instructions, final_audio) for p, t, q in planned if p.id in by_id
        ]
        items = _keep_valid(written, rejections, SOURCE)
        for r in rejections:  # no orphan audio for rejected items
            (staged / "audio" / f"{r.id}.flac").unlink(missing_ok=True)
        kept = [u for u in kept if u.id in {i.id for i in items}]
        items += _keep_valid(sqa_items(sqa, cfg["sqa"], instructions), rejections, "embedded:sqa")
        items += _keep_valid(
            paralinguistic_items(paralinguistic, cfg["paralinguistic"], instructions, seed),
            rejections,
            "embedded:paralinguistic",
        )
        if not items:
            raise CorpusError(f"bench: no item survived; first reasons: {[r.reason for r in rejections[:3]]}")
        card = write_manifest_files(staged, kept, rejections, "bench")
        card["items"] = items_card(items)
        write_json(staged / "card.json", card)
        write_items(staged / ITEMS, items, relative_to=out)
    log.info("bench: %d items (%d synthesised), %d rejected", len(items), len(kept), len(rejections))
    return card
