#!/usr/bin/env python3
"""A PyTorch matrix factorisation (two nn.Embedding tables) trained with the
C library's Variational BPR loss through vbpr.torch.

The model, the optimizer (torch.optim.Adam) and the training loop are plain
PyTorch; libvbpr provides the loss (with its gradients), the tuple sampler
and the full-ranking evaluation. Swapping the loss is one line:

    criterion = vbpr.torch.BPRLoss()                        # before
    criterion = vbpr.torch.VariationalBPRLoss(M=2, N=4)     # after

usage: torch_mf.py [--data DIR | --synthetic] [--loss bpr|variational] [options]
With --data (or $VBPR_DATA_DIR) it trains on MovieLens 100K, otherwise on
the library's built-in synthetic data.
"""
import argparse
import os
import sys
import time

import torch

import vbpr
import vbpr.torch


class MF(torch.nn.Module):
    """Users and items as rows of two embedding tables; score = <u, i>."""

    def __init__(self, num_users, num_items, dim):
        super().__init__()
        self.users = torch.nn.Embedding(num_users, dim)
        self.items = torch.nn.Embedding(num_items, dim)
        torch.nn.init.normal_(self.users.weight, std=0.01)
        torch.nn.init.normal_(self.items.weight, std=0.01)

    def forward(self, users, pos, neg):
        """users [B], pos [B, M], neg [B, N] ids -> [B, d], [B, M, d], [B, N, d]."""
        return self.users(users), self.items(pos), self.items(neg)


def load_data(args):
    data_dir = args.data or (os.path.join(os.environ["VBPR_DATA_DIR"], "ml-100k")
                             if os.environ.get("VBPR_DATA_DIR") else None)
    if data_dir and not args.synthetic:
        with vbpr.Dataset.load(os.path.join(data_dir, "ratings.tsv")) as full:
            universe = dict(min_users=full.num_users, min_items=full.num_items)
        train, test = vbpr.Dataset.load_pair(os.path.join(data_dir, "train.tsv"),
                                             os.path.join(data_dir, "test.tsv"), **universe)
        return "ml-100k", train, test
    return "synthetic", *vbpr.synthetic(seed=args.seed)


def evaluate(model, evaluator):
    # The weights are float32 and contiguous: the evaluator reads them in place.
    users = model.users.weight.detach().numpy()
    items = model.items.weight.detach().numpy()
    return evaluator.run(users, items)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="ml-100k directory (default $VBPR_DATA_DIR/ml-100k)")
    ap.add_argument("--synthetic", action="store_true", help="use the synthetic data")
    ap.add_argument("--loss", choices=["bpr", "variational"], default="variational")
    ap.add_argument("-M", type=int, default=2)
    ap.add_argument("-N", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--l2", type=float, default=1e-5)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=None, help="torch and libvbpr threads")
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
        vbpr.set_num_threads(args.threads)
    name, train, test = load_data(args)
    M, N = (1, 1) if args.loss == "bpr" else (args.M, args.N)
    criterion = (vbpr.torch.BPRLoss() if args.loss == "bpr"
                 else vbpr.torch.VariationalBPRLoss(M=M, N=N))
    model = MF(train.num_users, train.num_items, args.dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.l2)
    sampler = vbpr.Sampler(train, batch_size=args.batch, num_pos=M, num_neg=N,
                           seed=args.seed)
    evaluator = vbpr.Evaluator(train, test, ks=[20])
    print(f"{name}: {train.num_users} users, {train.num_items} items, "
          f"{train.num_interactions} training interactions; {criterion}")

    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        total, batches = 0.0, 0
        for users, pos, neg in sampler:
            u, p, n = model(torch.from_numpy(users).long(), torch.from_numpy(pos).long(),
                            torch.from_numpy(neg).long())
            loss = criterion(u, p, n)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        line = f"epoch {epoch:3d}  loss {total / batches:.4f}"
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            res = evaluate(model, evaluator)
            line += f"  recall@20 {res['recall'][20]:.4f}  ndcg@20 {res['ndcg'][20]:.4f}"
        print(line, flush=True)
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
