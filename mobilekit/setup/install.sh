#!/usr/bin/env bash
# Installs everything mobilekit needs, idempotently. Each component caches its result under
# $MOBILEKIT_HOME (default ~/.cache/mobilekit), so a second run is a quick no-op.
#
#   bash setup/install.sh                 # in a checkout: every component
#   bash setup/install.sh python kotlin   # just these
#   mobilekit setup [components]          # from an installed wheel (runs this script)
#
# Two modes. In a git checkout, the Python stack is a cached virtual environment and the checkout
# gets its own small .venv layered on it (the checkout's code, editable). From an installed wheel,
# `mobilekit setup` sets MOBILEKIT_PYTHON_TARGET to its own interpreter and the stack is installed
# into that environment.
#
# Components: python litert-torch kotlin android swift arm64 chromium example-weights smollm2
set -euo pipefail

SETUP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export SETUP_DIR
# A checkout has pyproject.toml two levels up (mobilekit/setup/ -> repository root).
candidate="$(cd "$SETUP_DIR/../.." && pwd)"
if [ -z "${MOBILEKIT_PYTHON_TARGET:-}" ] && [ -f "$candidate/pyproject.toml" ] && [ -d "$candidate/mobilekit" ]; then
  export REPO_ROOT="$candidate"
else
  export REPO_ROOT=""
fi
export MOBILEKIT_HOME="${MOBILEKIT_HOME:-$HOME/.cache/mobilekit}"
mkdir -p "$MOBILEKIT_HOME"

ALL_COMPONENTS=(python litert-torch kotlin android swift arm64 chromium example-weights smollm2)
if [ "$#" -eq 0 ]; then
  set -- "${ALL_COMPONENTS[@]}"
fi

for component in "$@"; do
  script="$SETUP_DIR/components/$component.sh"
  if [ ! -f "$script" ]; then
    echo "setup: unknown component '$component' (known: ${ALL_COMPONENTS[*]})" >&2
    exit 2
  fi
  start=$(date +%s)
  echo "setup: $component ..."
  bash "$script"
  echo "setup: $component done in $(( $(date +%s) - start ))s"
done
