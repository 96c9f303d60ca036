"""Where a DAG run's time goes: every job's wall time, memory and CPU time from Snakemake's `benchmark:`
files, summed per stage with each stage's share of the run; with ``--bare``, each model stage's time against
the limit: a bare forward of the same models on the same inputs.

    .venv/bin/python benchmarks/bench_quick_dag.py [--logs logs/bench] [--top 15] [--markdown out.md] [--bare]

Run it after `snakemake --cores all` (every rule writes logs/bench/<stage>/...tsv). Wall time is the job's
own (`s`), not the DAG's: jobs that ran side by side add up to more than the wall clock. `cpu_time` over `s`
says how busy the job kept the cores; a job far below 1 waited (I/O, start-up, a lock), not computed.

``--bare`` (run from the repository root, models provisioned, corpora built) times, in this process, the one
forward each job of a model stage cannot do without: the Whisper encoder on each utterance's audio and one
forward of the LM (no hidden states kept, no generation) on each prompt the job answers or scores, on the
quick profile's own utterances and items (``BARE_WORK``: which inputs, how many runs). ``ratio`` is the
stage's job seconds over that limit times its jobs: what start-up, model loading, decoding and repeated
passes add.
Stages that train (sift, train) or only read and write files are not given a limit.

``--calibrate`` adds the machine's speed now: one-thread float32 GFLOP/s of a 1024 x 1024 matmul (and of two
side by side). Shared virtual machines of the same size differ by tens of percent from day to day; run it
alone right after the DAG and quote it with the DAG's time, so runs on different days can be compared.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

# logs/bench/<first folder>/... -> the stage whose rule wrote it (rule files: workflow/rules/<stage>.smk)
STAGE_OF_FOLDER = {"check": "report"}


def read_benchmarks(root: Path) -> pd.DataFrame:
    """One row per benchmark file: job (its path under ``root``), stage, seconds, max RSS (MB), CPU s."""
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        job = path.relative_to(root).with_suffix("").as_posix()
        folder = job.split("/")[0]
        last = table.iloc[-1]  # Snakemake rewrites the file on a rerun; the last row is the latest anyway
        rows.append(
            {
                "job": job,
                "stage": STAGE_OF_FOLDER.get(folder, folder),
                "seconds": float(last["s"]),
                "max_rss_mb": float(last["max_rss"]),
                "cpu_seconds": float(last["cpu_time"]),
            }
        )
    if not rows:
        raise SystemExit(f"no benchmark files under {root}: run the DAG first (snakemake --cores all)")
    return pd.DataFrame(rows)


def stage_summary(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per stage: jobs, total job seconds, share of all job seconds, the longest job, peak memory."""
    summary = jobs.groupby("stage").agg(
        jobs=("job", "count"),
        seconds=("seconds", "sum"),
        longest=("seconds", "max"),
        max_rss_mb=("max_rss_mb", "max"),
        cpu_seconds=("cpu_seconds", "sum"),
    )
    summary["share"] = summary["seconds"] / summary["seconds"].sum()
    summary["cpu_per_wall"] = summary["cpu_seconds"] / summary["seconds"]
    return summary.sort_values("seconds", ascending=False).reset_index()


