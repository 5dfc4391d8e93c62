#!/bin/sh
# swap.diff must be what `diff -u` gives today for the two programs of a
# before/after example folder (the first argument; this script's own folder
# by default). Regenerate it with, in that folder:
#   diff -u --label bpr_before.cpp --label vbpr_after.cpp \
#     bpr_before.cpp vbpr_after.cpp > swap.diff
set -u
dir=${1:-$(dirname "$0")}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
diff -u --label bpr_before.cpp --label vbpr_after.cpp \
  "$dir/bpr_before.cpp" "$dir/vbpr_after.cpp" > "$tmp"
[ $? -eq 1 ] || { echo "diff failed or the programs are identical"; exit 1; }
if ! cmp -s "$tmp" "$dir/swap.diff"; then
  echo "$dir/swap.diff is out of date; regenerate it (see $0):"
  diff -u "$dir/swap.diff" "$tmp"
  exit 1
fi
echo "ok: swap.diff is current ($(grep -c '^[-+][^-+]' "$tmp") changed lines)"
