"""Snakemake execution profiles (profiles/): the SLURM and single-GPU profiles give every job of the
paper profile its resources, and the cluster-generic-local scripts behave like a scheduler's."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from speechalign.params import load_params

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROFILES = ROOT / "profiles"
LOCAL = PROFILES / "cluster-generic-local"

# Rules that load a model big enough to need a GPU at the paper scale.
GPU_RULES = {
    "reference_align",
    "alas_measure",
    "sift_probe",
    "sift_targets",
    "sift_features",
    "train_variant",
    "train_spoken_qa",
    "train_spoken_qa_untrained",
    "validity_score",
    "validity_aligned",
    "evaluate_answers",
}
# Rules that run on CPUs only (downloads, corpora, manifests, notebooks).
CPU_RULES = {
    "download_corpus",
    "download_index",
    "model",
    "data_embedded",
    "data_bench",
    "data_real",
    "data_clips",
    "reference_accuracy",
    "report_corpora",
    "report_alas",
    "report_sift",
    "validity_report",
    "check",
    "evaluate_score",
    "report_evaluate",
    "notebook_html",
    "params_record",
}


@functools.cache
def dry_run_jobs(profile_dir: str) -> dict[str, list[dict[str, str]]]:
    """Rule name -> the resources of each of its jobs, from a dry run of the paper profile from nothing."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    cmd = ["snakemake", "--dry-run", "--forceall", "--workflow-profile", profile_dir]
    cmd += ["--config", "profile=paper"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    jobs: dict[str, list[dict[str, str]]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \S+:\n)", proc.stdout):
        head = re.match(r"(?:local)?rule (\S+):\n", block)
        if not head or "    output:" not in block:
            continue  # aggregate rules (no outputs) run no command
        found = re.search(r"^\s+resources: (.+)$", block, flags=re.M)
        pairs = found.group(1).split(", ") if found else []
        jobs.setdefault(head.group(1), []).append(dict(p.split("=", 1) for p in pairs))
    return jobs


def profile_config(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


def test_slurm_dry_run_gives_every_job_memory_runtime_and_cpus():
    jobs = dry_run_jobs("profiles/slurm")
    assert {"train_variant", "alas_measure", "sift_targets", "data_real"} <= set(jobs)
    for rule, resources in jobs.items():
        for res in resources:
            missing = {"mem_mb", "runtime", "cpus_per_task"} - set(res)
            assert not missing, f"{rule} lacks {missing}"
            assert int(res["cpus_per_task"]) >= 1 and int(res["runtime"]) >= 1, rule


GPU_HINT = "a rule that loads a model needs a gpu in profiles/{slurm,gpu}/config.yaml and GPU_RULES"


@pytest.mark.parametrize("profile", ["slurm", "gpu"])
def test_every_rule_of_the_paper_dag_is_classed_as_gpu_or_cpu(profile):
    unknown = set(dry_run_jobs(f"profiles/{profile}")) - GPU_RULES - CPU_RULES
    assert not unknown, f"{sorted(unknown)}: {GPU_HINT}, or in CPU_RULES here"


def test_slurm_dry_run_gives_gpus_exactly_to_the_model_rules():
    for rule, resources in dry_run_jobs("profiles/slurm").items():
        for res in resources:
            has_gpu = int(res.get("gpu", 0)) >= 1
            assert has_gpu == (rule in GPU_RULES), f"{rule}: gpu={res.get('gpu')} ({GPU_HINT})"


@pytest.mark.parametrize(("rule", "section"), [("train_variant", "train"), ("sift_targets", "sift")])
def test_slurm_accelerate_jobs_ask_one_gpu_per_process(rule, section):
    processes = load_params(ROOT, overrides={"profile": "paper"})[section]["processes"]
    assert processes > 1  # the paper profile launches several: the check below means something
    for res in dry_run_jobs("profiles/slurm")[rule]:
        assert int(res["gpu"]) == processes


def test_slurm_threads_match_the_cpus_asked_for():
    config = profile_config("slurm")
    for rule, threads in config["set-threads"].items():
        assert config["set-resources"][rule]["cpus_per_task"] == threads, rule


def test_gpu_profile_queues_model_jobs_for_the_machines_gpu():
    config = profile_config("gpu")
    assert config["resources"]["gpu"] >= 1
    jobs = dry_run_jobs("profiles/gpu")
    for rule, resources in jobs.items():
        for res in resources:
            has_gpu = int(res.get("gpu", 0)) >= 1
            assert has_gpu == (rule in GPU_RULES), f"{rule}: gpu={res.get('gpu')} ({GPU_HINT})"
            assert int(res.get("gpu", 0)) <= config["resources"]["gpu"], f"{rule} could never start"


# --- the local stand-in for a scheduler (cluster-generic executor) --------------------------------------


def script(name: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run([str(LOCAL / name), *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def wait_for_end(job_id: str, cwd: Path, polls: int = 600) -> str:
    """The job's status once it is no longer running (polled every 0.1 s, at most ``polls`` times)."""
    for _ in range(polls):
        status = script("status.sh", job_id, cwd=cwd)
        if status != "running":
            return status
        time.sleep(0.1)
    return "running"


def job_script(folder: Path, body: str) -> str:
    path = folder / "job.sh"
    path.write_text(f"#!/bin/bash\n{body}\n")
    return str(path)


def test_local_submit_runs_the_job_script_and_reports_success(tmp_path):
    job_id = script("submit.sh", "2", "1000", job_script(tmp_path, "echo done > out.txt"), cwd=tmp_path)
    assert job_id and "\n" not in job_id
    assert wait_for_end(job_id, tmp_path) == "success"
    assert (tmp_path / "out.txt").read_text() == "done\n"


def test_local_submit_reports_a_failing_job_as_failed(tmp_path):
    job_id = script("submit.sh", "1", "1000", job_script(tmp_path, "exit 3"), cwd=tmp_path)
    assert wait_for_end(job_id, tmp_path) == "failed"


def test_local_status_of_an_unknown_job_is_failed(tmp_path):
    assert script("status.sh", "local-unknown", cwd=tmp_path) == "failed"


def test_local_cancel_stops_a_running_job(tmp_path):
    job_id = script("submit.sh", "1", "1000", job_script(tmp_path, "sleep 60; touch late.txt"), cwd=tmp_path)
    assert script("status.sh", job_id, cwd=tmp_path) == "running"
    script("cancel.sh", job_id, cwd=tmp_path)
    assert wait_for_end(job_id, tmp_path) == "failed"
    assert not (tmp_path / "late.txt").exists()


@pytest.mark.parametrize("name", ["submit.sh", "status.sh", "cancel.sh"])
def test_local_profile_scripts_are_executable(name):
    assert os.access(LOCAL / name, os.X_OK)


def test_the_paper_dry_run_scores_alas_for_both_of_the_papers_models():
    """The ALAS paper measures Qwen2-Audio and SALMONN: the paper profile schedules ALAS for both."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    cmd = ["snakemake", "--dry-run", "--forceall", "--config", "profile=paper", "--", "alas"]
    jobs = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env).stdout
    for model in ("qwen2-audio-7b", "salmonn-7b"):
        assert f"results/alas/{model}/librisqa.json" in jobs, model


def test_default_profile_runs_every_model_job_on_one_thread():
    """On the CPU a model job keeps about one core busy whatever its threads, so the default profile gives
    each one thread and `--cores N` runs N side by side: the model rules the GPU profile gives threads to,
    and the corpus builders, which would otherwise wait for two free cores behind them."""
    threads = profile_config("default")["set-threads"]
    assert set(threads) == set(profile_config("gpu")["set-threads"]) | {"data_embedded", "data_bench"}
    assert set(threads.values()) == {1}


def test_a_plain_snakemake_run_uses_the_default_profile():
    """Snakemake looks for its default workflow profile in profiles/default beside the Snakefile (not under
    workflow/): a plain `snakemake --cores 2` must pick it up, so every model job runs on one thread."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    cmd = ["snakemake", "--dry-run", "--forceall", "--cores", "2", "--config", "profile=quick"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "workflow specific profile profiles/default" in proc.stderr
    block_with_two_threads = r"^(?:local)?rule (\S+):\n(?:    .*\n)*?    threads: 2$"
    two_threads = set(re.findall(block_with_two_threads, proc.stdout, flags=re.M))
    assert two_threads and not two_threads & (GPU_RULES | {"data_embedded", "data_bench"}), two_threads
