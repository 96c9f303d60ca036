"""ALAS on your own speech LLM and audio, outside the pipeline: no corpus build, no responses file.

For each recording and its transcript: word times from an aligner (params ``reference.aligner``:
whisper-timestamped by default) carried over to the transcript's words, one prefill per run (the audio prompt
and the text prompt), and ALAS per layer under each normalisation asked for (the raw cosine and params
``alas.normalisation`` by default); then ALAS per layer pooled over the recordings, heatmap PNGs of a few
layers and one JSON. The SBERT agreement filter is optional (``--sbert``): it needs both runs' answers.

    speechalign alas run --model composed-untrained --audio a.wav b.wav --text "One." "Two." --out alas-run
    speechalign alas run --model data/sift/models/sift_s/seed0 --audio clips/ --out alas-run  # *.wav + *.txt
    speechalign alas run --model Qwen/Qwen2-Audio-7B-Instruct --manifest data/corpora/sqa --out alas-run

``--model`` is a name in params ``backends.models``, a SIFT checkpoint folder, or a Qwen2-Audio folder or hub
id. In Python, with a loaded backend and (here) word times given instead of aligned:

    >>> import numpy as np, tiny_models
    >>> backend = tiny_models.tiny_composed()
    >>> times = [(np.array([[0.1, 0.5], [0.6, 0.9]]), ["hello", "world"])]
    >>> run = alas_run(backend, [tiny_models.tone(1.0)], ["Hello world."], word_times=times,
    ...                normalisations=["cosine", "centred"])
    >>> sorted(run.layers), len(run.layers["cosine"]) == backend.num_hidden_states
    (['centred', 'cosine'], True)
    >>> entry = run.layers["centred"][0]
    >>> entry["layer"], entry["alas_tokens"] >= 0, run.utterances[0].results["cosine"].n_words
    (0, True, 2)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# The task text of both runs. With the default layout ("{speech}\n{task}") it follows the speech, so a causal
# LM's hidden states on the speech (all ALAS reads) do not depend on it; it matters to --sbert's answers.
DEFAULT_INSTRUCTION = "Repeat the above content."


@dataclass
class UtteranceAlas:
    """One recording: its word times; per normalisation its ALAS result and the figure layers' matrices."""

    id: str
    text: str
    words: list[str]
    word_times: np.ndarray  # (W, 2) seconds
    results: dict[str, Any] = field(default_factory=dict)  # normalisation -> metrics.alas.AlasResult
    figure_layers: list[int] = field(default_factory=list)
    similarity: dict[str, np.ndarray] = field(default_factory=dict)  # normalisation -> (K, A, T) float16
    answers: tuple[str, str] | None = None  # (audio run, text run), with --sbert
    agreement: float | None = None


@dataclass
class AlasRun:
    """Every recording's ALAS, the pooled per-layer scores per normalisation, and the rejections."""

    utterances: list[UtteranceAlas]
    layers: dict[str, list[dict[str, float]]]  # normalisation -> per layer, pooled (lower is better)
    rejected: list[dict[str, str]]


