"""Process environment the pipeline relies on: hub access switches and cache folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Every switch that keeps Hugging Face libraries from reaching a hub.
HUB_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def set_hub_access(allowed: bool) -> None:
    """Turn hub downloads on or off for this process and every job it starts.

    Offline is the default: code that would reach for a hub fails at once with a clear error
    instead of hanging on a network that is not there.
    """
    for var in HUB_OFFLINE_VARS:
        os.environ[var] = "0" if allowed else "1"


def default_offline() -> None:
    """Offline unless the caller already chose (e.g. ``HF_HUB_OFFLINE=0 speechalign ...``)."""
    for var in HUB_OFFLINE_VARS:
        os.environ.setdefault(var, "1")


def set_cache_dirs(root: str | os.PathLike = ".cache") -> None:
    """Keep library caches (numba, matplotlib, HF) inside the project unless the user set them."""
    root = Path(root).resolve()
    for var, sub in (
        ("NUMBA_CACHE_DIR", "numba"),
        ("MPLCONFIGDIR", "matplotlib"),
        ("HF_HOME", "huggingface"),
        ("XDG_CACHE_HOME", "xdg"),
    ):
        os.environ.setdefault(var, str(root / sub))


def put_interpreter_on_path() -> None:
    """Let rules call `speechalign` when Snakemake runs as .venv/bin/snakemake without an activated venv."""
    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def passive_openmp() -> None:
    """Idle OpenMP threads sleep instead of spinning: torch's spinning threads otherwise starve numba's
    (the MAS kernel runs 10x slower after a torch matmul; benchmarks/bench_alas.py). Only effective before
    torch is imported, so the CLI calls it first thing."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Serve allocations up to ``limit`` bytes from the heap and keep freed memory there for reuse (glibc's
    ``mallopt``): torch's large CPU tensors (a KV cache grown by one position, a layer's activations) are
    otherwise mapped fresh and page-faulted on every use, which took two thirds of a greedy decoding step at
    batch 128 on the reference CPU (benchmarks/bench_sift.py). The process keeps its peak heap instead.
    Returns whether the C library took the settings (not glibc: nothing changes)."""
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, limit)) and bool(mallopt(m_trim_threshold, limit))
