#!/usr/bin/env bash
# The pinned Python stack (torch CPU first, then requirements.txt).
#   - From an installed wheel (MOBILEKIT_PYTHON_TARGET, set by `mobilekit setup`): into that
#     interpreter's environment, once per requirement set (a marker in its prefix).
#   - In a checkout: a virtual environment cached under $MOBILEKIT_HOME/venvs, keyed by the pins,
#     plus the checkout's own .venv: a small environment layered on the cached one (a .pth file
#     adds its site-packages) that holds only this checkout's code, editable. Checkouts sharing
#     the cache never see each other's code.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

requirements="$SETUP_DIR/requirements.txt"
key=$(pins_key "$requirements")

if [ -n "${MOBILEKIT_PYTHON_TARGET:-}" ]; then
  require_python "$MOBILEKIT_PYTHON_TARGET" "the pinned stack" "Create the virtual environment you install mobilekit into with python$PYTHON_VERSION."
  prefix=$("$MOBILEKIT_PYTHON_TARGET" -c 'import sys; print(sys.prefix)')
  if [ ! -f "$prefix/.mobilekit-stack-$key" ]; then
    pip_install_stack "$MOBILEKIT_PYTHON_TARGET" "$requirements"
    touch "$prefix/.mobilekit-stack-$key"
  fi
  echo "setup: python stack ready in $prefix"
  exit 0
fi

[ -n "$REPO_ROOT" ] || { echo "setup: not in a mobilekit checkout; from an installed wheel run: mobilekit setup python" >&2; exit 2; }
PYTHON="${MOBILEKIT_PYTHON:-python$PYTHON_VERSION}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
require_python "$PYTHON" "the pinned stack" "Set MOBILEKIT_PYTHON to a python$PYTHON_VERSION."

stack="$MOBILEKIT_HOME/venvs/py311-$key"
if [ ! -f "$stack/.complete" ]; then
  rm -rf "$stack"
  mkdir -p "$(dirname "$stack")"
  "$PYTHON" -m venv "$stack"
  "$stack/bin/pip" install -q --upgrade pip
  pip_install_stack "$stack/bin/python" "$requirements"
  touch "$stack/.complete"
fi
# Earlier versions installed a checkout into the shared stack itself: take it out, or its
# editable finder would shadow every other checkout's code.
if "$stack/bin/python" -m pip show -q mobilekit >/dev/null 2>&1; then
  "$stack/bin/python" -m pip uninstall -q -y mobilekit
fi

venv="$REPO_ROOT/.venv"
site="lib/python$PYTHON_VERSION/site-packages"
if [ -L "$venv" ] || [ ! -f "$venv/$site/mobilekit-stack.pth" ] || ! grep -qF "$stack/" "$venv/$site/mobilekit-stack.pth"; then
  rm -rf "$venv"
  "$PYTHON" -m venv --without-pip "$venv"
  # addsitedir (not a bare path line) so the stack's own .pth files are processed too.
  echo "import site; site.addsitedir('$stack/$site')" > "$venv/$site/mobilekit-stack.pth"
fi
# The stack's command-line tools too (onnx2tf runs `onnxsim` from PATH, beside the interpreter).
for tool in "$stack"/bin/*; do
  case "$(basename "$tool")" in python*|pip*|activate*|Activate*) continue ;; esac
  [ -e "$venv/bin/$(basename "$tool")" ] || ln -s "$tool" "$venv/bin/"
done
# The checkout itself, editable as a plain path entry (compat mode, not an import hook), so a
# `python -m` run from another checkout or worktree still imports the code in its own folder.
"$stack/bin/python" -m pip --python "$venv/bin/python" install -q --no-deps --no-build-isolation --config-settings editable_mode=compat -e "$REPO_ROOT"
"$venv/bin/python" -c "import mobilekit, pathlib, sys; p = pathlib.Path(mobilekit.__file__).resolve(); assert p.is_relative_to(pathlib.Path(sys.argv[1]).resolve()), p" "$REPO_ROOT"
echo "setup: python stack ready at $stack; this checkout's environment is $venv"
