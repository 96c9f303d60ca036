#!/usr/bin/env bash
# Set up speechalign from nothing, idempotently: a virtualenv in .venv, the dependencies in the order
# that avoids the CUDA-torch and triton traps, and the pinned models (snakemake's `models` target).
#
#   ./bootstrap.sh && .venv/bin/snakemake --cores all     # the study, quick profile
#   ./bootstrap.sh && .venv/bin/pytest                     # the test suite
#
# Environment: PYTHON (default python3, needs >= 3.11); SPEECHALIGN_TORCH=keep to keep a torch you
# installed yourself (e.g. a CUDA build on a GPU machine); SPEECHALIGN_SKIP_MODELS=1 to skip provisioning.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
PIP=(
  "$VENV/bin/python" -m pip --disable-pip-version-check -q
)

say() { printf '\n== %s\n' "$*"; }

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), f"Python >= 3.11 needed, this is {sys.version}"'

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "${PIP[@]}" install --upgrade pip
fi

# Read what to install from pyproject.toml, the single source of truth.
tool() {
  "$VENV/bin/python" - "$1" <<'PY'
import sys, tomllib
value = tomllib.load(open("pyproject.toml", "rb"))["tool"]["speechalign"][sys.argv[1]]
print(" ".join(value) if isinstance(value, list) else value)
PY
}

# 1. torch first: anything else asking for torch would pull a multi-GB CUDA build.
if [ "${SPEECHALIGN_TORCH:-}" != keep ] && ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  say "installing $(tool torch-cpu) (CPU build)"
  "${PIP[@]}" install "$(tool torch-cpu)"
fi

# 2. the package and its dependencies at the tested versions (pyproject.toml's ranges, constrained by the
#    lock), when either changed since the last install.
stamp="$VENV/.speechalign-installed"
lock=$(tool lock)
digest=$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  say "installing speechalign and its dependencies (constrained by $lock)"
  "${PIP[@]}" install -c "$lock" -e '.[dev]'
  # 3. whisper packages without their declared deps (they pull triton, 1 GB and useless on CPU);
  #    their real runtime deps are in pyproject.toml's dependencies.
  # shellcheck disable=SC2046
  "${PIP[@]}" install -c "$lock" --no-deps $(tool no-deps)
  echo "$digest" > "$stamp"
fi

# 4. the pinned models, through the pipeline's own `models` target (resumable, verified).
if [ "${SPEECHALIGN_SKIP_MODELS:-0}" != 1 ]; then
  say "provisioning models (snakemake models)"
  "$VENV/bin/snakemake" --cores all models
fi
say "ready"
