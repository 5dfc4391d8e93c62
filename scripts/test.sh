#!/bin/sh
# Installs what is missing, builds with warnings as errors, and runs every
# test: the full suite in a release build (and the Python suite again in
# fresh virtual environments after `pip install`), again under
# AddressSanitizer and UndefinedBehaviorSanitizer, and in a build with the
# optional modules off;
# the robustness suite under ThreadSanitizer; the unit suite under valgrind.
. "$(dirname "$0")/common.sh"
install_missing $VBPR_TEST_PACKAGES

if [ -n "$VBPR_DATA_DIR" ]; then
  echo "== real data: $VBPR_DATA_DIR"
else
  echo "== real data: not found (data tests skip; in CI they fail)"
fi

# meson_test DIR LABEL [meson test options...]: runs the tests; the whole
# output is kept in DIR/meson-logs/output-LABEL.txt. On success it prints the
# summary; on failure every failing test's log as well. It never stops the
# script: the other builds still run, and summarize.py counts the failures.
meson_test() {
  dir=$1
  label=$2
  shift 2
  out="$dir/meson-logs/output-$label.txt"
  status=0
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 \
    "--timeout-multiplier=${VBPR_TIMEOUT_MULTIPLIER:-1}" "$@" >"$out" 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    tail -n 8 "$out"
  else
    echo "== [$label] FAILED (exit $status); the failing tests and their logs follow"
    echo "== (full output: $out; per-test logs: $dir/meson-logs/testlog*.txt)"
    grep -vE '^ *[0-9]+/[0-9]+ .* (OK|SKIP) +[0-9.]+s' "$out"
  fi
}

run_suite() {
  name=$1
  dir=$2
  shift 2
  echo "== [$name] configure and build ($dir)"
  configure_build "$dir" "$@"
  echo "== [$name] test"
  meson_test "$dir" "$name"
}

# run_suite_only NAME DIR SUITE [meson options...]: run_suite for one suite.
run_suite_only() {
  name=$1
  dir=$2
  suite=$3
  shift 3
  echo "== [$name] configure and build ($dir)"
  configure_build "$dir" "$@"
  echo "== [$name] test (suite $suite)"
  meson_test "$dir" "$name" --suite "$suite"
}

run_suite release build

# The Python package installed as users install it (pip, fresh venvs, offline).
venv_status=0
sh "$ROOT/scripts/python_venv.sh" build || venv_status=$?
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
  VBPR_TIMEOUT_MULTIPLIER=4 \
  run_suite asan build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dbench=false
# (with the static library beside the shared one, for the CMake test)
run_suite no-modules build-nomod -Dmf=disabled -Dlightgcn=disabled -Dbench=false \
  -Ddefault_library=both

echo "== [fuzz] libFuzzer targets, ${VBPR_FUZZ_SECONDS:-20} s each"
fuzz_status=0
sh "$ROOT/scripts/fuzz.sh" "${VBPR_FUZZ_SECONDS:-20}" || fuzz_status=$?

# Threaded paths under ThreadSanitizer, with two library threads.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 VBPR_NUM_THREADS=2 \
  VBPR_TIMEOUT_MULTIPLIER=4 \
  run_suite_only tsan build-tsan robust -Db_sanitize=thread -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dbench=false -Dexamples=false

# The unit tests under valgrind's memcheck (the kill-a-saving-child test is
# left to the sanitizer builds: it takes minutes under valgrind).
echo "== [valgrind] unit suite under memcheck (build)"
meson_test build valgrind --setup valgrind --suite unit --no-suite crash-safety

python3 "$ROOT/scripts/summarize.py" build build-asan build-nomod build-tsan \
  "fuzz=$fuzz_status" "python-venv=$venv_status"
