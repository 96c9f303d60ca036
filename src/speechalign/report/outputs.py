"""Writing report artefacts: every figure as PNG and PDF, every table as CSV and Markdown, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports run headless, in Snakemake jobs and CI

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from speechalign.io import atomic_path, write_text  # noqa: E402

FIGURE_FORMATS = ("png", "pdf")


def save_figure(fig: Figure, folder: str | os.PathLike, stem: str, dpi: int = 150) -> list[Path]:
    """Write ``folder/stem.png`` and ``.pdf``; return their paths."""
    paths = []
    for fmt in FIGURE_FORMATS:
        path = Path(folder) / f"{stem}.{fmt}"
        with atomic_path(path) as tmp:
            # metadata without dates keeps the files byte-identical across reruns
            fig.savefig(
                tmp,
                format=fmt,
                dpi=dpi,
                bbox_inches="tight",
                metadata={"CreationDate": None} if fmt == "pdf" else {"Software": None},
            )
        paths.append(path)
    return paths


def save_table(
    table: pd.DataFrame, folder: str | os.PathLike, stem: str, floatfmt: str = ".3f"
) -> list[Path]:
    """Write ``folder/stem.csv`` (full precision) and ``.md`` (rounded, for reading)."""
    csv, md = Path(folder) / f"{stem}.csv", Path(folder) / f"{stem}.md"
    write_text(csv, table.to_csv(index=False))
    write_text(md, table.to_markdown(index=False, floatfmt=floatfmt) + "\n")
    return [csv, md]
