#!/usr/bin/env python3
"""Data-parallel matrix factorisation on Gowalla with torch.distributed
(gloo, CPU) and the library's Variational BPR loss (vbpr.torch).

Every process ("rank") holds the whole model. The library's sampler, told
its rank and the number of ranks, draws this rank's share of each global
batch: the shares of all ranks together are exactly the batch one process
draws with the same seed. Each rank computes the loss of its rows, the
ranks sum their gradients with explicit all-reduces, and every rank takes
the same optimizer step, so the parameters stay identical on every rank and
equal (to float rounding) those of a one-process run.

The gradients of the embedding tables are exchanged sparsely, as the C
trainer does: the ranks all-gather the ids of the rows they touched, then
all-reduce the gradient rows of the union only (a batch of 2048 Gowalla
tuples touches about half of the 41k items, the tables hold 70k rows).

Start it with torchrun (or python3 -m torch.distributed.run):

    python3 -m torch.distributed.run --standalone --nproc_per_node 2 \
        --redirects 1 --tee 1 torch_mf_dist.py
    python3 torch_mf_dist.py              # one process, the same results

(--redirects 1 --tee 1: Debian 12's torch 1.13 under Python 3.11 cannot
parse these options' default.)

Data: $VBPR_DATA_DIR/gowalla (train.txt, test.txt: 'user item item ...'
lines), or --data DIR with train.tsv/test.tsv (e.g. ml-100k).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

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
        return self.users(users), self.items(pos), self.items(neg)


def load(args):
    if args.data:
        return vbpr.Dataset.load_pair(os.path.join(args.data, "train.tsv"),
                                      os.path.join(args.data, "test.tsv"))
    root = os.path.join(os.environ.get("VBPR_DATA_DIR", "../shared/data"), "gowalla")
    return vbpr.Dataset.load_pair(os.path.join(root, "train.txt"),
                                  os.path.join(root, "test.txt"))


def sum_sparse_rows(weight, touched, world):
    """Sums weight.grad over the ranks on the union of the rows the ranks
    touched (the other rows are zero everywhere): an all-gather of the row
    ids padded to the longest list, then one all-reduce of those rows."""
    if weight.grad is None:  # no backward yet on this rank
        weight.grad = torch.zeros_like(weight)
    count = torch.tensor([touched.numel()], dtype=torch.int64)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    longest = int(max(c.item() for c in counts))
    padded = torch.full((longest,), -1, dtype=torch.int64)
    padded[:touched.numel()] = touched
    lists = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(lists, padded)
    union = torch.unique(torch.cat(lists))
    union = union[union >= 0]
    rows = weight.grad[union]
    dist.all_reduce(rows)
    weight.grad[union] = rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="a directory with train.tsv and test.tsv (default: "
                    "Gowalla from $VBPR_DATA_DIR)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--eval-every", type=int, default=0, help="0: after the last epoch")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("-M", type=int, default=2)
    ap.add_argument("-N", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2048, help="the global batch")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--l2", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--save", help="rank 0 writes the final tables here (.npz)")
    args = ap.parse_args(argv)

    distributed = "RANK" in os.environ  # set by torchrun
    if distributed:
        dist.init_process_group("gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    torch.set_num_threads(1)
    vbpr.set_num_threads(1)
    torch.manual_seed(args.seed)  # the same initial tables on every rank

    train, test = load(args)
    model = MF(train.num_users, train.num_items, args.dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.l2)
    criterion = vbpr.torch.VariationalBPRLoss(M=args.M, N=args.N)
    sampler = vbpr.Sampler(train, batch_size=args.batch, num_pos=args.M, num_neg=args.N,
                           seed=args.seed, world_size=world, rank=rank)
    if rank == 0:
        print(f"{world} rank(s): {train.num_users} users, {train.num_items} items, "
              f"{train.num_interactions} interactions; global batch {args.batch}",
              flush=True)

    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        total, batches = 0.0, 0
        while True:
            users, pos, neg, global_rows = sampler.next_shard()
            if global_rows == 0:
                break  # the epoch is over (the same batch on every rank)
            optimizer.zero_grad(set_to_none=False)
            rows = users.shape[0]
            loss_sum = torch.zeros(1)
            if rows > 0:  # a rank's share may be empty; it still exchanges
                u, p, n = model(torch.from_numpy(users).long(), torch.from_numpy(pos).long(),
                                torch.from_numpy(neg).long())
                loss = criterion(u, p, n)
                # the loss is a mean over this rank's rows: weighted by its
                # share, the ranks' gradients sum to the global batch's
                (loss * (rows / global_rows)).backward()
                loss_sum += loss.detach() * rows
            touched_u = torch.from_numpy(np.unique(users)).long()
            touched_i = torch.from_numpy(np.unique(np.concatenate([pos.ravel(),
                                                                   neg.ravel()]))).long()
            if distributed:
                sum_sparse_rows(model.users.weight, touched_u, world)
                sum_sparse_rows(model.items.weight, touched_i, world)
                dist.all_reduce(loss_sum)
            optimizer.step()
            total += loss_sum.item() / global_rows
            batches += 1
        seconds = time.perf_counter() - t0
        line = f"epoch {epoch:3d}  loss {total / batches:.5f}  {seconds:.2f}s"
        last = epoch == args.epochs
        if rank == 0 and (last or (args.eval_every and epoch % args.eval_every == 0)):
            res = vbpr.Evaluator(train, test, ks=[20]).run(
                model.users.weight.detach().numpy(), model.items.weight.detach().numpy())
            line += f"  recall@20 {res['recall'][20]:.6f}  ndcg@20 {res['ndcg'][20]:.6f}"
        if rank == 0:
            print(line, flush=True)
    if rank == 0 and args.save:
        np.savez(args.save, users=model.users.weight.detach().numpy(),
                 items=model.items.weight.detach().numpy())
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
