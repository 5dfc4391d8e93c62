# Shared by scripts/demo.sh and scripts/test.sh: install what is missing,
# find the data, configure and build. Sourced, not run.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# Debian packages: what the build and the main job need, and what the
# tests add (pytest and PyTorch for the Python bindings' suite and the
# torch.distributed example; venv, pip, meson-python, setuptools and wheel
# for `pip install` in fresh virtual environments, offline; Open MPI for
# vbpr-train under mpirun).
VBPR_BUILD_PACKAGES="meson ninja-build pkg-config gcc g++ libblis-dev check \
python3 python3-numpy binutils"
VBPR_TEST_PACKAGES="python3-pytest python3-torch valgrind clang libclang-rt-14-dev \
abigail-tools strace cmake python3-venv python3-pip python3-mesonpy python3-setuptools \
python3-wheel openmpi-bin libopenmpi-dev"

# install_missing [extra packages...]
install_missing() {
  missing=""
  for p in $VBPR_BUILD_PACKAGES "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
  fi
}

# Real data beside the project (../shared/data) unless given.
if [ -z "${VBPR_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  VBPR_DATA_DIR=$(cd "$ROOT/../shared/data" && pwd)
fi
export VBPR_DATA_DIR="${VBPR_DATA_DIR:-}"

# configure_build DIR [meson options...]: set up once, then build.
configure_build() {
  dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=true "$@" >/dev/null
  else
    meson configure "$dir" -Dwerror=true "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
}
