#!/usr/bin/env python3
"""Matrix factorisation with Variational BPR on MovieLens 100K, through the
Python bindings, with the training loop written out.

The loop makes the same calls in the same order as the library's own
Trainer (and so as the vbpr-train program): for each batch of the sampler,
zero the encoder's gradients, look up the embeddings, run the loss forward
and backward in one call, push the gradients back into the encoder and let
the optimizer step its tables. With the same seed and settings it reaches
the same numbers as

    vbpr-train --train train.tsv --test test.tsv --items-from ratings.tsv

usage: train_ml100k.py [DATA_DIR] [options]   (see --help)
DATA_DIR defaults to $VBPR_DATA_DIR/ml-100k.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import vbpr

METRICS = ["recall", "ndcg", "precision", "f1", "hit_rate", "aplt"]


def library_defaults():
    """The Trainer's default settings, read from the library itself: its own
    parameters and those of the loss, optimizer and sampler it builds, by
    the names the Trainer accepts."""
    one = np.zeros(1, np.int32)
    with vbpr.Dataset(one, one, num_items=64) as tiny, vbpr.Trainer(tiny) as tr:
        cfg = {**tr.loss.params(), **tr.optimizer.params(), **tr.params()}
        cfg.update(batch_size=tr.sampler.batch_size,
                   neg_pop_exponent=tr.sampler.neg_pop_exponent)
        return cfg


def load_ml100k(data_dir):
    """(train, test) in one id space; the item universe is that of
    ratings.tsv (1,682 items), as the paper's evaluation ranks them all."""
    path = lambda name: os.path.join(data_dir, name)  # noqa: E731
    with vbpr.Dataset.load(path("ratings.tsv")) as full:
        universe = dict(min_users=full.num_users, min_items=full.num_items)
    return vbpr.Dataset.load_pair(path("train.tsv"), path("test.tsv"), **universe)


def make_loss(cfg):
    kind = vbpr.loss_kind(cfg["loss"])
    names = vbpr.Loss(kind).params()     # the parameters a loss of this kind has
    return vbpr.Loss(kind, **{k: cfg[k] for k in names})


