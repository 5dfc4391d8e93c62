#!/bin/sh
# vbpr-train as a user runs it: help, bad input, a short run with --json and
# --save, a terminal progress bar, and Ctrl-C.
set -u
bin=$1
have_mf=${2:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # description, then the condition's exit status
  if [ "$2" -eq 0 ]; then echo "ok: $1"; else echo "FAIL: $1"; fails=$((fails + 1)); fi
}

"$bin" --help > "$tmp/help" 2>&1
check "--help exits 0" $?
grep -q -- "--estimator" "$tmp/help"
check "--help lists the options" $?

"$bin" --no-such-option > /dev/null 2>&1
check "an unknown option exits 2" $([ $? -eq 2 ]; echo $?)
"$bin" --k 0 > "$tmp/err" 2>&1
check "--k 0 exits 2" $([ $? -eq 2 ]; echo $?)
grep -q "k" "$tmp/err"
check "--k 0 says why" $?
"$bin" --lr -1 --epochs 1 > "$tmp/err" 2>&1
check "a negative learning rate fails" $([ $? -ne 0 ]; echo $?)
grep -q "lr must be" "$tmp/err"
check "the message names lr" $?
"$bin" --train "$tmp/absent.tsv" --test "$tmp/absent.tsv" > "$tmp/err" 2>&1
check "a missing file exits 1" $([ $? -eq 1 ]; echo $?)
grep -q "absent.tsv" "$tmp/err"
check "the message names the file" $?
printf 'user\titem\trating\n0\t1\t5\n1\tx\t4\n' > "$tmp/bad.tsv"
"$bin" --train "$tmp/bad.tsv" --test "$tmp/bad.tsv" > "$tmp/err" 2>&1
check "a malformed file exits 1" $([ $? -eq 1 ]; echo $?)
grep -q "bad.tsv:3:3" "$tmp/err"
check "the message gives file, line and column" $?

"$bin" --preset fancy > "$tmp/err" 2>&1
check "an unknown preset exits 2" $([ $? -eq 2 ]; echo $?)
grep -q "unknown preset 'fancy'.*best" "$tmp/err"
check "the message lists the presets" $?

if [ "$have_mf" = 0 ]; then # a build without the MF module says so
  "$bin" --epochs 1 > "$tmp/err" 2>&1
  check "without the mf module training exits 1" $([ $? -eq 1 ]; echo $?)
  grep -q "mf" "$tmp/err"
  check "and names the missing module" $?
  [ $fails -eq 0 ] && echo "cli: all checks passed"
  exit $fails
fi

"$bin" --epochs 2 --eval-every 1 --dim 16 --json "$tmp/r.json" --save "$tmp/m.vbpr" \
  > "$tmp/out" 2>&1
check "a short run exits 0" $?
[ -s "$tmp/m.vbpr" ]
check "--save wrote the model" $?
python3 - "$tmp/r.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["runs"][0]
assert r["epochs"] == 2 and len(r["history"]) == 2, r
rec = r["best"]["recall"]["20"]["value"]
assert 0 < rec <= 1, rec
PY
check "--json holds two evaluations with a recall in (0, 1]" $?

# --preset is the library's preset (later options override it): the same
# run as its parameters given one by one, and not the default loss
loss_of() {
  "$bin" --epochs 2 --eval-every 2 --quiet --json "$tmp/p.json" "$@" > /dev/null 2>&1 &&
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['runs'][0]['last_loss'])" \
      "$tmp/p.json"
}
preset=$(loss_of --preset best --c 8)
spelled=$(loss_of --loss variational --estimator elbo --neg-attention easy --c 8 \
  --neg-hardness 0.5 --tau 0.5 --prior-good 1 --prior-bad 0.5)
plain=$(loss_of --loss variational --c 8)
[ -n "$preset" ] && [ "$preset" = "$spelled" ] && [ "$preset" != "$plain" ]
check "--preset best sets the preset's parameters ($preset, $spelled, $plain)" $?

# the fused path and InfoNCE, with the time of each evaluation in --json
"$bin" --epochs 2 --eval-every 1 --dim 16 --fused --optimizer adagrad --loss infonce \
  --temperature 0.2 -N 8 --json "$tmp/f.json" > "$tmp/out" 2>&1
check "--fused --loss infonce exits 0" $?
python3 - "$tmp/f.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["runs"][0]
assert r["epochs"] == 2 and len(r["history"]) == 2, r
h = r["history"]
assert 0 < h[0]["train_seconds"] <= h[1]["train_seconds"], h
assert 0 < h[1]["train_cpu_seconds"], h
PY
check "--json records the training time until each evaluation" $?
"$bin" --epochs 1 --dim 8 --fused --optimizer adam > "$tmp/err" 2>&1
check "--fused with adam exits 1" $([ $? -eq 1 ]; echo $?)
grep -q "row-wise optimizer" "$tmp/err"
check "and says which optimizers it takes" $?

