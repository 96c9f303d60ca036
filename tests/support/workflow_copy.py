"""A scratch copy of the workflow for tests that run Snakemake or DVC on it: the repository's tracked and
untracked (not ignored) files, ``.dvc/`` included, in a new git repository; no data, no results."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def sh(*cmd: str, cwd: Path) -> str:
    """Run ``cmd`` with the virtualenv's tools first on PATH: its stdout, or an AssertionError."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def copy_workflow(dest: Path) -> Path:
    """``dest`` as a git repository of the workflow's files, committed (DVC experiments need a commit)."""
    listed = sh("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).split()
    for name in listed:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    assert (dest / ".dvc" / "config").is_file(), "the repository's DVC config (analytics off) must come along"
    sh("git", "init", "-q", cwd=dest)
    sh("git", "add", "-A", cwd=dest)
    sh("git", "-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-qm", "copy", cwd=dest)
    return dest
