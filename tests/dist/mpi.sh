#!/bin/sh
# vbpr-train under mpirun (built with -Dmpi): on ml-100k, MF and LightGCN
# trained a few epochs by 2 ranks have the parameters (to float rounding)
# and the metrics of one process with the same seed and global batch; and
# a rank that fails, dies, exits at once or stops answering ends the whole
# job with a clear error, never a hang.
#   mpi.sh VBPR_TRAIN PYTHON HAVE_MODULES
set -eu
train=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # ranks start in other folders
py=$2
if [ "${3:-1}" = 0 ]; then
  echo "SKIP: built without the MF and LightGCN modules (the trainer is tested there)"
  exit 77
fi
data=${VBPR_DATA_DIR:-}
if [ -z "$data" ] || [ ! -d "$data/ml-100k" ]; then
  [ "${CI:-}" = true ] && { echo "real data not found (VBPR_DATA_DIR='$data')"; exit 1; }
  echo "SKIP: real data not found (VBPR_DATA_DIR='$data')"
  exit 77
fi
# mpirun refuses root unless told (containers, CI); one library thread per
# rank, so that 2 ranks fit the 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 VBPR_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
D=$data/ml-100k
args="--train $D/train.tsv --test $D/test.tsv --items-from $D/ratings.tsv --seed 3 --quiet"
# Open MPI keeps allocations until exit that LeakSanitizer would report as
# leaks of every rank (the library's own leaks are checked by the unit tests).
mpi="env ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 timeout 300 mpirun --oversubscribe"
status=0
fail() { echo "FAIL: $*"; status=1; }

# ---- 2 ranks equal 1 process ------------------------------------------------
for enc in mf lightgcn; do
  run="$args --encoder $enc --epochs 3 --eval-every 3 --k 10,20"
  "$train" $run --save "$tmp/$enc-1.vbm" --json "$tmp/$enc-1.json"
  $mpi -np 2 "$train" $run --save "$tmp/$enc-2.vbm" --json "$tmp/$enc-2.json"
  echo "== $enc: 2 ranks against 1 process"
  "$py" "$(dirname "$0")/compare_runs.py" "$tmp/$enc-1.vbm" "$tmp/$enc-2.vbm" \
    "$tmp/$enc-1.json" "$tmp/$enc-2.json" || fail "$enc: 2 ranks differ from 1 process"
done

# ---- failures end the job on every rank ---------------------------------------
# expect NAME PATTERN COMMAND...: the job fails within the timeout and its
# output holds PATTERN (a grep -E expression).
expect() {
  name=$1
  pattern=$2
  shift 2
  rc=0
  "$@" > "$tmp/out" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
    fail "$name: exit status $rc (0: no error; 124: a hang)"; cat "$tmp/out"
  elif ! grep -Eq "$pattern" "$tmp/out"; then
    fail "$name: no message matching '$pattern'"; cat "$tmp/out"
  else
    echo "== $name: ended with status $rc:"; grep -E "$pattern" "$tmp/out" | head -n 2
  fi
}
long="$args --epochs 500 --eval-every 0"
mkdir "$tmp/a" "$tmp/b"
cp "$D/train.tsv" "$D/test.tsv" "$tmp/a/"
cp "$D/test.tsv" "$tmp/b/"
( cat "$D/train.tsv"; echo "5 x 1" ) > "$tmp/b/train.tsv"
same="--train train.tsv --test test.tsv --num-items 1682 --epochs 2 --eval-every 1"
expect "malformed data on rank 1" "rank 0: loading the data failed on rank 1" \
  $mpi -np 1 -wdir "$tmp/a" "$train" $same : -np 1 -wdir "$tmp/b" "$train" $same
head -n 20000 "$D/train.tsv" > "$tmp/b/train.tsv"
expect "other data on rank 1" "not in step: the rows per epoch differs" \
  $mpi -np 1 -wdir "$tmp/a" "$train" $same : -np 1 -wdir "$tmp/b" "$train" $same
expect "other flags on rank 1" "rank 1 was started with other arguments" \
  $mpi -np 1 "$train" $args --epochs 1 : -np 1 "$train" $args --epochs 2
kill_rank1='if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then (sleep 2; kill -'
expect "rank 1 killed during training" "rank 1 .*exited on signal 9" \
  $mpi -np 2 sh -c "${kill_rank1}9 \$\$) & fi; exec \"\$0\" \"\$@\"" "$train" $long
expect "rank 1 exits at once with an error" "process returned|non-zero exit" \
  $mpi -np 1 "$train" $long : -np 1 false
# A process that ends with status 0 without ever starting MPI leaves the
# others in MPI_Init, where no deadline of ours runs: the launcher's
# (mpirun --timeout, or MPIEXEC_TIMEOUT) ends that job.
expect "rank 1 exits at once without an error" "time limit" \
  $mpi --timeout 10 -np 1 "$train" $long : -np 1 true
expect "rank 1 stops answering" "no answer from the other ranks .* for 5 s" \
  $mpi -np 2 sh -c "${kill_rank1}STOP \$\$) & fi; exec \"\$0\" \"\$@\"" "$train" $long \
  --timeout 5
exit $status