# stage -> (corpus the limit reads, params section naming its split and max_utterances, LM runs per
# utterance): one encoder pass per utterance and one LM forward per run. evaluate: each bench item once per
# answer job (its main run; the mismatched control and agreement items add more); alas: an audio and a text
# run per utterance (a job prefills each twice, to answer and to score: one prefill could serve both);
# validity: the same (the controls add a forward per condition); reference: the Whisper encoder only.
BARE_WORK = {
    "evaluate": ("bench", None, ("audio",)),
    "alas": ("sqa", "alas", ("audio", "text")),
    "validity": ("sqa", "validity", ("audio", "text")),
    "reference": ("sqa", "reference", ()),
}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_seconds(root: Path = Path(".")) -> dict[str, float]:
    """Per stage of ``BARE_WORK``, the seconds of one job's bare forwards (encoder per utterance, LM per run)
    with the quick profile's composed model (``models.whisper`` + ``models.llm``, untrained projector)."""
    import torch

    from speechalign.backends import load_backend, task_instruction
    from speechalign.backends.audio import load_wave
    from speechalign.data.manifest import select_utterances
    from speechalign.evaluate.systems import UNTRAINED, SystemRun, backend_spec
    from speechalign.metrics.bench.items import read_suites
    from speechalign.params import load_params
    from speechalign.validity.splits import validity_utterances

    params = load_params(root, {"profile": "quick"})
    backends = params["backends"]
    spec = backend_spec(SystemRun(UNTRAINED, 0), None, params["models"], backends, params["train"])
    torch.manual_seed(0)
    backend = load_backend(spec, seed=0)
    lm = backend.llm.get_decoder()

    @torch.inference_mode()
    def forward(run) -> None:  # (1, S, D) -> the last layer only: no hidden states kept, no LM head
        lm(inputs_embeds=run.payload["inputs_embeds"])

    out = {}
    for stage, (corpus, section, roles) in BARE_WORK.items():
        folder = root / "data" / "corpora" / corpus
        if corpus == "bench":
            items = [i for suite in read_suites([folder / "items.jsonl"]).values() for i in suite if i.audio]
            work = [(folder / i.audio, i.prompt, i.spoken) for i in items]
        else:
            cfg = params[section]
            if section == "validity":  # its test split (the dev split's jobs see fewer utterances)
                utterances = validity_utterances(
                    folder, "test", cfg["dev_share"], params["seed"], cfg["max_utterances"]
                )
            else:
                utterances = select_utterances(folder, cfg["split"], cfg["max_utterances"])
            task = backends["tasks"][corpus]
            work = [
                (u.audio_path, task_instruction(task, backends["prompts"], question=u.question), u.text)
                for u in utterances
            ]
        seconds = 0.0
        backend._encoded.clear()  # the backend keeps recent clips' encoder layers: each limit encodes afresh
        for audio, instruction, text in work:
            wave = backend.check_wave(load_wave(audio, backend.sample_rate))
            with torch.inference_mode():
                seconds += _timed(lambda w=wave: backend.encoder_frames(w))
            runs = {"audio": backend.audio_run(wave, instruction)}
            runs["text"] = backend.text_run(text, instruction)
            for role in roles:
                forward(runs[role])  # warm
                seconds += _timed(lambda r=runs[role]: forward(r))
        out[stage] = seconds
    return out


def with_limits(stages: pd.DataFrame, bare: dict[str, float]) -> pd.DataFrame:
    """``stages`` with ``bare_s`` (one job's bare forwards times the stage's jobs) and ``ratio`` (seconds over
    it); NaN for stages without a limit."""
    stages = stages.copy()
    per_job = stages["stage"].map(bare)
    stages["bare_s"] = per_job * stages["jobs"]
    stages["ratio"] = stages["seconds"] / stages["bare_s"]
    return stages


def matmul_gflops(seconds: float = 5.0, side_by_side: int = 1) -> float:
    """Float32 GFLOP/s of 1024 x 1024 matmuls on one thread, summed over ``side_by_side`` processes."""
    import subprocess
    import sys

    code = (
        "import time, torch; torch.set_num_threads(1); a = torch.randn(1024, 1024); n = 0\n"
        f"t = time.perf_counter()\nwhile time.perf_counter() - t < {seconds}: a @ a; n += 1\n"
        "print(n * 2 * 1024**3 / (time.perf_counter() - t) / 1e9)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(side_by_side)
    ]
    return sum(float(proc.communicate()[0]) for proc in procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=Path, default=Path("logs/bench"), help="the benchmark files' root")
    parser.add_argument("--top", type=int, default=15, help="how many of the longest jobs to list")
    parser.add_argument("--markdown", type=Path, help="also write both tables as markdown here")
    parser.add_argument(
        "--bare", action="store_true", help="time each model stage's bare forwards here: the ratio column"
    )
    parser.add_argument("--calibrate", action="store_true", help="also time a matmul: the machine's speed")
    args = parser.parse_args()
    jobs = read_benchmarks(args.logs)
    stages = stage_summary(jobs)
    if args.bare:
        stages = with_limits(stages, bare_seconds())
    top = jobs.sort_values("seconds", ascending=False).head(args.top)
    total = jobs["seconds"].sum()
    text = (
        f"{len(jobs)} jobs, {total / 60:.1f} min of job time\n\n"
        + stages.to_markdown(index=False, floatfmt=".2f")
        + f"\n\nlongest {len(top)} jobs\n\n"
        + top.to_markdown(index=False, floatfmt=".1f")
        + "\n"
    )
    if args.calibrate:
        one, two = matmul_gflops(), matmul_gflops(side_by_side=2)
        text += f"\nmachine: {one:.1f} GFLOP/s on one thread, {two:.1f} with two processes side by side\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
