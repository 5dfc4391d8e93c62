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
Printed: the median over --repeats interleaved rounds of the loss step
(forward and backward of the loss on gathered tensors) and of the whole
step (gather, loss, backward into the tables), in microseconds per step,
and each as a ratio to `separate`.

usage: torch_loss.py [-B 1024] [-M 2] [-N 4] [-d 64] [--threads 1]
"""
import argparse
import statistics
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
    args = ap.parse_args(argv)
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
        start = time.perf_counter()
        for _ in range(args.steps):
            loss(t).backward()
        return (time.perf_counter() - start) / args.steps

    def whole_step(gather, loss):
        start = time.perf_counter()
        for _ in range(args.steps):
            users.zero_grad()
            items.zero_grad()
            loss(gather()).backward()
        return (time.perf_counter() - start) / args.steps

    results = {k: ([], []) for k in variants}
    for name, (gather, loss) in variants.items():       # warm-up
        loss_step(gather, loss)
        whole_step(gather, loss)
    for _ in range(args.repeats):
        for name, (gather, loss) in variants.items():
            results[name][0].append(loss_step(gather, loss))
            results[name][1].append(whole_step(gather, loss))
    med = {k: (statistics.median(a), statistics.median(b)) for k, (a, b) in results.items()}
    print(f"B {B}, M {M}, N {N}, d {d}, threads {args.threads}, torch {torch.__version__}, "
          f"median of {args.repeats} rounds of {args.steps} steps")
    print(f"{'variant':<10} {'loss step us':>13} {'ratio':>7} {'whole step us':>14} "
          f"{'ratio':>7}")
    base = med["separate"]
    for name, (a, b) in med.items():
        print(f"{name:<10} {a * 1e6:13.0f} {a / base[0]:7.2f} {b * 1e6:14.0f} "
              f"{b / base[1]:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
