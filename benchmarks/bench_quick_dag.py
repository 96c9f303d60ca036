"""Where a DAG run's time goes: every job's wall time, memory and CPU time from Snakemake's `benchmark:`
files, summed per stage with each stage's share of the run.

    .venv/bin/python benchmarks/bench_quick_dag.py [--logs logs/bench] [--top 15] [--markdown out.md]

Run it after `snakemake --cores all` (every rule writes logs/bench/<stage>/...tsv). Wall time is the job's
own (`s`), not the DAG's: jobs that ran side by side add up to more than the wall clock. `cpu_time` over `s`
says how busy the job kept the cores; a job far below 1 waited (I/O, start-up, a lock), not computed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

# logs/bench/<first folder>/... -> the stage whose rule wrote it (rule files: workflow/rules/<stage>.smk)
STAGE_OF_FOLDER = {"respond": "alas", "check": "report"}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=Path, default=Path("logs/bench"), help="the benchmark files' root")
    parser.add_argument("--top", type=int, default=15, help="how many of the longest jobs to list")
    parser.add_argument("--markdown", type=Path, help="also write both tables as markdown here")
    args = parser.parse_args()
    jobs = read_benchmarks(args.logs)
    stages = stage_summary(jobs)
    top = jobs.sort_values("seconds", ascending=False).head(args.top)
    total = jobs["seconds"].sum()
    text = (
        f"{len(jobs)} jobs, {total / 60:.1f} min of job time\n\n"
        + stages.to_markdown(index=False, floatfmt=".2f")
        + f"\n\nlongest {len(top)} jobs\n\n"
        + top.to_markdown(index=False, floatfmt=".1f")
        + "\n"
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
