#!/bin/sh
# examples/distributed/torch_mf_dist.py: 2 processes of torch.distributed
# (gloo) end with the parameters (to float rounding) and the metrics of the
# 1-process run, on ml-100k.
#   torch_dist.sh PYTHON SOURCE_ROOT
set -eu
py=$1
root=$2
data=${VBPR_DATA_DIR:-}
if [ -z "$data" ] || [ ! -d "$data/ml-100k" ]; then
  [ "${CI:-}" = true ] && { echo "real data not found (VBPR_DATA_DIR='$data')"; exit 1; }
  echo "SKIP: real data not found (VBPR_DATA_DIR='$data')"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ex="$root/examples/distributed/torch_mf_dist.py"
args="--data $data/ml-100k --epochs 2 --dim 32 -M 2 -N 4 --batch 1000 --seed 5"
export OMP_NUM_THREADS=1
timeout 600 "$py" "$ex" $args --save "$tmp/one.npz" > "$tmp/one.txt"
# --redirects/--tee: Debian's torch 1.13 on Python 3.11 cannot parse their
# default "0" (Std.NONE is skipped when iterating the IntFlag).
timeout 600 "$py" -m torch.distributed.run --standalone --nnodes 1 --nproc_per_node 2 \
  --redirects 1 --tee 1 --log_dir "$tmp/logs" \
  "$ex" $args --save "$tmp/two.npz" > "$tmp/two.txt"
cat "$tmp/one.txt" "$tmp/two.txt"
"$py" - "$tmp" <<'PY'
import re
import sys

import numpy as np

tmp = sys.argv[1]
a, b = np.load(f"{tmp}/one.npz"), np.load(f"{tmp}/two.npz")
worst = max(float((np.abs(a[k] - b[k]) / (1e-3 + np.abs(a[k]))).max()) for k in a.files)
print(f"largest relative difference of the parameters: {worst:.2e} (bound 1e-3)")
def metrics(name):
    text = open(f"{tmp}/{name}.txt").read()
    return [float(x) for x in re.findall(r"(?:recall|ndcg)@20 ([0-9.]+)", text)]
m1, m2 = metrics("one"), metrics("two")
print(f"metrics: {m1} vs {m2}")
if not worst < 1e-3 or not m1 or len(m1) != len(m2) or \
        any(abs(x - y) > 1e-4 for x, y in zip(m1, m2)):
    sys.exit("the 2-process run differs from the 1-process run")
PY
