"""The workflow's wiring: Snakemake dry runs per profile, and dvc.yaml agrees with the Snakefile."""

from __future__ import annotations

import functools
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


@functools.cache
def dry_run(target: str, profile: str = "quick") -> str:
    return run(
        "snakemake", "--cores", "1", "--dry-run", "--forceall", "--rerun-incomplete",
        "--config", f"profile={profile}", "--", target,
    ).stdout  # fmt: skip


def planned_outputs(target: str) -> set[str]:
    """Every output of every job the target would run from nothing (upstream stages included)."""
    return {
        part.strip() for block in re.findall(r"output: (.+)", dry_run(target)) for part in block.split(",")
    }


def stage_deliverables(target: str) -> set[str]:
    """The files aggregate rule ``target`` asks for (its direct inputs)."""
    match = re.search(rf"^(?:local)?rule {re.escape(target)}:\n\s+input: (.+)$", dry_run(target), flags=re.M)
    return {part.strip() for part in match.group(1).split(",")} if match else set()


@pytest.mark.parametrize("profile", ["quick", "small", "table3", "paper"])
def test_dry_run_works_for_each_profile(profile):
    proc = run(
        "snakemake",
        "--cores",
        "1",
        "--dry-run",
        "--forceall",
        "--rerun-incomplete",
        "--config",
        f"profile={profile}",
    )
    assert "This was a dry-run" in proc.stdout


def test_the_table3_profile_trains_the_table3_core_only():
    outputs = "\n".join(re.findall(r"^\s+output: (.+)$", dry_run("all", "table3"), flags=re.M))
    trained = set(re.findall(r"data/sift/models/([^/\s,]+)/seed(\d)", outputs))
    assert trained == {(v, s) for v in ("tsit_s", "sit_s", "sift_s") for s in "012"}


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
    """Every file the aggregate rule delivers lies in the stage's outs, and every out is written by a job
    of the target (so DVC neither misses a deliverable nor claims a folder nothing writes)."""
    stage = dvc_stages()[name]
    target = stage_target(stage)
    delivered, written, outs = stage_deliverables(target), planned_outputs(target), out_paths(stage)
    inside = lambda path, out: path == out or path.startswith(out.rstrip("/") + "/")  # noqa: E731
    assert delivered, f"target {target} delivers nothing"
    outside = sorted(p for p in delivered if not any(inside(p, o) for o in outs))
    unwritten = [o for o in outs if not any(inside(p, o) for p in written)]
    assert not outside, f"{name}: deliverables outside DVC's outs: {outside}"
    assert not unwritten, f"{name}: outs no job of the target writes: {unwritten}"


@pytest.mark.parametrize("name", list(dvc_stages()))
def test_dvc_stage_outs_persist(name):
    """DVC deletes non-persistent outs before a stage's command; Snakemake would then rebuild every job of
    the target (and DVC everything downstream) instead of the few whose inputs changed."""
    outs = dvc_stages()[name].get("outs", [])
    persists = lambda out: isinstance(out, dict) and next(iter(out.values())).get("persist")  # noqa: E731
    transient = [out for out in outs if not persists(out)]
    assert not transient, f"{name}: outs without persist: true: {transient}"


def aggregate_rules() -> set[str]:
    """Rules with inputs but no outputs (`all` aside): the stage targets of the DAG."""
    sources = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    lines = [line for p in sources for line in p.read_text().splitlines()]
    code = "\n".join(
        line for line in lines if not line.lstrip().startswith("#")
    )  # comments may say "output:"
    blocks = re.split(r"^rule ", code, flags=re.M)[1:]
    names = {b.split(":", 1)[0].strip(): b for b in blocks}
    # "\n    output:": the keyword, not the word in a comment (train.smk's header says "not an output:")
    return {name for name, body in names.items() if "\n    output:" not in body and name != "all"}


def test_every_aggregate_rule_has_a_dvc_stage():
    """Stages and aggregate rules correspond one to one, so neither can drift."""
    assert {stage_target(s) for s in dvc_stages().values()} == aggregate_rules()


def test_dvc_dag_lists_the_stages():
    proc = run("dvc", "dag", "--md")
    for name in dvc_stages():
        assert name in proc.stdout


