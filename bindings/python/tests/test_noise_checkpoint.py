"""Trainer: noise diagnosis (noise_stats, noise_ranking, noise_report) and
checkpoints (set_checkpoint, save_checkpoint, load_checkpoint)."""
import gc

import numpy as np
import pytest

import vbpr

from conftest import needs_mf

pytestmark = needs_mf


def trainer(data, **kw):
    train, test = data
    params = dict(dim=8, batch=128, num_pos=2, num_neg=3, seed=11, lr=0.01)
    params.update(kw)
    return vbpr.Trainer(train, test, **params)


def test_noise_statistics_and_ranking(small_data):
    train, _ = small_data
    tr = trainer(small_data)
    with pytest.raises(vbpr.StateError):            # NOISE_TRACK never on
        tr.noise_stats()
    tr.noise_track = True
    assert tr.get("noise_track") == 1 and tr.noise_momentum == pytest.approx(0.9)
    for _ in range(3):
        tr.epoch()
    st = tr.noise_stats()
    nnz = train.num_interactions
    assert [(a.dtype, a.shape) for a in st.values()] == \
        [(np.float32, (nnz,)), (np.float32, (nnz,)), (np.uint32, (nnz,))]
    seen = st["visits"] > 0
    assert seen.mean() > 0.9
    w = st["weight"][seen]
    assert (w > 0).all() and (w < 2).all()          # M * alpha, M = 2
    assert abs(w.mean() - 1) < 0.1
    assert (st["loss"][seen] > 0).all()
    # by weight: lowest average relative attention first
    top = tr.noise_ranking(50, by="weight")
    assert top.dtype == np.int64 and top.shape == (50,) and len(set(top)) == 50
    assert (np.diff(st["weight"][top]) >= 0).all()
    assert st["weight"][top[0]] == w.min()
    by_loss = tr.noise_ranking(by=vbpr.NoiseRank.LOSS)      # all of them
    assert sorted(by_loss) == list(range(nnz))
    visited = by_loss[:seen.sum()]
    assert (np.diff(st["loss"][visited]) <= 0).all()
    assert not seen[by_loss[seen.sum():]].any()     # never visited: last
    np.testing.assert_array_equal(tr.noise_ranking(50), top)   # AUTO: M >= 2 -> weight
    assert tr.noise_ranking(0).shape == (0,)
    with pytest.raises(ValueError, match="weight, loss, auto"):
        tr.noise_ranking(5, by="attention")
    # the CSR order: interaction e is (user u, items[e]) with offsets[u] <= e
    offsets, items, _ = train.csr()
    user = np.searchsorted(offsets, top[0], side="right") - 1
    assert offsets[user] <= top[0] < offsets[user + 1]


def test_noise_report(small_data, tmp_path):
    tr = trainer(small_data, noise_track=1)
    tr.epoch()
    path = tmp_path / "noise.tsv"
    tr.noise_report(path, by="loss", top=7)
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    assert lines[0].split("\t") == ["rank", "user", "item", "rating", "weight", "loss",
                                    "visits"]
    assert len(lines) == 8 and lines[1].split("\t")[0] == "1"
    with pytest.raises(vbpr.IOError, match="no_such_dir"):
        tr.noise_report(tmp_path / "no_such_dir" / "noise.tsv")


def tables(tr):
    return [tr.encoder.table(t)[0].copy() for t in (vbpr.Table.USERS, vbpr.Table.ITEMS)]


def test_checkpoint_resumes_bit_for_bit(small_data, tmp_path):
    vbpr.set_num_threads(1)
    a = trainer(small_data, noise_track=1, optimizer="adam", epochs=4, eval_every=2)
    a.fit(epochs=2)
    path = tmp_path / "run.ckpt"
    a.save_checkpoint(path)
    a.fit(epochs=4)
    want, want_stats, want_hist = tables(a), a.noise_stats(), a.evaluations()
    # another trainer over the same data, built differently: the checkpoint
    # sets everything, structural parameters included
    b = trainer(small_data, dim=4, optimizer="sgd", seed=99, prepare=False)
    b.load_checkpoint(path)
    assert (b.dim, b.epochs_done, b.get("optimizer")) == (8, 2, vbpr.OptimKind.ADAM)
    assert b.loss.num_neg == 3 and b.optimizer.lr == pytest.approx(0.01)
    assert b.evaluation_count == 1
    b.fit(epochs=4)
    for x, y in zip(tables(b), want):
        np.testing.assert_array_equal(x, y)
    for k in want_stats:
        np.testing.assert_array_equal(b.noise_stats()[k], want_stats[k])
    assert b.evaluations() == want_hist


def test_checkpoint_errors_leave_the_trainer_alone(small_data, tmp_path):
    tr = trainer(small_data)
    tr.epoch()
    before = tables(tr)
    with pytest.raises(vbpr.IOError, match="missing.ckpt") as info:
        tr.load_checkpoint(tmp_path / "missing.ckpt")
    assert isinstance(info.value, OSError)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(vbpr.ParseError):
        tr.load_checkpoint(bad)
    good = tmp_path / "good.ckpt"
    tr.save_checkpoint(good)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(vbpr.ParseError):
        tr.load_checkpoint(cut)
    other = vbpr.synthetic(num_users=30, num_items=40, mean_preferences=8, seed=2)
    with pytest.raises(vbpr.InvalidArgumentError):
        trainer(other).load_checkpoint(good)           # other data
    assert tr.epochs_done == 1
    for x, y in zip(tables(tr), before):
        np.testing.assert_array_equal(x, y)


def test_parts_taken_before_a_load(small_data, tmp_path):
    tr = trainer(small_data)
    tr.epoch()
    path = tmp_path / "run.ckpt"
    tr.save_checkpoint(path)
    loss, enc = tr.loss, tr.encoder
    view = enc.user_table                          # the encoder's own memory
    with pytest.raises(vbpr.StateError, match="views"):
        tr.load_checkpoint(path)
    assert loss.num_neg == 3                       # refused: nothing changed
    copy = view.copy()
    del view
    gc.collect()
    tr.load_checkpoint(path)
    with pytest.raises(vbpr.StateError, match="load_checkpoint"):
        loss.c_pos                                 # the old part is closed
    with pytest.raises(vbpr.StateError):
        enc.embeddings()
    assert tr.loss is not loss and tr.loss.num_neg == 3
    np.testing.assert_array_equal(tr.encoder.user_table, copy)
    assert 0 <= tr.evaluate()["recall"][20] <= 1   # the K set is the trainer's


def test_fit_writes_checkpoints(small_data, tmp_path):
    path = tmp_path / "fit.ckpt"
    tr = trainer(small_data, epochs=3, checkpoint_every=2, eval_every=0)
    tr.set_checkpoint(path)
    seen = []

    def watch(epoch, batch, num_batches, loss):
        seen.append((epoch, path.exists()))
    tr.set_progress(watch)
    tr.fit()
    assert (1, False) in seen and (3, True) in seen     # after epoch 2
    resumed = trainer(small_data)
    resumed.load_checkpoint(path)
    assert resumed.epochs_done == 3
    path.unlink()
    tr.set_checkpoint(None)
    tr.fit(epochs=4)
    assert not path.exists()
