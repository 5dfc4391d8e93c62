#!/bin/sh
# Trains the per-sample engine before and after the swap on ml-100k, with
# the engine's own settings and the documented preset (no retuning), and
# requires the Variational BPR engine to beat the BPR one by a real margin
# in Recall@20 and NDCG@20. Skips (77) without the data, except in CI.
set -eu
before=$1
after=$2
dir=${VBPR_DATA_DIR:-}/ml-100k
if [ -z "${VBPR_DATA_DIR:-}" ] || [ ! -f "$dir/train.tsv" ]; then
  if [ "${CI:-}" = true ]; then
    echo "real data not found: set VBPR_DATA_DIR (got '${VBPR_DATA_DIR:-}'); CI must have it"
    exit 1
  fi
  echo "SKIP: real data not found (VBPR_DATA_DIR='${VBPR_DATA_DIR:-}')"
  exit 77
fi
# The engine's schedule, as shipped (see README.md); two Hogwild threads.
args="--train $dir/train.tsv --test $dir/test.tsv --epochs 40 --eval-every 40 --threads 2"
margin=0.01
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$before" $args | tee "$tmp/before.log"
"$after" $args | tee "$tmp/after.log"
result() { sed -n "s/^final recall@20 \([0-9.]*\) ndcg@20 \([0-9.]*\)$/\1 \2/p" "$1"; }
set -- $(result "$tmp/before.log") $(result "$tmp/after.log")
[ $# -eq 4 ] || { echo "could not read the final figures"; exit 1; }
echo "BPR: recall@20 $1 ndcg@20 $2; Variational BPR: recall@20 $3 ndcg@20 $4"
awk -v br="$1" -v bn="$2" -v vr="$3" -v vn="$4" -v m="$margin" 'BEGIN {
  ok = (vr >= br + m) && (vn >= bn + m)
  printf "%s: Variational BPR ahead by %+.4f recall, %+.4f ndcg (required %.2f)\n",
    ok ? "ok" : "FAIL", vr - br, vn - bn, m
  exit ok ? 0 : 1 }'
