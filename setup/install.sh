#!/usr/bin/env bash
# Installs everything mobilekit needs, idempotently. Each component caches its result under
# $MOBILEKIT_HOME (default ~/.cache/mobilekit), so a second run is a quick no-op.
#
#   bash setup/install.sh                 # every component
#   bash setup/install.sh python kotlin   # just these
#
# Components: python litert-torch kotlin android swift arm64 chromium example-weights smollm2
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
export MOBILEKIT_HOME="${MOBILEKIT_HOME:-$HOME/.cache/mobilekit}"
mkdir -p "$MOBILEKIT_HOME"

ALL_COMPONENTS=(python litert-torch kotlin android swift arm64 chromium example-weights smollm2)
if [ "$#" -eq 0 ]; then
  set -- "${ALL_COMPONENTS[@]}"
fi

for component in "$@"; do
  script="$REPO_ROOT/setup/components/$component.sh"
  if [ ! -f "$script" ]; then
    echo "setup: unknown component '$component' (known: ${ALL_COMPONENTS[*]})" >&2
    exit 2
  fi
  start=$(date +%s)
  echo "setup: $component ..."
  bash "$script"
  echo "setup: $component done in $(( $(date +%s) - start ))s"
done
