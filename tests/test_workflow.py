"""The workflow's wiring: Snakemake dry runs per profile, and dvc.yaml agrees with the Snakefile."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def snakemake_targets() -> set[str]:
    return set(run("snakemake", "--list-target-rules").stdout.split())


def planned_outputs(target: str, profile: str = "quick") -> set[str]:
    """Every output path the DAG would produce for ``target`` from nothing."""
    proc = run(
        "snakemake", "--cores", "1", "--dry-run", "--forceall", "--config", f"profile={profile}", "--", target
    )
    outputs = set()
    for block in re.findall(r"output: (.+)", proc.stdout):
        outputs.update(part.strip() for part in block.split(","))
    return outputs


@pytest.mark.parametrize("profile", ["quick", "small", "paper"])
def test_dry_run_works_for_each_profile(profile):
    proc = run("snakemake", "--cores", "1", "--dry-run", "--forceall", "--config", f"profile={profile}")
    assert "This was a dry-run" in proc.stdout


def test_bad_param_stops_snakemake_naming_the_key():
    proc = run("snakemake", "--cores", "1", "--dry-run", "--config", "seed=-1", check=False)
    assert proc.returncode != 0
    assert "seed: -1 is less than the minimum of 0" in proc.stdout + proc.stderr


def dvc_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def stage_target(stage: dict) -> str:
    cmd = shlex.split(stage["cmd"])
    assert cmd[:3] == ["snakemake", "--cores", "all"], f"a DVC stage must run a Snakemake target: {cmd}"
    (target,) = cmd[3:]
    return target


def out_paths(stage: dict) -> list[str]:
    return [next(iter(out)) if isinstance(out, dict) else out for out in stage.get("outs", [])]


@pytest.mark.parametrize("name", list(dvc_stages()))
def test_dvc_stage_runs_an_existing_snakemake_target(name):
    assert stage_target(dvc_stages()[name]) in snakemake_targets()


@pytest.mark.parametrize("name", list(dvc_stages()))
def test_dvc_stage_outs_are_what_its_target_builds(name):
    stage = dvc_stages()[name]
    planned = planned_outputs(stage_target(stage))
    outs = out_paths(stage)
    inside = lambda path, out: path == out or path.startswith(out.rstrip("/") + "/")  # noqa: E731
    assert planned, f"target {stage_target(stage)} builds nothing"
    assert all(any(inside(p, o) for o in outs) for p in planned), f"{name}: outputs outside DVC's outs"
    assert all(any(inside(p, o) for p in planned) for o in outs), f"{name}: an out no job writes"


def aggregate_rules() -> set[str]:
    """Rules with inputs but no outputs (`all` aside): the stage targets of the DAG."""
    sources = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    blocks = re.split(r"^rule ", "\n".join(p.read_text() for p in sources), flags=re.M)[1:]
    names = {b.split(":", 1)[0].strip(): b for b in blocks}
    return {name for name, body in names.items() if "output:" not in body and name != "all"}


def test_every_aggregate_rule_has_a_dvc_stage():
    """Stages and aggregate rules correspond one to one, so neither can drift."""
    assert {stage_target(s) for s in dvc_stages().values()} == aggregate_rules()


def test_dvc_dag_lists_the_stages():
    proc = run("dvc", "dag", "--md")
    for name in dvc_stages():
        assert name in proc.stdout