def train(train_set, test_set, cfg, epochs, eval_every, ks, report=None):
    """Trains MF as configured; returns [{"epoch", "loss", metric: {k: value}}]
    with the metrics filled in at evaluated epochs."""
    weights = [cfg[p] for p in ("prior_rarity", "prior_good", "prior_popularity", "prior_bad")]
    # Per-item log-priors, computed once; gathered per sampled item below.
    item_lp = train_set.item_log_priors(*weights) if any(weights) else None
    loss = make_loss(cfg)
    B, M, N = int(cfg["batch_size"]), loss.num_pos, loss.num_neg
    d, seed = int(cfg["dim"]), int(cfg["seed"])

    sampler = vbpr.Sampler(train_set, batch_size=B, num_pos=M, num_neg=N, seed=seed,
                           neg_pop_exponent=cfg["neg_pop_exponent"])
    encoder = vbpr.MF(train_set.num_users, train_set.num_items, d, seed)
    if int(cfg["init"]) != 0:       # 0: the encoder's own initialisation
        encoder.init_params(cfg["init"], cfg["init_scale"], seed)
    optimizer = vbpr.Optimizer(cfg["optimizer"], lr=cfg["lr"],
                               weight_decay=cfg["weight_decay"])
    evaluator = vbpr.Evaluator(train_set, test_set, ks=ks)

    # Batch buffers, allocated once; the library reads and writes them in place.
    ids = (np.empty(B, np.int32), np.empty((B, M), np.int32), np.empty((B, N), np.int32))
    emb = (np.empty((B, d), np.float32), np.empty((B, M, d), np.float32),
           np.empty((B, N, d), np.float32))
    grad = tuple(np.empty_like(e) for e in emb)

    history = []
    for epoch in range(1, epochs + 1):
        total, batches = 0.0, 0
        for users, pos, neg in sampler.batches(out=ids):
            r = users.shape[0]
            encoder.zero_grad()
            u, p, n = encoder.forward(users, pos, neg, out=tuple(e[:r] for e in emb))
            lpp = lpn = None
            if item_lp is not None:
                lpp, lpn = item_lp[0][pos], item_lp[1][neg]
            value, gu, gp, gn = loss.forward_backward(u, p, n, lpp, lpn,
                                                      out=tuple(g[:r] for g in grad))
            encoder.backward(gu, gp, gn)
            optimizer.step_encoder(encoder)
            total += value
            batches += 1
        record = {"epoch": epoch, "loss": total / batches}
        if eval_every > 0 and (epoch % eval_every == 0 or epoch == epochs):
            users_emb, items_emb = encoder.embeddings()
            results = evaluator.run(users_emb, items_emb)
            record.update({m: results[m] for m in METRICS})
        history.append(record)
        if report:
            report(record)
    for obj in (sampler, encoder, loss, optimizer, evaluator):
        obj.close()
    return history


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", nargs="?", help="ml-100k directory "
                    "(default $VBPR_DATA_DIR/ml-100k)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--k", default="20", help="cut-offs, e.g. 10,20")
    ap.add_argument("--loss", help="bpr or variational")
    ap.add_argument("--preset", help="a loss preset: " + ", ".join(vbpr.loss_presets()))
    ap.add_argument("--estimator", help="prototype, prototype_detached (plugin), elbo "
                    "(exact)")
    ap.add_argument("-M", "--num-pos", type=int)
    ap.add_argument("-N", "--num-neg", type=int)
    ap.add_argument("--c", type=float, help="c_pos and c_neg")
    ap.add_argument("--neg-attention", help="hard or easy")
    ap.add_argument("--neg-hardness", type=float)
    ap.add_argument("--prior-good", type=float)
    ap.add_argument("--prior-bad", type=float)
    ap.add_argument("--dim", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--l2", type=float)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--threads", type=int, help="library threads (0: one per core)")
    ap.add_argument("--json", help="write the history to this file")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def config_from(args):
    """The library's defaults, then the preset, then the options given.
    Value names ("elbo", "exact", "easy") are read by the library."""
    cfg = library_defaults()
    if args.loss:
        cfg["loss"] = vbpr.loss_kind(args.loss)
    if args.preset:
        cfg.update(vbpr.Loss(preset=args.preset).params())
    options = {"estimator": args.estimator, "num_pos": args.num_pos,
               "num_neg": args.num_neg, "dim": args.dim, "lr": args.lr,
               "weight_decay": args.l2, "batch_size": args.batch, "seed": args.seed,
               "neg_attention": args.neg_attention, "neg_hardness": args.neg_hardness,
               "prior_good": args.prior_good, "prior_bad": args.prior_bad}
    if args.c is not None:
        options.update(c_pos=args.c, c_neg=args.c)
    cfg.update({k: v for k, v in options.items() if v is not None})
    return cfg


def main(argv=None):
    args = parse_args(argv)
    data_dir = args.data_dir or os.path.join(os.environ.get("VBPR_DATA_DIR", ""), "ml-100k")
    if not os.path.isfile(os.path.join(data_dir, "train.tsv")):
        sys.exit(f"train_ml100k.py: no train.tsv in '{data_dir}' "
                 "(give the ml-100k directory or set VBPR_DATA_DIR)")
    if args.threads is not None:
        vbpr.set_num_threads(args.threads)
    ks = [int(k) for k in args.k.split(",")]
    cfg = config_from(args)
    train_set, test_set = load_ml100k(data_dir)
    if not args.quiet:
        print(f"libvbpr {vbpr.version()} ({vbpr.lib_path})")
        print(f"data: {train_set.num_interactions} train, {test_set.num_interactions} "
              f"test interactions; {train_set.num_users} users, "
              f"{train_set.num_items} items")

    def report(rec):
        if args.quiet:
            return
        line = f"epoch {rec['epoch']:4d}  loss {rec['loss']:.5f}"
        if "recall" in rec:
            line += "".join(f"  recall@{k} {rec['recall'][k]:.4f}  ndcg@{k} "
                            f"{rec['ndcg'][k]:.4f}" for k in ks)
        print(line, flush=True)

    t0 = time.perf_counter()
    history = train(train_set, test_set, cfg, args.epochs, args.eval_every, ks, report)
    if not args.quiet:
        print(f"{time.perf_counter() - t0:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"library_version": vbpr.version(), "history": history}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
