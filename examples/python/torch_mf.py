#!/usr/bin/env python3
"""A PyTorch matrix factorisation (two nn.Embedding tables) trained with the
C library's Variational BPR loss through vbpr.torch.

The model, the optimizer (torch.optim.Adam) and the training loop are plain
PyTorch; libvbpr provides the loss (with its gradients), the tuple sampler,
the item priors and the full-ranking evaluation. Swapping the loss is one
line:

    criterion = vbpr.torch.BPRLoss()                                      # before
    criterion = vbpr.torch.VariationalBPRLoss(preset="reference-plugin")  # after

usage: torch_mf.py [--data DIR | --synthetic] [--loss bpr|variational]
                   [--preset NAME] [--prior-good A2 --prior-bad B2] [options]
With --data (or $VBPR_DATA_DIR) it trains on MovieLens 100K, otherwise on
the library's built-in synthetic data. The model runs on --device (default:
CUDA when there is one, as research code does); the loss follows the
tensors (C kernels on the CPU, torch operations elsewhere).
"""
import argparse
import json
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

    def gather(self, users, items):
        """users [B], items [B, M + N] ids -> [B, d], [B, M + N, d] at once."""
        return self.users(users), self.items(items)


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
    # On the CPU the weights are float32 and contiguous: the evaluator reads
    # them in place (elsewhere they are copied to the host once).
    users = model.users.weight.detach().cpu().numpy()
    items = model.items.weight.detach().cpu().numpy()
    return evaluator.run(users, items)


def make_criterion(args):
    if args.loss == "bpr":
        return vbpr.torch.BPRLoss(backend=args.backend)
    return vbpr.torch.VariationalBPRLoss(
        M=args.M, N=args.N, preset=args.preset, estimator=args.estimator,
        neg_attention=args.neg_attention, neg_hardness=args.neg_hardness,
        c_pos=args.c, c_neg=args.c, backend=args.backend)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="ml-100k directory (default $VBPR_DATA_DIR/ml-100k)")
    ap.add_argument("--synthetic", action="store_true", help="use the synthetic data")
    ap.add_argument("--loss", choices=["bpr", "variational"], default="variational")
    ap.add_argument("--preset", help="loss preset: " + ", ".join(vbpr.loss_presets()))
    ap.add_argument("--estimator", help="prototype, prototype_detached (plugin), elbo "
                    "(exact)")
    ap.add_argument("--neg-attention", help="hard or easy")
    ap.add_argument("--neg-hardness", type=float)
    ap.add_argument("--c", type=float, help="c_pos and c_neg")
    ap.add_argument("--prior-rarity", type=float, default=0.0, help="a1 (log rarity)")
    ap.add_argument("--prior-good", type=float, default=0.0, help="a2 (log good)")
    ap.add_argument("--prior-popularity", type=float, default=0.0,
                    help="b1 (log popularity)")
    ap.add_argument("--prior-bad", type=float, default=0.0, help="b2 (log bad)")
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
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--backend", choices=["auto", "c", "torch"], default="auto",
                    help="where the loss runs (auto: C on the CPU, torch elsewhere)")
    ap.add_argument("--combined", action="store_true",
                    help="gather [B, M+N, d] item embeddings at once")
    ap.add_argument("--json", help="write the history to this file")
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
        vbpr.set_num_threads(args.threads)
    name, train, test = load_data(args)
    criterion = make_criterion(args)
    M, N = criterion.num_pos, criterion.num_neg
    device = torch.device(args.device)
    model = MF(train.num_users, train.num_items, args.dim).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.l2)
    sampler = vbpr.Sampler(train, batch_size=args.batch, num_pos=M, num_neg=N,
                           seed=args.seed)
    evaluator = vbpr.Evaluator(train, test, ks=[20])
    weights = (args.prior_rarity, args.prior_good, args.prior_popularity, args.prior_bad)
    priors = None
    if any(weights):     # the reference code's item priors, as log-priors
        priors = [torch.from_numpy(a).to(device) for a in train.item_log_priors(*weights)]
    print(f"{name}: {train.num_users} users, {train.num_items} items, "
          f"{train.num_interactions} training interactions; {criterion}; "
          f"priors {weights}; device {device}")

    history, t0 = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        total, batches = 0.0, 0
        for users, pos, neg in sampler:
            users, pos, neg = (torch.from_numpy(a).long().to(device) for a in (users, pos, neg))
            lp = {}
            if priors is not None:
                lp = dict(log_prior_pos=priors[0][pos], log_prior_neg=priors[1][neg])
            if args.combined:
                u, items = model.gather(users, torch.cat([pos, neg], 1))
                loss = criterion(u, items, **lp)
            else:
                loss = criterion(*model(users, pos, neg), **lp)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        record = {"epoch": epoch, "loss": total / batches}
        line = f"epoch {epoch:3d}  loss {total / batches:.4f}"
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            res = evaluate(model, evaluator)
            record.update(recall=res["recall"][20], ndcg=res["ndcg"][20])
            line += f"  recall@20 {res['recall'][20]:.4f}  ndcg@20 {res['ndcg'][20]:.4f}"
        history.append(record)
        print(line, flush=True)
    seconds = time.perf_counter() - t0
    print(f"{seconds:.1f} s")
    if args.json:
        evaluated = [h for h in history if "recall" in h]
        best = max(evaluated, key=lambda h: h["recall"])
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "criterion": repr(criterion), "seconds": seconds,
                       "best_recall": best["recall"], "best_epoch": best["epoch"],
                       "best_ndcg": max(h["ndcg"] for h in evaluated), "history": history},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