if command -v script > /dev/null 2>&1; then
  script -qec "$bin --epochs 1 --dim 8" "$tmp/tty" > /dev/null 2>&1
  grep -q "tuples/s" "$tmp/tty"
  check "on a terminal a progress bar shows tuples/s" $?
fi

"$bin" --epochs 100000 --dim 8 --json "$tmp/int.json" > "$tmp/int" 2>&1 &
pid=$!
# The handler is installed before training starts: wait for the first epoch
# line (however loaded the machine), not for a fixed time.
waited=0
until grep -q '^epoch' "$tmp/int" 2>/dev/null || [ $waited -ge 600 ]; do
  sleep 0.1
  waited=$((waited + 1))
done
kill -INT $pid
wait $pid
check "Ctrl-C exits 130" $([ $? -eq 130 ]; echo $?)
grep -q "interrupted" "$tmp/int"
check "Ctrl-C says it stopped" $?
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['runs'][0]['interrupted']" "$tmp/int.json"
check "Ctrl-C still writes the results" $?

# XSimGCL from the command line; its flags are refused for other encoders.
"$bin" --encoder xsimgcl --layers 2 --cl-tau 0.5 --cl-weight 0.05 --epochs 1 --dim 8 \
  --json "$tmp/x.json" > "$tmp/out" 2>&1
check "--encoder xsimgcl trains" $?
if [ -n "$(command -v python3)" ]; then
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; assert r['epochs'] == 1 and r['last']['recall']['20'] > 0" "$tmp/x.json"
  check "and evaluates" $?
fi
"$bin" --encoder lightgcn --cl-tau 0.2 --epochs 1 > "$tmp/err" 2>&1
check "--cl-tau on LightGCN exits 1" $([ $? -eq 1 ]; echo $?)
grep -q "cl_tau does not apply to a LightGCN encoder" "$tmp/err"
check "and says why" $?

# Checkpoints: a run killed with SIGKILL after a checkpoint resumes, in a
# new process, to the model and history of the uninterrupted run.
run="$bin --epochs 12 --eval-every 3 --dim 8 --seed 3 --threads 1 --quiet"
$run --json "$tmp/full.json" --save "$tmp/full.vbpr" > /dev/null 2>&1
check "an uninterrupted run for the checkpoint test" $?
$run --checkpoint "$tmp/ck" > /dev/null 2>&1 &
pid=$!
waited=0
until [ -s "$tmp/ck" ] || [ $waited -ge 600 ]; do
  sleep 0.05
  waited=$((waited + 1))
done
kill -KILL $pid
wait $pid 2> /dev/null
$run --resume "$tmp/ck" --json "$tmp/res.json" --save "$tmp/res.vbpr" > /dev/null 2>&1
check "--resume after SIGKILL exits 0" $?
cmp -s "$tmp/full.vbpr" "$tmp/res.vbpr"
check "the resumed model equals the uninterrupted one, byte for byte" $?
python3 - "$tmp/full.json" "$tmp/res.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["runs"][0] for p in sys.argv[1:3])
# the evaluations, without the times of training until them (a resumed run
# did not take the time of the epochs before its checkpoint)
def evals(run):
    return [{k: v for k, v in h.items() if not k.startswith("train_")} for h in run["history"]]
assert evals(a) == evals(b) and len(evals(a)) == 4, (a["history"], b["history"])
PY
check "the resumed history equals the uninterrupted one" $?
"$bin" --epochs 12 --dim 16 --seed 3 --resume "$tmp/ck" > "$tmp/err" 2>&1
check "--resume with another --dim exits 1" $([ $? -eq 1 ]; echo $?)
grep -q "differs from the checkpoint" "$tmp/err"
check "and says why" $?
printf 'not a checkpoint' > "$tmp/bad.ckpt"
"$bin" --resume "$tmp/bad.ckpt" > "$tmp/err" 2>&1
check "--resume of a damaged file exits 1" $([ $? -eq 1 ]; echo $?)
grep -q "bad.ckpt" "$tmp/err"
check "and names the file" $?

# Noise diagnosis on the built-in data: the report ranks the injected
# false positives first far more often than chance.
"$bin" --epochs 8 --dim 16 --threads 1 --noise-report "$tmp/noise.tsv" > "$tmp/out" 2>&1
check "--noise-report exits 0" $?
grep -q '^rank	user	item	rating	weight	loss	visits$' "$tmp/noise.tsv"
check "the report has its header" $?
python3 - "$tmp/out" <<'PY'
import re, sys
m = re.search(r"ROC AUC of the \d+ injected false positives ([0-9.]+)", open(sys.argv[1]).read())
assert m and float(m.group(1)) > 0.65, m and m.group(0)
PY
check "the report finds the injected false positives (ROC AUC > 0.65)" $?

[ $fails -eq 0 ] && echo "cli: all checks passed"
exit $fails
