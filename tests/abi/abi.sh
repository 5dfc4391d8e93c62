#!/bin/sh
# ABI check of libvbpr against the committed baseline abi/libvbpr.abi.
#   abi.sh check LIB DEBUG_LIB   compare (LIB: the real library, DEBUG_LIB:
#                                the same build with debug info)
#   abi.sh dump DEBUG_LIB OUT    write a new baseline (deliberate ABI break)
#   abi.sh skip REASON           exit 77 (meson's "skipped")
# Added functions, variables and enumerators pass; removed or changed
# symbols and changed public types fail.
set -eu
root=${VBPR_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
headers=$root/include/vbpr
baseline=$root/abi/libvbpr.abi

case ${1:-} in
skip)
  echo "abi: skipped: ${2:-}"
  exit 77 ;;
dump)
  abidw --headers-dir "$headers" --drop-private-types --no-corpus-path \
    --no-comp-dir-path --short-locs --type-id-style hash --out-file "$3" "$2"
  echo "abi: wrote $3"
  exit 0 ;;
check) ;;
*)
  echo "usage: $0 check LIB DEBUG_LIB | dump DEBUG_LIB OUT | skip REASON" >&2
  exit 2 ;;
esac
lib=$2
dbg=$3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
exports() {
  nm -D --defined-only "$1" | awk '{print $NF}' | sort -u
}

# The twin stands for the real library only if both export the same.
exports "$lib" >"$tmp/lib"
exports "$dbg" >"$tmp/dbg"
if ! cmp -s "$tmp/lib" "$tmp/dbg"; then
  echo "abi: the debug-info twin exports other symbols than $lib:"
  diff "$tmp/lib" "$tmp/dbg" || true
  exit 1
fi
if ! readelf -S "$dbg" | grep -q '\.debug_info'; then
  echo "abi: $dbg has no debug info"
  exit 1
fi
[ -f "$baseline" ] || { echo "abi: no baseline $baseline"; exit 1; }

rc=0
abidiff --headers-dir2 "$headers" --drop-private-types --no-added-syms \
  --fail-no-debug-info "$baseline" "$dbg" >"$tmp/report" 2>&1 || rc=$?
cat "$tmp/report"
# Bits: 1 error, 2 usage error, 4 ABI change, 8 incompatible change. With
# additions filtered out (--no-added-syms; appended enumerators count as
# harmless), any bit set is a failure.
if [ "$rc" -ne 0 ]; then
  echo "abi: FAILED (abidiff exit $rc): the ABI differs from abi/libvbpr.abi."
  echo "abi: for a deliberate break see doc/hardening.md, section ABI."
  exit 1
fi
echo "abi: ok: no removed or changed symbols or types ($(wc -l <"$tmp/lib") exports)"
