"""The download rules in the DAG: nothing to fetch in the embedded default; the paper profile fetches its
corpora (dry runs only: nothing is downloaded)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from speechalign.params import load_params

ROOT = Path(__file__).resolve().parents[2]


def dry_run_outputs(profile: str, target: str = "download") -> set[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [
        "snakemake",
        "--cores",
        "1",
        "--dry-run",
        "--forceall",
        "--config",
        f"profile={profile}",
        "--",
        target,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return set(re.findall(r"output: (\S+)", proc.stdout))


@pytest.mark.parametrize("profile", ["quick", "small"])
def test_embedded_profiles_download_nothing(profile):
    assert dry_run_outputs(profile) == {"data/raw/corpora.json"}


def test_paper_profile_downloads_each_of_its_corpora():
    corpora = load_params(ROOT, {"profile": "paper"})["download"]["corpora"]
    assert {"librispeech", "librisqa", "iemocap"} <= set(corpora)
    expected = {f"data/raw/{c}/DOWNLOADED.json" for c in corpora} | {"data/raw/corpora.json"}
    assert dry_run_outputs("paper") == expected
