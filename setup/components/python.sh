#!/usr/bin/env bash
# The pinned Python stack in a virtual environment cached under $MOBILEKIT_HOME/venvs, keyed by
# the hash of the requirement files, and linked to $REPO_ROOT/.venv.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON="${MOBILEKIT_PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
  echo "setup: mobilekit's pinned stack needs Python 3.11 (onnx2tf 1.29.24 is the last release for it); found $("$PYTHON" --version 2>&1). Set MOBILEKIT_PYTHON to a python3.11." >&2
  exit 1
}

key=$(cat "$REPO_ROOT/setup/requirements.txt" "$REPO_ROOT/setup/constraints.txt" "$0" | sha256sum | cut -c1-12)
venv="$MOBILEKIT_HOME/venvs/py311-$key"

if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  # torch first, alone: pip takes the CPU build that lies on local disk. Everything after is
  # constrained to it so nothing can pull a CUDA build.
  "$venv/bin/pip" install -q torch==2.13.0
  "$venv/bin/pip" install -q -c "$REPO_ROOT/setup/constraints.txt" -r "$REPO_ROOT/setup/requirements.txt"
  "$venv/bin/python" - <<'PY'
import torch
assert torch.__version__ == "2.13.0+cpu", f"torch was changed to {torch.__version__}; expected the CPU build 2.13.0+cpu"
PY
  touch "$venv/.complete"
fi

# The project itself, editable, so the checkout's code is what runs (a few seconds).
"$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$REPO_ROOT"
ln -sfn "$venv" "$REPO_ROOT/.venv"
echo "setup: python stack ready at $venv (linked as .venv)"
