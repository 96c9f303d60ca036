"""Live training curves (params ``train.live``), written while a variant trains.

``dvclive``: after every step, the training loss, the learning rate and (every ``train.eval_every`` steps) the
validation loss are appended to ``<curves>/live/plots/metrics/<name>.tsv`` (DVCLive's layout) and the latest
values to ``<curves>/live/metrics.json``; `dvc plots show` draws them while the job runs (dvc.yaml declares
them). A resumed run replays the curve rows it restored, so the files hold every step once. DVCLive here
writes files only: no DVC experiment (``save_dvc_exp=False``), no dvc.yaml edit (``dvcyaml=None``), and it
posts to DVC Studio only when a Studio token is configured. ``none``: nothing is written.

    live = open_live("dvclive", "results/train/sift_s/seed0/live", params={"lr": 1e-3})
    live.log({"step": 1, "train_loss": 2.3, "val_loss": float("nan"), "lr": 1e-3})
    live.close()
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KINDS = ("dvclive", "none")
LIVE_DIR = "live"  # under a variant's curves folder (results/train/<variant>/seed<seed>/live)
METRICS = ("train_loss", "val_loss", "lr")  # the curve row's columns besides the step


class NoLive:
    """``train.live: none``."""

    def log(self, row: Mapping[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class DvcLive(NoLive):
    """One curve row per call, written at once (DVCLive appends each metric's TSV row when it is logged)."""

    def __init__(self, folder: str | os.PathLike, params: Mapping[str, Any] | None = None):
        from dvclive import Live

        self.live = Live(dir=str(folder), save_dvc_exp=False, dvcyaml=None, report=None)
        if params:
            self.live.log_params({k: v for k, v in params.items() if isinstance(v, int | float | str | bool)})

    def log(self, row: Mapping[str, Any]) -> None:
        self.live.step = int(row["step"])
        for name in METRICS:
            value = row.get(name)
            if value is not None and math.isfinite(value):  # no validation at most steps: no point there
                self.live.log_metric(name, float(value))
        self.live.make_summary()

    def close(self) -> None:
        self.live.end()


def open_live(kind: str, folder: str | os.PathLike, params: Mapping[str, Any] | None = None) -> NoLive:
    """The live logger ``kind`` (params ``train.live``) writing under ``folder``."""
    if kind not in KINDS:
        raise ValueError(f"train.live must be one of {KINDS}; got {kind!r}")
    return DvcLive(Path(folder), params) if kind == "dvclive" else NoLive()
