# Shared helpers for the setup components (sourced, not run).
set -euo pipefail
: "${MOBILEKIT_HOME:?run through setup/install.sh}"
: "${SETUP_DIR:?run through setup/install.sh}"
# shellcheck source=../versions.env
source "$SETUP_DIR/versions.env"

# Exits unless interpreter $1 is the pinned Python version ($2: what needs it, $3: how to fix it).
# The version is fixed by the stack's wheels (onnx2tf 1.29.24 and the torch CPU build are for it).
require_python() {
  "$1" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$PYTHON_VERSION'.split('.'))), sys.version" 2>/dev/null || {
    echo "setup: $2 needs Python $PYTHON_VERSION; found $("$1" --version 2>&1). $3" >&2
    exit 1
  }
}

# The cache key of a Python environment: its requirement lines (comments and blank lines aside)
# and the torch build, so editing a comment never rebuilds an environment.
pins_key() {
  (grep -v '^[[:space:]]*\(#\|$\)' "$1"; echo "torch==$TORCH_BUILD") | sha256sum | cut -c1-12
}

# Installs a pinned Python stack into the environment of interpreter $1 from requirement file $2:
# torch first, alone, so pip takes the CPU build that lies on local disk; everything after is
# constrained to it so nothing can pull a CUDA build; then a check that nothing changed it.
pip_install_stack() {
  local python=$1 requirements=$2 constraints
  constraints=$(mktemp)
  echo "torch==$TORCH_BUILD" > "$constraints"
  "$python" -m pip install -q "torch==$TORCH_VERSION"
  "$python" -m pip install -q -c "$constraints" -r "$requirements"
  rm -f "$constraints"
  "$python" -c "import torch; v = torch.__version__; assert v == '$TORCH_BUILD', f'torch was changed to {v}; expected the CPU build $TORCH_BUILD'"
}

# Prints the first Debian mirror URI of this machine's apt sources (never hard-coded).
debian_mirror() {
  local uri
  uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
  if [ -z "$uri" ]; then
    uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')
  fi
  if [ -z "$uri" ]; then
    echo "setup: cannot find a Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2
    return 1
  fi
  echo "$uri"
}

# apt-get install only the packages that are missing, so a second run does not touch apt.
apt_install_missing() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Mounts proc, sys and dev into the chroot $1 (dev recursively and as a slave, so unmounting the
# chroot's copy never propagates back to the host's /dev).
chroot_mount_system() {
  local root=$1
  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
}

# Unmounts everything mounted at or below $1, deepest first; falls back to a lazy unmount so a
# busy mount never survives. Safe to call when nothing is mounted.
chroot_unmount_all() {
  local root
  root=$(realpath -m "$1")
  findmnt -rn -o TARGET | awk -v r="$root" '$0 == r || index($0, r "/") == 1' | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
}

# Refuses to go on while anything is still mounted below $1 (guards every rm -rf of a chroot,
# which would otherwise delete through a bind mount of /dev or of a user's package).
chroot_assert_unmounted() {
  local root
  root=$(realpath -m "$1")
  if findmnt -rn -o TARGET | awk -v r="$root" 'index($0, r "/") == 1 { found = 1 } END { exit !found }'; then
    echo "setup: something is still mounted below $root; unmount it first (findmnt -R $root)" >&2
    return 1
  fi
}

# Re-runs the calling script in a private mount namespace: whatever it mounts then vanishes when it
# exits, even when killed with SIGKILL, where no trap runs (a leaked rbind of /dev under
# $MOBILEKIT_HOME would let a later `rm -rf` of the cache delete the host's device nodes).
# The traps still unmount; this is the second line of defence. Skipped where unshare is refused.
reexec_in_private_mount_ns() {
  if [ -z "${MOBILEKIT_MOUNT_NS:-}" ] && unshare --mount --propagation private true 2>/dev/null; then
    export MOBILEKIT_MOUNT_NS=1
    exec unshare --mount --propagation private bash "$(realpath "$0")" "$@"
  fi
}
