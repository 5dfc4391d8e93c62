#!/bin/sh
# Installs what is missing, builds, and runs the main job on built-in data.
. "$(dirname "$0")/common.sh"
install_missing
echo "== building (build/)"
configure_build build
if [ -x build/tools/vbpr-train ]; then
  exec build/tools/vbpr-train "$@"
else
  exec build/examples/loss/swap_bpr
fi
