"""Shared fixtures. Tests marked ``models`` use the real provisioned models in data/models/
(bootstrap.sh provisions them with `snakemake --cores all models`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "data" / "models"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))


@pytest.fixture(scope="session")
def provisioned():
    """A provisioned model folder; fails (never skips) when missing, so CI cannot pass vacuously."""

    def get(name: str) -> Path:
        path = MODELS / name
        if not (path / "provenance.json").is_file():
            pytest.fail(f"{path} is not provisioned: run `snakemake --cores all models` (bootstrap.sh does)")
        return path

    return get
