#!/usr/bin/env bash
# The litert-torch route's own virtual environment (torch -> TFLite directly, plus
# ai-edge-quantizer), cached under $MOBILEKIT_HOME/venvs/litert-torch-<hash>, keyed by its
# requirement file, the shared torch constraint and this script. Separate from the main stack
# because litert-torch 0.10.0 needs ai-edge-litert 2.3.x and numpy 2.x while onnx2tf 1.29.24 pins
# ai-edge-litert 2.1.0 and numpy 1.26.4: one environment cannot be `pip check` clean with both.
# mobilekit runs it as a child process (mobilekit/convert/litert_torch.py) and never installs
# itself into it: the driver finds mobilekit's light modules through PYTHONPATH.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON="${MOBILEKIT_PYTHON:-python$PYTHON_VERSION}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
require_python "$PYTHON" "the litert-torch environment" "Set MOBILEKIT_PYTHON to a python$PYTHON_VERSION."

requirements="$SETUP_DIR/litert-torch-requirements.txt"
key=$(pins_key "$requirements")
venv="$MOBILEKIT_HOME/venvs/litert-torch-$key"

if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  pip_install_stack "$venv/bin/python" "$requirements"
  "$venv/bin/python" - <<'PY'
import litert_torch, ai_edge_quantizer, transformers  # noqa: F401  (fail here, not in a build)
from ai_edge_litert.interpreter import Interpreter  # noqa: F401
PY
  "$venv/bin/pip" check
  touch "$venv/.complete"
fi

# A stable name for mobilekit to find (mobilekit/toolchains/tools.py: litert_torch_venv_path).
ln -sfn "$venv" "$MOBILEKIT_HOME/venvs/litert-torch"
echo "setup: litert-torch environment ready at $venv (linked as $MOBILEKIT_HOME/venvs/litert-torch)"
