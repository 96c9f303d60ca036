"""Live training curves (speechalign.train.live): DVCLive files grow step by step while the tiny model trains,
a resumed run holds every step once, `dvc plots show` reads them, and ``none`` writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from tiny_sift import needs_tokenizer, tiny_run
from workflow_copy import sh

from speechalign.train.live import DvcLive, open_live

ROOT = Path(__file__).resolve().parents[2]


def tsv_steps(folder: Path, name: str) -> list[int]:
    path = folder / "plots" / "metrics" / f"{name}.tsv"
    return [int(line.split("\t")[0]) for line in path.read_text().splitlines()[1:]] if path.exists() else []


class Watched(DvcLive):
    """Records, after every row, how many training-loss rows the file on disk holds."""

    seen: list[int]

    def log(self, row):
        super().log(row)
        self.seen = [*getattr(self, "seen", []), len(tsv_steps(Path(self.live.dir), "train_loss"))]


@needs_tokenizer
def test_curves_are_on_disk_while_training_runs(tiny, tmp_path):
    live = Watched(tmp_path / "live")
    result = tiny_run(tiny, live=live)
    assert live.seen == [0, 1, 2, 3, 4, 5, 6]  # step 0 (validation only), then one more row per step
    assert tsv_steps(tmp_path / "live", "train_loss") == [r["step"] for r in result.rows[1:]]
    assert tsv_steps(tmp_path / "live", "val_loss") == [
        r["step"] for r in result.rows if r["val_loss"] == r["val_loss"]
    ]
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert summary["step"] == 6 and summary["train_loss"] == pytest.approx(result.rows[-1]["train_loss"])


@needs_tokenizer
def test_a_resumed_run_logs_every_step_once(tiny, tmp_path):
    tiny_run(tiny, state_dir=tmp_path / "state", stop_after=3, live=open_live("dvclive", tmp_path / "live"))
    assert tsv_steps(tmp_path / "live", "train_loss") == [1, 2, 3]
    tiny_run(tiny, state_dir=tmp_path / "state", live=open_live("dvclive", tmp_path / "live"))
    assert tsv_steps(tmp_path / "live", "train_loss") == [1, 2, 3, 4, 5, 6]


def test_none_writes_nothing_and_unknown_kinds_fail(tmp_path):
    live = open_live("none", tmp_path / "live")
    live.log({"step": 1, "train_loss": 1.0, "val_loss": float("nan"), "lr": 0.1})
    live.close()
    assert not (tmp_path / "live").exists()
    with pytest.raises(ValueError, match="train.live must be one of"):
        open_live("tensorboard", tmp_path)


def test_dvc_plots_show_reads_the_live_files(tmp_path):
    live = open_live("dvclive", tmp_path / "results" / "train" / "sift_s" / "seed0" / "live")
    for step, loss in enumerate([3.0, 2.0, 1.5]):
        live.log({"step": step, "train_loss": loss, "val_loss": float("nan"), "lr": 0.001})
    shutil.copytree(ROOT / ".dvc", tmp_path / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    dvc = {"plots": [p for p in declared if "results/train/sift_s/seed0/live/plots/metrics" in p]}
    assert dvc["plots"], "dvc.yaml declares no live plot for sift_s"
    (tmp_path / "dvc.yaml").write_text(json.dumps(dvc))
    sh("git", "init", "-q", cwd=tmp_path)
    shown = json.loads(sh("dvc", "plots", "show", "--json", cwd=tmp_path))
    plots = [p for plots in shown["data"].values() for p in plots]
    points = [d for p in plots for d in p["content"]["data"]["values"]]
    assert {(int(d["step"]), float(d["train_loss"])) for d in points if "train_loss" in d} == {
        (0, 3.0),
        (1, 2.0),
        (2, 1.5),
    }
