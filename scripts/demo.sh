#!/bin/sh
# Installs what is missing, builds, installs the library (as root), and runs
# the main job, vbpr-train, on the built-in data: BPR against Variational BPR.
. "$(dirname "$0")/common.sh"
install_missing
echo "== building (build/)"
configure_build build
if [ "$(id -u)" -eq 0 ]; then
  echo "== installing to $(meson introspect build --buildoptions |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')"
  meson install -C build --no-rebuild --quiet >/dev/null
  command -v ldconfig >/dev/null 2>&1 && ldconfig
fi
echo "== vbpr-train (built-in synthetic data)"
exec build/tools/vbpr-train "$@"
