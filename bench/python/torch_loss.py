#!/usr/bin/env python3
"""Speed of a PyTorch training step with vbpr.torch, by the way a host
gathers its item embeddings (issue 13, item 4), and of the torch path.

Each variant runs the same step on MF embedding tables (torch.nn.Embedding)
for B rows, M positives and N negatives:
  separate   u, p, n = users(uid), items(pid), items(nid); criterion(u, p, n)
  combined   items(cat(pid, nid)) gathered at once: criterion(u, items)
  sliced     the same gather, then criterion(u, items[:, :M], items[:, M:])
             (slices are copied by .contiguous(): what hosts did before)
  torch      combined, with backend="torch" (the path of non-CPU devices)
  formulas   the plug-in loss written in torch operations by the host
             itself (softmax attention, log-priors, softplus), as the
             reference code computes it
Printed: the median and the 10th percentile over every step of --repeats
interleaved rounds of the loss step (forward and backward of the loss on
gathered tensors) and of the whole step (gather, loss, backward into the
tables), in microseconds, and each as a ratio to `separate`. Percentiles
of single steps, because a shared machine's preemptions inflate any mean
(the 10th percentile is the least disturbed figure); each round of each variant
runs in its own process, so that one variant's allocations (the memory
allocator's state) do not change another's figures.

usage: torch_loss.py [-B 1024] [-M 2] [-N 4] [-d 64] [--threads 1]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

import vbpr
import vbpr.torch


def formulas(u, items, lpp, lpn, m, c_pos=4.0, c_neg=4.0):
    """The plug-in (detached) Variational BPR loss with easy negative
    attention, as a host writes it in torch operations."""
    s = torch.sum(u.unsqueeze(1) * items, dim=-1)
    sp, sn = s[:, :m], s[:, m:]
    with torch.no_grad():
        alpha = torch.softmax(sp / c_pos + lpp, dim=-1)
        beta = torch.softmax(-sn / c_neg + lpn, dim=-1)
    return F.softplus(-((sp * alpha).sum(-1) - (sn * beta).sum(-1))).mean()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-B", type=int, default=1024)
    ap.add_argument("-M", type=int, default=2)
    ap.add_argument("-N", type=int, default=4)
    ap.add_argument("-d", type=int, default=64)
    ap.add_argument("--users", type=int, default=943)
    ap.add_argument("--items", type=int, default=1682)
    ap.add_argument("--steps", type=int, default=50, help="steps per round")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", help=argparse.SUPPRESS)   # one variant, one round (child)
    args = ap.parse_args(argv)
    if args.only is None:
        return drive(args, argv if argv is not None else sys.argv[1:])
    torch.set_num_threads(args.threads)
    vbpr.set_num_threads(args.threads)
    B, M, N, d = args.B, args.M, args.N, args.d
    g = torch.Generator().manual_seed(0)
    users = torch.nn.Embedding(args.users, d)
    items = torch.nn.Embedding(args.items, d)
    uid = torch.randint(0, args.users, (B,), generator=g)
    iid = torch.randint(0, args.items, (B, M + N), generator=g)
    lp = torch.randn(B, M + N, generator=g) * 0.1
    lpp, lpn = lp[:, :M].contiguous(), lp[:, M:].contiguous()
    kw = dict(M=M, N=N, preset="reference-plugin", neg_hardness=0.0)
    crit = vbpr.torch.VariationalBPRLoss(**kw)
    crit_t = vbpr.torch.VariationalBPRLoss(backend="torch", **kw)

    def gather_separate():
        return users(uid), items(iid[:, :M]), items(iid[:, M:])

    def gather_combined():
        return users(uid), items(iid)

    variants = {
        "separate": (gather_separate, lambda t: crit(*t, lpp, lpn)),
        "combined": (gather_combined, lambda t: crit(*t, log_prior_pos=lpp,
                                                    log_prior_neg=lpn)),
        "sliced": (gather_combined, lambda t: crit(t[0], t[1][:, :M], t[1][:, M:], lpp,
                                                   lpn)),
        "torch": (gather_combined, lambda t: crit_t(*t, log_prior_pos=lpp,
                                                   log_prior_neg=lpn)),
        "formulas": (gather_combined, lambda t: formulas(*t, lpp, lpn, M)),
    }

    def loss_step(gather, loss):
        t = [x.detach().requires_grad_(True) for x in gather()]
        out = []
        for _ in range(args.steps):
            start = time.perf_counter()
            loss(t).backward()
            out.append(time.perf_counter() - start)
        return out

    def whole_step(gather, loss):
        out = []
        for _ in range(args.steps):
            start = time.perf_counter()
            users.zero_grad()
            items.zero_grad()
            loss(gather()).backward()
            out.append(time.perf_counter() - start)
        return out

    gather, loss = variants[args.only]
    loss_step(gather, loss)                 # warm-up
    whole_step(gather, loss)
    print(json.dumps([loss_step(gather, loss), whole_step(gather, loss)]))
    return 0


VARIANTS = ("separate", "combined", "sliced", "torch", "formulas")


def drive(args, argv):
    """Runs each variant's rounds in child processes, interleaved."""
    results = {k: ([], []) for k in VARIANTS}
    for _ in range(args.repeats):
        for name in VARIANTS:
            out = subprocess.run([sys.executable, __file__, *argv, "--only", name],
                                 capture_output=True, text=True, check=True)
            a, b = json.loads(out.stdout)
            results[name][0].extend(a)
            results[name][1].extend(b)
    def stats(x):
        return statistics.median(x), statistics.quantiles(x, n=10)[0]
    med = {k: (stats(a), stats(b)) for k, (a, b) in results.items()}
    print(f"B {args.B}, M {args.M}, N {args.N}, d {args.d}, threads {args.threads}, "
          f"torch {torch.__version__}, {args.repeats} rounds of {args.steps} steps, one "
          f"process per round; microseconds per step, median / 10th percentile")
    print(f"{'variant':<10} {'loss step':>13} {'ratio':>11} {'whole step':>13} "
          f"{'ratio':>11}")
    (bl, bw) = med["separate"]
    for name, (lo, wh) in med.items():
        print(f"{name:<10} {lo[0] * 1e6:6.0f} /{lo[1] * 1e6:6.0f} {lo[0] / bl[0]:5.2f} /"
              f"{lo[1] / bl[1]:5.2f} {wh[0] * 1e6:6.0f} /{wh[1] * 1e6:6.0f} "
              f"{wh[0] / bw[0]:5.2f} /{wh[1] / bw[1]:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
