#!/usr/bin/env bash
# Set up speechalign from nothing, idempotently: a virtualenv in .venv, the exact tested versions of
# requirements.lock, hash-checked (pip --require-hashes --no-deps: nothing resolved, nothing else pulled in,
# no CUDA torch, no triton), and the pinned models (snakemake's `models` target).
#
#   ./bootstrap.sh && .venv/bin/snakemake --cores all     # the study, quick profile
#   ./bootstrap.sh && .venv/bin/pytest                     # the test suite
#
# Environment: PYTHON (default python3, needs >= 3.11); SPEECHALIGN_TORCH=keep to keep a torch you
# installed yourself (e.g. a CUDA build on a GPU machine); SPEECHALIGN_SKIP_MODELS=1 to skip provisioning;
# SPEECHALIGN_TORCH_INDEX, where the lock's CPU torch wheel is found when pip's own sources lack it
# (default: pyproject.toml's [tool.speechalign] torch-index, PyTorch's CPU wheel index).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
PIP=(
  "$VENV/bin/python" -m pip --disable-pip-version-check -q
)

say() { printf '\n== %s\n' "$*"; }

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), f"Python >= 3.11 needed, this is {sys.version}"'

# Read what to install from pyproject.toml's [tool.speechalign].
tool() {
  "$PYTHON" - "$1" <<'PY'
import sys, tomllib
value = tomllib.load(open("pyproject.toml", "rb"))["tool"]["speechalign"][sys.argv[1]]
print(" ".join(value) if isinstance(value, list) else value)
PY
}
lock=$(tool lock)

# Some entries of the lock (a name, its == pin and its hashes) into a file: `locked OUT pip` for the named
# ones, `locked OUT -pip -torch` for all but those.
locked() {
  "$PYTHON" - "$lock" "$@" <<'PY'
import re, sys
lock, out, *names = sys.argv[1:]
drop = {n[1:] for n in names if n.startswith("-")}
keep = {n for n in names if not n.startswith("-")}
entries, current = [], None
for line in open(lock).read().splitlines():
    if re.match(r"[A-Za-z0-9]", line):
        current = [re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0].lower().replace("_", "-"), line]
        entries.append(current)
    elif line.strip().startswith("--hash") and current:
        current.append(line)
chosen = [e for e in entries if (e[0] in keep if keep else e[0] not in drop)]
if keep and len(chosen) != len(keep):
    sys.exit(f"{lock} lacks {sorted(keep - {e[0] for e in chosen})}")
open(out, "w").write("".join("\n".join(e[1:]) + "\n" for e in chosen))
PY
}

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.speechalign-installed"
digest=$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  parts=$(mktemp -d)
  trap 'rm -rf "$parts"' EXIT
  # 1. pip itself at the tested version, hash-checked.
  locked "$parts/pip.txt" pip
  "${PIP[@]}" install --require-hashes --no-deps -r "$parts/pip.txt"
  # 2. torch first, the lock's CPU wheel: from pip's own sources if they hold it, else from the CPU wheel
  #    index. Its hash admits no CUDA build; SPEECHALIGN_TORCH=keep leaves the installed torch alone.
  if [ "${SPEECHALIGN_TORCH:-}" != keep ]; then
    say "installing torch (the lock's CPU build)"
    locked "$parts/torch.txt" torch
    "${PIP[@]}" install --require-hashes --no-deps -r "$parts/torch.txt" 2>/dev/null \
      || "${PIP[@]}" install --require-hashes --no-deps -r "$parts/torch.txt" \
        --extra-index-url "${SPEECHALIGN_TORCH_INDEX:-$(tool torch-index)}"
  fi
  # 3. every other tested version, hash-checked, without resolving: the lock is the whole environment
  #    (openai-whisper and whisper-timestamped included without their declared triton).
  say "installing the tested versions of $lock (hash-checked)"
  locked "$parts/rest.txt" -pip -torch
  "${PIP[@]}" install --require-hashes --no-deps -r "$parts/rest.txt"
  # 4. this package, editable, built with the lock's setuptools (its dependencies are all in the lock).
  "${PIP[@]}" install --no-deps --no-build-isolation -e .
  echo "$digest" > "$stamp"
fi

# 5. the pinned models, through the pipeline's own `models` target (resumable, verified).
if [ "${SPEECHALIGN_SKIP_MODELS:-0}" != 1 ]; then
  say "provisioning models (snakemake models)"
  "$VENV/bin/snakemake" --cores all models
fi
say "ready"
