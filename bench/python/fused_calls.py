#!/usr/bin/env python3
"""What a Python host pays per tuple on the fused path
(vbpr.Optimizer.step_tuples) as a function of the tuples per call: the
argument checks and the ctypes call are paid once per call, the C loop
once per tuple. The same tuples are fed in calls of T = 1, 4, 16, 64, 256
and 4096 tuples, in interleaved rounds; printed: the median over the
rounds of ns per tuple, and its ratio to the T = 4096 row measured in the
same round (the C loop's own cost). Then the cost of one call of one
tuple three ways (microseconds, the fastest of the rounds): the binding's
step_tuples, the bare prototype of vbpr/_lib.py (numpy ndpointer
arguments, no checks) and the same C function through raw pointers.

usage: fused_calls.py [--loss bpr|variational|infonce] [-M 1] [-N 1]
                      [-d 64] [--tuples 16384] [--rounds 7] [--threads 1]
"""
import argparse
import ctypes
import statistics
import time
import timeit

import numpy as np

import vbpr
from vbpr import _lib

SIZES = (1, 4, 16, 64, 256, 4096)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loss", default="bpr")
    ap.add_argument("-M", type=int, default=1)
    ap.add_argument("-N", type=int, default=1)
    ap.add_argument("-d", type=int, default=64)
    ap.add_argument("--users", type=int, default=30000)
    ap.add_argument("--items", type=int, default=40000)
    ap.add_argument("--tuples", type=int, default=16384)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    vbpr.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    loss = vbpr.Loss(a.loss) if a.loss == "bpr" else \
        vbpr.Loss(a.loss, **({"num_pos": a.M} if a.loss == "variational" else {}),
                  num_neg=a.N)
    m, n = loss.M, loss.N
    ut = (0.01 * rng.standard_normal((a.users, a.d))).astype(np.float32)
    it = (0.01 * rng.standard_normal((a.items, a.d))).astype(np.float32)
    users = rng.integers(0, a.users, a.tuples, dtype=np.int32)
    pos = rng.integers(0, a.items, (a.tuples, m), dtype=np.int32)
    neg = rng.integers(0, a.items, (a.tuples, n), dtype=np.int32)
    opt = vbpr.Optimizer("sgd", lr=0.01)
    ns = {t: [] for t in SIZES}
    for _ in range(a.rounds):
        for t in SIZES:
            start = time.perf_counter_ns()
            for b in range(0, a.tuples, t):
                opt.step_tuples(loss, ut, it, users[b:b + t], pos[b:b + t], neg[b:b + t])
            ns[t].append((time.perf_counter_ns() - start) / a.tuples)
    base = [x for x in ns[SIZES[-1]]]
    print(f"# {a.loss} M={m} N={n} d={a.d} tables {a.users}x{a.items}, {a.tuples} tuples, "
          f"{a.rounds} rounds, {vbpr.get_num_threads()} thread(s)")
    print(f"{'T per call':>10} {'ns/tuple':>10} {'x T=4096':>9}")
    for t in SIZES:
        ratio = statistics.median(x / y for x, y in zip(ns[t], base))
        print(f"{t:>10} {statistics.median(ns[t]):>10.0f} {ratio:>9.2f}")
    one_call(a, opt, loss, ut, it, users[:1], pos[:1], neg[:1])


def one_call(a, opt, loss, ut, it, u, p, n):
    """One tuple per call: the binding, the bare prototype, raw pointers."""
    rows = (ut.shape[0], it.shape[0], ut.shape[1])
    raw = ctypes.CDLL(_lib.lib_path).vbpr_optim_step_tuples
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    raw.restype = ctypes.c_int
    raw.argtypes = [vp, vp, ctypes.c_int32, sz, sz, sz, vp, vp, sz, vp, vp, vp, vp, vp, vp]
    o, lo = ctypes.cast(opt._ptr, vp), ctypes.cast(loss._ptr, vp)
    addr = [x.ctypes.data for x in (ut, it, u, p, n)]
    ways = {
        "step_tuples": lambda: opt.step_tuples(loss, ut, it, u, p, n),
        "prototype": lambda: _lib.lib.vbpr_optim_step_tuples(
            opt._ptr, loss._ptr, 0, *rows, ut, it, 1, u, p, n, None, None, None),
        "raw pointers": lambda: raw(o, lo, 0, *rows, addr[0], addr[1], 1, addr[2],
                                    addr[3], addr[4], None, None, None),
    }
    print(f"{'one tuple per call':>18} {'us/call':>8}")
    for name, fn in ways.items():
        best = min(timeit.repeat(fn, number=2000, repeat=a.rounds)) / 2000
        print(f"{name:>18} {best * 1e6:>8.2f}")


if __name__ == "__main__":
    main()
