#!/bin/sh
# Steady-state loss calls make no system call: steady_loss (batch-1 calls,
# default threads) under strace, counting what happens between its markers,
# for 1,000 and for 2,000 calls. Skips (77) without a working strace.
#   syscalls.sh STEADY_LOSS_PROGRAM
set -u
prog=$1
command -v strace > /dev/null 2>&1 || { echo "SKIP: strace not found"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
strace -f -o "$tmp/probe" true > /dev/null 2>&1 ||
  { echo "SKIP: strace cannot trace here (ptrace not permitted?)"; exit 77; }

# count CALLS: prints "<syscalls of the calling thread between the markers>
# <syscalls of any thread between them> <openat calls in the whole run>".
# LeakSanitizer cannot run under ptrace: leaks are checked by other tests.
count() {
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    env -u VBPR_NUM_THREADS strace -f -qq -o "$tmp/log$1" "$prog" "$1" || return 1
  awk '
    /vbpr-steady-begin/ { main = $1; on = 1; next }
    /vbpr-steady-end/ { on = 0; next }
    /^[0-9]+ +(\+\+\+|---)/ { next }
    /openat\(/ { opens++ }
    on { any++; if ($1 == main) mine++ }
    END { printf "%d %d %d\n", mine, any, opens }' "$tmp/log$1"
}

r1=$(count 1000) && r2=$(count 2000) ||
  { echo "FAIL: $prog failed under strace"; exit 1; }
# shellcheck disable=SC2086
set -- $r1 $r2
echo "1000 calls: $1 system calls by the calling thread, $2 by any thread; $3 openat in the run"
echo "2000 calls: $4 system calls by the calling thread, $5 by any thread; $6 openat in the run"
fails=0
if [ "$1" -ne 0 ] || [ "$4" -ne 0 ]; then
  echo "FAIL: steady-state calls make system calls:"
  awk '/vbpr-steady-begin/,/vbpr-steady-end/' "$tmp/log1000" | sed -n 2,20p
  fails=1
fi
if [ "$5" -gt "$2" ] || [ "$6" -ne "$3" ]; then
  echo "FAIL: system calls grow with the number of calls"
  fails=1
fi
[ "$fails" -eq 0 ] && echo "ok: no system call in steady-state calls"
exit "$fails"
