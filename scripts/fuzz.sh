#!/bin/sh
# Builds the libFuzzer targets in fuzz/ and runs each for a time budget.
#   scripts/fuzz.sh [seconds-per-target]   (default 60)
# Environment: VBPR_FUZZ_BUILD (build dir, default build-fuzz),
# VBPR_FUZZ_JOBS (targets run at once, default 2), CC (default clang).
# Prints executions, coverage and crashes per target; exits non-zero when a
# target crashed, leaked or timed out (the input is kept in
# <build>/fuzz-artifacts/<target>/) or when a reproducer in fuzz/regressions/
# fails again.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${1:-60}
BUILD=${VBPR_FUZZ_BUILD:-$ROOT/build-fuzz}
JOBS=${VBPR_FUZZ_JOBS:-2}
CC=${CC:-clang}
TARGETS="dataset_table dataset_lists encoder_load loss"

case $SECS in '' | *[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;; esac
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (Debian: clang)" >&2; exit 2; }
mkdir -p "$BUILD"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
  >"$BUILD/fuzz-probe.c"
if ! $CC -fsanitize=fuzzer "$BUILD/fuzz-probe.c" -o "$BUILD/fuzz-probe" 2>/dev/null; then
  echo "fuzz: $CC cannot link libFuzzer (Debian: libclang-rt-14-dev)" >&2
  exit 2
fi

# The library with coverage instrumentation and sanitizers, static.
if [ ! -f "$BUILD/build.ninja" ]; then
  CC=$CC meson setup "$BUILD" -Ddefault_library=static -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dtests=false -Dexamples=false -Dbench=false \
    "-Dc_args=-fsanitize=fuzzer-no-link" >/dev/null
fi
ninja -C "$BUILD" lib/libvbpr.a >/dev/null

build_target() {
  name=$1
  shift
  $CC -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT/include" -I"$BUILD/include" "$@" \
    -o "$BUILD/fuzz_$name" "$BUILD/lib/libvbpr.a" -lblis -lpthread -lm
}
build_target dataset_table -DFUZZ_FORMAT=1 fuzz/fuzz_dataset.c
build_target dataset_lists -DFUZZ_FORMAT=2 fuzz/fuzz_dataset.c
build_target encoder_load fuzz/fuzz_encoder_load.c
build_target loss fuzz/fuzz_loss.c

# Allocations above 64 MB fail (NULL) instead of ending the run: a data
# file with a large id legitimately asks for a large universe, and the
# library must then report VBPR_ERR_OUT_OF_MEMORY cleanly.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=64
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Replays the saved reproducers of fixed bugs (fuzz/regressions/<target>/*;
# those of bugs not fixed yet wait in a pending/ subfolder, not replayed).
status=0
for t in $TARGETS; do
  dir=fuzz/regressions/$t
  files=$(find "$dir" -maxdepth 1 -type f ! -name '*.md' 2>/dev/null | sort)
  [ -n "$files" ] || continue
  # shellcheck disable=SC2086
  if ! "$BUILD/fuzz_$t" $files >"$BUILD/fuzz-$t-regressions.log" 2>&1; then
    echo "fuzz: $t: a reproducer in $dir fails (see $BUILD/fuzz-$t-regressions.log)"
    status=1
  fi
done

# Runs one target: the working corpus starts from the committed seeds and
# lives in the build dir, so that runs never write into the source tree.
run_target() {
  t=$1
  work=$BUILD/fuzz-corpus/$t
  art=$BUILD/fuzz-artifacts/$t
  rm -rf "$art"
  mkdir -p "$work" "$art"
  rc=0
  "$BUILD/fuzz_$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" \
    "$work" "fuzz/corpus/$t" >"$BUILD/fuzz-$t.log" 2>&1 || rc=$?
  echo "$rc" >"$BUILD/fuzz-$t.rc"
}

running=0
for t in $TARGETS; do
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait
    running=0
  fi
done
wait

printf '%-14s %12s %8s %8s %s\n' target executions cov ft crashes
for t in $TARGETS; do
  log=$BUILD/fuzz-$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  crashes=$(find "$BUILD/fuzz-artifacts/$t" -type f | wc -l)
  rc=$(cat "$BUILD/fuzz-$t.rc")
  printf '%-14s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    echo "fuzz: $t failed (exit $rc); log: $log; inputs: $BUILD/fuzz-artifacts/$t/"
    grep -m 3 -E 'ERROR|runtime error|invariant failed' "$log" || true
    status=1
  fi
done
exit $status
