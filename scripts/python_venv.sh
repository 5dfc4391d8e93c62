#!/bin/sh
# The Python package as a user installs it: for each route, a fresh virtual
# environment, `pip install` offline, `import vbpr` from outside the source
# tree, then the Python test suite run by that environment's interpreter.
#   wheel: `pip install .` from the source root (meson-python builds the C
#          library and vbpr-train into the package);
#   pure:  `pip install .` from bindings/python (the package alone), with
#          the library of BUILD found by the system loader (LD_LIBRARY_PATH;
#          pkg-config is kept from finding another one).
# usage: scripts/python_venv.sh [BUILD]   (default: build, already built)
# The environments are made with --system-site-packages so that Debian's
# numpy, torch, pytest and meson-python are seen (no network needed); pip
# runs with --no-build-isolation --no-index for the same reason.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
PY=${VBPR_VENV_PYTHON:-/usr/bin/python3}
status=0

run_route() {
  route=$1
  src=$2
  shift 2       # the rest: VAR=value settings for the import and the tests
  venv="$BUILD/venv-$route"
  log="$BUILD/meson-logs/venv-$route.txt"
  echo "== [python-venv] $route: pip install $src into $venv"
  rm -rf "$venv"
  "$PY" -m venv --system-site-packages "$venv"
  if ! (cd "$src" && "$venv/bin/pip" install --no-build-isolation --no-index .) \
      >"$log" 2>&1; then
    echo "== [python-venv] $route: pip install FAILED"; cat "$log"; return 1
  fi
  rm -rf "$ROOT/bindings/python/build" "$ROOT/bindings/python/vbpr.egg-info"
  # Imported from outside the source tree, with no help from the environment.
  # (the package must be the environment's, and the library the expected one)
  if ! (cd "$venv" && env -u PYTHONPATH -u VBPR_LIBRARY "$@" "$venv/bin/python" -c \
      "import os, sys, vbpr; print(vbpr.__file__, vbpr.lib_path, vbpr.version()); \
want = os.environ.get('WANT_LIB') or os.path.dirname(vbpr.__file__); \
sys.exit(not (vbpr.__file__.startswith(sys.prefix) and vbpr.lib_path.startswith(want)))"); then
    echo "== [python-venv] $route: import vbpr FAILED"; return 1
  fi
  if ! (cd "$venv" && env -u PYTHONPATH -u VBPR_LIBRARY "$@" \
      VBPR_SOURCE_ROOT="$ROOT" VBPR_TRAIN_BIN="$BUILD/tools/vbpr-train" \
      PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider \
      "$ROOT/bindings/python/tests") >>"$log" 2>&1; then
    echo "== [python-venv] $route: tests FAILED"; cat "$log"; return 1
  fi
  tail -n 1 "$log"
}

mkdir -p "$BUILD/meson-logs"
run_route wheel "$ROOT" || status=1
run_route pure "$ROOT/bindings/python" LD_LIBRARY_PATH="$BUILD/lib" WANT_LIB="$BUILD/lib/" \
  PKG_CONFIG_LIBDIR="$BUILD/venv-pure/no-pkgconfig" PKG_CONFIG_PATH= || status=1
exit $status