# --- inputs -------------------------------------------------------------------------------------------------
def clips_from_folder(folder: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """Every ``*.wav`` of ``folder`` (sorted) with the transcript in the ``.txt`` of the same name."""
    from speechalign.errors import UserFacingError

    waves = sorted(Path(folder).glob("*.wav"))
    missing = [w.name for w in waves if not w.with_suffix(".txt").is_file()]
    if not waves or missing:
        raise UserFacingError(
            f"{folder}: needs *.wav files each with a .txt transcript; lacking one: {missing}"
        )
    return waves, [w.with_suffix(".txt").read_text(encoding="utf-8").strip() for w in waves]


def aligned_words(
    wave: np.ndarray, rate: int, text: str, aligner: str, settings
) -> tuple[np.ndarray, list[str]]:
    """Word times ``(W, 2)`` of the transcript's words: ``aligner``'s words carried over to them (unmatched
    ones interpolated), as the reference stage builds its files (``speechalign.reference``)."""
    from speechalign.data.manifest import Utterance
    from speechalign.reference import align, match_words
    from speechalign.reference.build import transcript_words

    bare = Utterance("", "", rate, len(wave), text, speaker="", split="", source="alas-run")
    words = transcript_words(bare)
    match = match_words(words, align(aligner, wave, rate, " ".join(words), settings).words, len(wave) / rate)
    return np.array([(w.start, w.end) for w in match.words], dtype=np.float64), [w.text for w in match.words]


# --- the measurement ----------------------------------------------------------------------------------------
def pooled_layers(utterances: Sequence[UtteranceAlas], normalisation: str) -> list[dict[str, float]]:
    """Per layer, ALAS over all recordings as a ratio of sums (``metrics.alas.pooled_alas``: long recordings
    weigh more), in tokens and words, with the uniform path's score and the calibrated ratio."""
    from speechalign.metrics.alas import pooled_alas

    results = [u.results[normalisation] for u in utterances]
    rows = np.array([r.n_audio for r in results], dtype=np.float64)  # (U,)
    per_layer = {
        unit: np.stack([getattr(r.scores, unit) for r in results]) for unit in ("tokens", "words")
    }  # (U, L)
    pooled = {unit: [float(pooled_alas(v, rows)[0]) for v in values.T] for unit, values in per_layer.items()}
    uniform = {
        u: float(pooled_alas(np.array([getattr(r.scores, f"uniform_{u}") for r in results]), rows)[0])
        for u in ("tokens", "words")
    }
    return [
        {
            "layer": layer,
            "alas_tokens": pooled["tokens"][layer],
            "alas_words": pooled["words"][layer],
            "uniform_tokens": uniform["tokens"],
            "uniform_words": uniform["words"],
            "calibrated_tokens": float(
                pooled["tokens"][layer] / uniform["tokens"] if uniform["tokens"] else "nan"
            ),
        }
        for layer in range(len(pooled["tokens"]))
    ]


def alas_run(
    backend,
    waves: Sequence[np.ndarray | str | os.PathLike],
    texts: Sequence[str],
    word_times: Sequence[tuple[np.ndarray, Sequence[str]]] | None = None,
    normalisations: Sequence[str] = ("cosine",),
    ids: Sequence[str] | None = None,
    instruction: str = DEFAULT_INSTRUCTION,
    aligner: str = "whisper-timestamped",
    aligner_settings=None,
    components: int = 5,
    sbert=None,
    max_new_tokens: int = 40,
) -> AlasRun:
    """ALAS per layer of ``backend`` on each wave (samples at ``backend.sample_rate`` or a file path) and its
    transcript, under each of ``normalisations``. ``word_times``: per recording ``((W, 2) seconds, words)``;
    None: aligned with ``aligner`` (``speechalign.reference.AlignerSettings``). A fitted normalisation is
    fitted on these recordings' runs (label-free) with ``components``; ``sbert``: a SentenceTransformer
    to score the agreement of the two runs' greedy answers. A recording the backend cannot take is rejected
    with its reason, never dropped silently."""
    from speechalign.alas.measure import figure_layers, word_char_spans
    from speechalign.backends import BackendInputError
    from speechalign.backends.audio import load_wave
    from speechalign.metrics.alas import NORMALISATION_KINDS, fit_statistics, reference_path

    unknown = [n for n in normalisations if n not in NORMALISATION_KINDS]
    if unknown:
        raise ValueError(f"unknown normalisations {unknown}; registered: {sorted(NORMALISATION_KINDS)}")
    ids = list(ids) if ids is not None else [f"utt{i:03d}" for i in range(len(texts))]
    kept, states, rejected = [], [], []
    for i, (source, text) in enumerate(zip(waves, texts, strict=True)):
        try:
            wave = source if isinstance(source, np.ndarray) else load_wave(source, backend.sample_rate)
            runs = backend.audio_run(wave, instruction), backend.text_run(text, instruction)  # checks first
            if word_times is None:
                times, words = aligned_words(wave, backend.sample_rate, text, aligner, aligner_settings)
            else:
                times, words = word_times[i]
            audio = backend.prefill(runs[0])  # (L+1, A, D)
            text_states = backend.prefill(runs[1])  # (L+1, T, D)
            reference = reference_path(
                word_times=np.asarray(times, dtype=np.float64),
                word_char_spans=word_char_spans(text, list(words)),
                token_char_spans=runs[1].token_char_spans,
                n_audio=audio.shape[1],
                frame_seconds=backend.frame_seconds,
                offset_seconds=backend.offset_seconds,
            )
        except (BackendInputError, ValueError) as err:
            log.warning("%s not scored: %s", ids[i], err)
            rejected.append({"utterance": ids[i], "reason": str(err)})
            continue
        utt = UtteranceAlas(ids[i], text, list(words), np.asarray(times, dtype=np.float64))
        if sbert is not None:
            from speechalign.alas.respond import agreement

            utt.answers = tuple(backend.generate(list(runs), max_new_tokens, batch_size=2))
            utt.agreement = float(agreement(sbert, [utt.answers[0]], [utt.answers[1]])[0])
        kept.append(utt)
        states.append((audio, text_states, reference))
    fitted = any(NORMALISATION_KINDS[n] == "fitted" for n in normalisations)
    statistics = (
        fit_statistics([s[0] for s in states], [s[1] for s in states], components) if fitted else None
    )
    for utt, (audio, text_states, reference) in zip(kept, states, strict=True):
        score_utterance_all(utt, audio, text_states, reference, normalisations, statistics, figure_layers)
    layers = {n: pooled_layers(kept, n) for n in normalisations} if kept else {}
    return AlasRun(kept, layers, rejected)


def score_utterance_all(utt, audio, text, reference, normalisations, statistics, figure_layers) -> None:
    """Fill ``utt.results`` and the figure layers' similarity matrices under each normalisation."""
    from speechalign.metrics.alas import alas, similarity

    utt.figure_layers = figure_layers(audio.shape[0])
    for name in normalisations:
        utt.results[name] = alas(audio, text, reference, normalisation=name, statistics=statistics)
        sim = similarity(audio, text, name, statistics)  # (L, A, T)
        utt.similarity[name] = sim[utt.figure_layers].astype(np.float16)


# --- outputs ------------------------------------------------------------------------------------------------
def similarity_heatmaps(layers, sims, paths, reference, title: str = ""):
    """ALAS Figure 2 for one recording: the similarity matrix of each of ``layers`` (text tokens up, audio
    positions across; ``sims (K, A, T)``) with the reference path (white, ``reference (A,)``) and the MAS path
    (red, ``paths (L, A)``) drawn over it."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(layers), figsize=(3.0 * len(layers), 2.8), squeeze=False)
    for ax, layer, sim in zip(axes[0], layers, sims, strict=True):
        image = ax.imshow(
            np.asarray(sim, np.float32).T,
            origin="lower",
            aspect="auto",
            cmap="viridis",
            interpolation="nearest",
        )
        ax.plot(reference, color="white", lw=1.2, label="reference")
        ax.plot(paths[layer], color="red", lw=1.0, label="MAS")
        ax.set(title=f"layer {int(layer)}", xlabel="audio position")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    axes[0][0].set_ylabel("transcript token")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_heatmaps(run: AlasRun, folder: str | os.PathLike) -> list[Path]:
    """``<folder>/<id>.<normalisation>.png`` for every recording and normalisation."""
    import matplotlib.pyplot as plt

    from speechalign.io import atomic_path

    written = []
    for utt in run.utterances:
        for name, result in utt.results.items():
            title = f"{utt.id}, {name}: {utt.text[:60]}"
            fig = similarity_heatmaps(
                utt.figure_layers, utt.similarity[name], result.paths, result.reference.token_per_row, title
            )
            path = Path(folder) / f"{utt.id}.{name}.png"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=110)
            plt.close(fig)
            written.append(path)
    return written


def run_json(run: AlasRun, info: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON of a run: ``info`` (model, aligner, ...), per normalisation the pooled layers and the best
    layer, and per recording its words with times, its per-layer ALAS and its answers' agreement."""
    best = {n: min(rows, key=lambda r: r["alas_tokens"])["layer"] for n, rows in run.layers.items()}
    return {
        **info,
        "lower_is_better": True,
        "layers": run.layers,
        "best_layer": best,
        "utterances": [
            {
                "id": u.id,
                "text": u.text,
                "words": [
                    {"text": w, "start": float(s), "end": float(e)}
                    for w, (s, e) in zip(u.words, u.word_times, strict=True)
                ],
                "alas": {
                    n: [r.layer_scores(layer) for layer in range(r.n_layers)] for n, r in u.results.items()
                },
                "answers": list(u.answers) if u.answers else None,
                "agreement": u.agreement,
            }
            for u in run.utterances
        ],
        "rejected": run.rejected,
    }


# --- the command --------------------------------------------------------------------------------------------
def model_spec(backends: Mapping[str, Any], ref: str) -> dict[str, Any]:
    """The backend entry ``--model`` names: a name in params ``backends.models``; a SIFT checkpoint folder
    (composed, with the LM, encoder and layout it was trained with); else a Qwen2-Audio folder or hub id."""
    from speechalign.backends import backend_spec
    from speechalign.backends.checkpoint import CONFIG_FILE, read_checkpoint_config

    if ref in backends["models"]:
        return backend_spec(backends, ref)
    shared = {"system_prompt": backends["system_prompt"], "layout": backends["layout"]}
    if (Path(ref) / CONFIG_FILE).is_file():
        trained = read_checkpoint_config(ref)
        return shared | {
            "kind": "composed",
            "llm": trained.llm,
            "encoder": trained.encoder,
            "projector": ref,
            "layout": trained.layout,
        }
    return shared | {"kind": "qwen2-audio", "model": ref}


def add_run_arguments(parser) -> None:
    """The options of ``speechalign alas run``."""
    from speechalign.params import add_section_options

    parser.add_argument(
        "--model",
        required=True,
        help="a name in params backends.models, a SIFT checkpoint folder, or a Qwen2-Audio folder or hub id",
    )
    parser.add_argument("--audio", nargs="+", type=Path, help="wav files, or one folder of *.wav + *.txt")
    parser.add_argument("--text", nargs="+", help="the transcript of each --audio file, in order")
    parser.add_argument("--manifest", type=Path, help="a corpus manifest folder instead of --audio")
    parser.add_argument("--out", required=True, type=Path, help="folder for alas.json and heatmaps/")
    parser.add_argument(
        "--normalisation", action="append", help="repeatable (default: cosine and params alas.normalisation)"
    )
    parser.add_argument(
        "--aligner", help="word times (default: params reference.aligner; oracle: the manifest's)"
    )
    parser.add_argument("--instruction", default=DEFAULT_INSTRUCTION, help="the task text of both runs")
    parser.add_argument(
        "--sbert", action="store_true", help="also answer both runs and score their agreement"
    )
    parser.add_argument("--seed", type=int, help="seed (default: params seed)")
    add_section_options(parser, "alas", "backends", "reference", "models", "validity")


def inputs(args) -> tuple[list, list[str], list[str], list | None]:
    """(waves or paths, transcripts, ids, word times or None) from --audio/--text or --manifest."""
    from speechalign.errors import UserFacingError

    if args.manifest:
        from speechalign.data.manifest import read_manifest

        utts = sorted(read_manifest(args.manifest), key=lambda u: u.id)
        exact = [(np.array([(w.start, w.end) for w in u.words]), [w.text for w in u.words]) for u in utts]
        return [u.audio_path for u in utts], [u.text for u in utts], [u.id for u in utts], exact
    if not args.audio:
        raise UserFacingError("give --audio (files or a folder) or --manifest")
    if len(args.audio) == 1 and args.audio[0].is_dir():
        paths, texts = clips_from_folder(args.audio[0])
    else:
        paths, texts = list(args.audio), list(args.text or [])
        if len(texts) != len(paths):
            raise UserFacingError(f"{len(paths)} --audio files but {len(texts)} --text transcripts")
    return paths, texts, [p.stem for p in paths], None


def run_cli(args) -> None:
    """``speechalign alas run``: load, measure, write ``<out>/alas.json`` and ``<out>/heatmaps/*.png``."""
    import torch

    from speechalign.backends import load_backend
    from speechalign.io import write_json
    from speechalign.params import section, top_level
    from speechalign.reference import AlignerSettings

    alas_params, backends, ref = section(args, "alas"), section(args, "backends"), section(args, "reference")
    waves, texts, ids, exact = inputs(args)
    aligner = args.aligner or ref["aligner"]
    if aligner != "oracle":
        exact = None
    elif exact is None:
        raise SystemExit("speechalign alas run: --aligner oracle needs --manifest (exact word times)")
    normalisations = args.normalisation or list(dict.fromkeys(["cosine", alas_params["normalisation"]]))
    seed = top_level(args, "seed")
    torch.manual_seed(seed)
    backend = load_backend(model_spec(backends, args.model), seed=seed)
    settings = AlignerSettings(
        whisper=section(args, "models")["whisper"],
        beam_size=ref["beam_size"],
        language=ref["language"],
        device=ref["device"],
    )
    sbert = None
    if args.sbert:
        from sentence_transformers import SentenceTransformer

        from speechalign.models import model_path

        sbert = SentenceTransformer(model_path(section(args, "models")["sbert"]), device="cpu")
    run = alas_run(
        backend,
        waves,
        texts,
        word_times=exact,
        normalisations=normalisations,
        ids=ids,
        instruction=args.instruction,
        aligner=aligner,
        aligner_settings=settings,
        components=section(args, "validity")["components"],
        sbert=sbert,
        max_new_tokens=backends["max_new_tokens"],
    )
    info = {
        "model": args.model,
        "aligner": aligner,
        "normalisations": normalisations,
        "seed": seed,
        "frame_seconds": backend.frame_seconds,
        "offset_seconds": backend.offset_seconds,
    }
    write_json(args.out / "alas.json", run_json(run, info))
    save_heatmaps(run, args.out / "heatmaps")
    for name, rows in run.layers.items():
        best = min(rows, key=lambda r: r["alas_tokens"])
        log.info(
            "%s: best layer %d, ALAS %.3f tokens (uniform %.3f)",
            name,
            best["layer"],
            best["alas_tokens"],
            best["uniform_tokens"],
        )
    log.info("%d scored, %d rejected -> %s", len(run.utterances), len(run.rejected), args.out / "alas.json")