def job_params(target: str, rule: str, option: str) -> list[dict]:
    """The ``option`` JSON of every ``rule`` job the target would run (from the printed shell commands)."""
    text = run(
        "snakemake", "--cores", "1", "--dry-run", "--forceall", "--printshellcmds",
        "--config", "profile=quick", "--", target,
    ).stdout  # fmt: skip
    found = []
    for block in re.split(r"\n(?=(?:local)?rule )", text):
        if block.startswith((f"rule {rule}:", f"localrule {rule}:")):
            command = shlex.split(re.search(r"^Shell command: (.+)$", block, flags=re.M).group(1))
            found.append(yaml.safe_load(command[command.index(option) + 1]))
    assert found, f"no {rule} job in the dry run of {target}"
    return found


def test_jobs_get_only_the_params_they_read():
    """A job's params decide its reruns: the aligner is not retried when only the accuracy tolerances change,
    and a variant is not retrained when another variant or seed is added."""
    for params in job_params("reference", "reference_align", "--reference-params"):
        assert "tolerances_ms" not in params and "compare" not in params
        assert {"beam_size", "language", "device"} <= set(params)
    (accuracy,) = job_params("reference", "reference_accuracy", "--reference-params")
    assert set(accuracy) == {"tolerances_ms"}
    jobs = job_params(
        "data/sift/models/sift_s+sift_sp/seed0", "train_variant", "--train-params"
    )  # stage 2 and its stage 1
    assert sorted(sorted(job["variants"]) for job in jobs) == [["sift_s"], ["sift_s", "sift_s+sift_sp"]]
    assert not any({"run", "seeds", "processes"} & set(job) for job in jobs)
    for train in job_params("evaluate", "evaluate_answers", "--train-params"):  # a new seed reruns no answer
        assert set(train) == {"projector_hidden", "stack"}
    # a corpus is not rebuilt when another corpus's sizes change; the sift corpus reads the test voices only
    own = {"corpora", "sqa", "paralinguistic", "sift", "bench", "real", "airbench_tasks"}
    built = {}
    for rule in ("data_embedded", "data_bench"):
        for data in job_params("data", rule, "--data-params"):
            assert {"sample_rate", "prosody_styles", "rhythm"} <= set(data)
            built[frozenset(set(data) & own)] = data
    assert set(built) == {
        frozenset(c) for c in (["sqa"], ["paralinguistic"], ["sift", "paralinguistic"], ["bench"])
    }
    assert built[frozenset(["sift", "paralinguistic"])]["paralinguistic"].keys() == {"test_voices"}


def test_a_cluster_job_resolves_its_inputs_with_its_own_rule_alone(tmp_path):
    """A cluster job rebuilds the DAG with only its rule allowed: train_spoken_qa's input, the untrained
    control's result, must then be a file to read, not something train_spoken_qa claims (it was: KeyError
    untrained-dual). In an empty working directory, so that file is missing in a checkout that ran the DAG."""
    proc = run(
        "snakemake", "--cores", "1", "--dry-run", "--allowed-rules", "train_spoken_qa",
        "--config", "profile=quick", "--directory", str(tmp_path),
        "--", "results/train/qa/sit_sp/seed0.json", check=False,
    )  # fmt: skip
    assert "InputFunctionException" not in proc.stdout + proc.stderr
    assert "results/train/qa/untrained-dual/seed0.json" in proc.stdout + proc.stderr  # a missing input file


def rule_blocks() -> dict[str, str]:
    """Each rule's text in workflow/rules/*.smk, by name."""
    blocks = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^(?:local)?rule (\w+):\n", path.read_text(), flags=re.M)
        blocks |= dict(zip(parts[1::2], parts[2::2], strict=True))
    return blocks


def test_every_rule_that_runs_a_command_writes_a_benchmark_file():
    # benchmarks/bench_quick_dag.py reads where a run's time went from these: a rule without one is invisible
    commands = {
        name: text
        for name, text in rule_blocks().items()
        if re.search(r"^    (shell|run|script):", text, re.M)
    }
    missing = [name for name, text in commands.items() if "    benchmark:" not in text]
    assert len(commands) > 20 and missing == []
