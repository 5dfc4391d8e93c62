"""Encoder, Optimizer, Evaluator, recommend and Trainer."""
import ctypes
import gc
import weakref

import numpy as np
import pytest

import vbpr
from vbpr import _lib

from conftest import needs_lightgcn, needs_mf


@needs_mf
def test_mf_forward_reads_the_tables(rng):
    enc = vbpr.MF(5, 7, 4, seed=1)
    assert (enc.kind, enc.num_users, enc.num_items, enc.dim, enc.num_layers) == \
        (vbpr.EncoderKind.MF, 5, 7, 4, 0)
    users_t, _ = enc.table(vbpr.Table.USERS)
    items_t, _ = enc.table(vbpr.Table.ITEMS)
    assert users_t.shape == (5, 4) and users_t.flags.writeable
    assert np.std(users_t) < 0.05                      # Normal(0, 0.01^2)
    users_t[:] = rng.standard_normal((5, 4))           # written through the view
    u = np.array([4, 0, 4], np.int32)
    pos = np.array([[1, 2], [3, 3], [6, 0]], np.int32)
    neg = np.array([5, 1, 2], np.int32)                # [B]: one negative per row
    ue, pe, ne = enc.forward(u, pos, neg)
    np.testing.assert_array_equal(ue, users_t[u])
    np.testing.assert_array_equal(pe, items_t[pos])
    assert ne.shape == (3, 4)
    np.testing.assert_array_equal(ne, items_t[neg])


@needs_mf
def test_table_views_are_the_library_memory():
    enc = vbpr.MF(5, 7, 4)
    p, g = ctypes.c_void_p(), ctypes.c_void_p()
    _lib.lib.vbpr_encoder_table(enc._ptr, 1, ctypes.byref(p), ctypes.byref(g), None, None)
    param, grad = enc.table(vbpr.Table.ITEMS)
    assert (param.ctypes.data, grad.ctypes.data) == (p.value, g.value)
    assert not grad.flags.writeable
    users, items = enc.embeddings()               # MF: the tables themselves
    assert items.ctypes.data == p.value and not items.flags.writeable
    res = weakref.ref(enc._res)
    enc.close()
    gc.collect()
    assert res() is not None
    param[0, 0] = 1.5                             # still valid memory
    assert items[0, 0] == 1.5
    del param, grad, users, items
    gc.collect()
    assert res() is None


@needs_mf
def test_backward_accumulates_and_zero_grad_clears(rng):
    enc = vbpr.MF(4, 6, 3)
    u = np.array([1, 2], np.int32)
    pos = np.array([[0], [5]], np.int32)
    neg = np.array([[3], [3]], np.int32)
    enc.forward(u, pos, neg)
    gu = np.ones((2, 3), np.float32)
    gp = np.full((2, 1, 3), 2, np.float32)
    gn = np.full((2, 1, 3), 3, np.float32)
    enc.backward(gu, gp, gn)
    with pytest.raises(vbpr.StateError):          # one backward per forward
        enc.backward(gu, gp, gn)
    _, grad = enc.table(vbpr.Table.ITEMS)
    np.testing.assert_array_equal(grad[3], [6, 6, 6])   # two rows hit item 3
    assert sorted(enc.touched_rows(vbpr.Table.ITEMS)) == [0, 3, 5]
    enc.forward(u, pos, neg)
    with pytest.raises(ValueError, match="shape"):
        enc.backward(gu[:1], gp, gn)
    enc.zero_grad()
    assert not grad.any() and enc.touched_rows(vbpr.Table.ITEMS).size == 0


@needs_lightgcn
def test_lightgcn_and_model_files(tmp_path, small_data):
    train, _ = small_data
    enc = vbpr.LightGCN(train, dim=8, num_layers=2, seed=4)
    assert enc.kind == vbpr.EncoderKind.LIGHTGCN and enc.num_layers == 2
    users, items = enc.embeddings()
    assert users.shape == (train.num_users, 8) and users.flags.owndata   # a copy
    path = tmp_path / "model.vbpr"
    enc.save(path)
    other = vbpr.LightGCN(train, dim=8, num_layers=2, seed=99)
    assert not np.array_equal(other.embeddings()[0], users)
    other.load(path)
    np.testing.assert_array_equal(other.embeddings()[0], users)
    enc.export_npy(vbpr.Table.ITEMS, tmp_path / "items.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "items.npy"), items)


def test_mf_without_the_module_is_unsupported():
    if vbpr.has_module(vbpr.Module.MF):
        pytest.skip("the mf module is built in")
    with pytest.raises(vbpr.UnsupportedError):
        vbpr.MF(3, 4, 2)


def test_optimizer_updates_in_place():
    opt = vbpr.Optimizer("sgd", lr=0.5)
    assert opt.kind == vbpr.OptimKind.SGD and opt.lr == 0.5
    p = np.arange(6, dtype=np.float32).reshape(2, 3)
    addr = p.ctypes.data
    opt.step(2, p, np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(p, np.arange(6).reshape(2, 3) - 0.5)
    assert p.ctypes.data == addr and opt.slot_steps(2) == 1
    with pytest.raises(vbpr.InvalidArgumentError):   # a slot keeps its size
        opt.step(2, np.zeros(4, np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step(3, np.zeros((4, 4), np.float32)[:, :2], np.zeros((4, 2), np.float32))
    adam = vbpr.Optimizer(vbpr.OptimKind.LAZY_ADAM, lr=0.1, weight_decay=0.0)
    table = np.zeros((5, 2), np.float32)
    grad = np.zeros((5, 2), np.float32)
    grad[3] = 1
    adam.step_rows(0, table, grad, np.array([3], np.int32))
    assert table[3, 0] == pytest.approx(-0.1) and not table[[0, 1, 2, 4]].any()
    adam.reset()
    assert adam.slot_steps(0) == 0 and adam.lr == pytest.approx(0.1)


def test_evaluator_and_recommend(small_data, rng):
    train, test = small_data
    users = rng.standard_normal((train.num_users, 8)).astype(np.float32)
    items = rng.standard_normal((train.num_items, 8)).astype(np.float32)
    ev = vbpr.Evaluator(train, test, ks=[5, 10])
    res = ev.run(users, items)
    assert set(res) == {"precision", "recall", "ndcg", "f1", "hit_rate", "aplt"}
    assert all(0 <= v <= 1 for m in res.values() for v in m.values())
    assert ev.metric("recall", 10) == res["recall"][10]
    per_user = ev.user_metric(vbpr.Metric.RECALL, 10)
    assert np.isnan(per_user).sum() == train.num_users - ev.num_users_evaluated
    assert np.nanmean(per_user) == pytest.approx(res["recall"][10])
    top, scores = vbpr.recommend(users, items, np.array([0, 7], np.int32), k=5, train=train)
    assert top.shape == (2, 5) and scores.dtype == np.float32
    assert not any(train.contains(0, i) for i in top[0])
    np.testing.assert_allclose(scores[1], items[top[1]] @ users[7], rtol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()
    with pytest.raises(vbpr.StateError):
        ev.set_ks([20])
        ev.metric("recall", 20)


@needs_mf
def test_trainer_end_to_end(small_data):
    train, test = small_data
    tr = vbpr.Trainer(train, test, ks=[10], dim=16, batch=128, lr=0.01, estimator="elbo",
                      encoder="mf")
    # each keyword went to the object that owns it
    assert tr.dim == 16 and tr.get("encoder") == vbpr.EncoderKind.MF
    assert tr.loss.estimator == vbpr.Estimator.ELBO and tr.get("estimator") == 3
    assert tr.sampler.batch_size == 128 and tr.get("batch") == 128
    assert tr.optimizer.lr == 0.01 and tr.get(vbpr.TrainerParam.DIM) == 16
    seen = []
    tr.set_progress(lambda e, b, nb, loss: seen.append((e, b, nb)) and False)
    records = []
    history = tr.fit(2, eval_every=1, callback=records.append)
    assert [h["epoch"] for h in history] == [1, 2] and tr.epochs_done == 2
    assert records == history                 # each record once, complete
    assert seen[-1][1] == seen[-1][2] and seen[0][:2] == (1, 1)   # epochs from 1
    assert 0 < history[-1]["recall"][10] <= 1
    evals = tr.evaluations()
    assert [e["epoch"] for e in evals] == [1, 2]
    assert evals[-1]["recall"][10] == history[-1]["recall"][10]
    enc = tr.encoder
    assert enc.dim == 16 and enc.table(vbpr.Table.USERS)[0].shape == (train.num_users, 16)
    with pytest.raises(vbpr.StateError):      # structural parameters are fixed
        tr.dim = 32
    tr.lr = 0.02                              # a part's parameter may change
    assert tr.optimizer.lr == 0.02
    with pytest.raises(vbpr.StateError):
        enc.backward(np.zeros((1, 16), np.float32))
    # the encoder keeps the trainer alive
    res = weakref.ref(tr._res)
    tr.close()
    gc.collect()
    assert res() is not None and enc.num_users == train.num_users
    del enc
    gc.collect()
    assert res() is None


@needs_mf
def test_trainer_routes_parameters_by_the_library_names(small_data):
    train, test = small_data
    tr = vbpr.Trainer(train, test, prepare=False, l2=3e-4, neg_pop_alpha=0.5, num_neg=3,
                      seed=7, c_pos="2.5", estimator="plugin")
    assert tr.loss is None and not tr.prepared
    assert tr.get("weight_decay") == 3e-4      # given, waiting for prepare()
    with pytest.raises(vbpr.StateError, match="prepare"):
        tr.get("beta1")
    tr.dim = 8                                 # still possible before prepare()
    tr.prepare()
    assert tr.optimizer.weight_decay == 3e-4 and tr.sampler.neg_pop_exponent == 0.5
    assert tr.loss.num_neg == 3 and tr.sampler.seed == 7 and tr.seed == 7
    assert tr.loss.c_pos == 2.5
    assert tr.loss.estimator == vbpr.Estimator.PROTOTYPE_DETACHED
    tr.set("sampler.seed", 9)                  # a part addressed explicitly
    assert tr.sampler.seed == 9 and tr.seed == 7
    with pytest.raises(TypeError, match="weight_decay") as info:
        vbpr.Trainer(train, l2_reg=1)          # unknown: every owner's names listed
    assert isinstance(info.value, vbpr.InvalidArgumentError)
    with pytest.raises(vbpr.InvalidArgumentError, match="lr"):
        vbpr.Trainer(train, lr=-1)             # validated by the library


@needs_mf
def test_trainer_events_and_fit_continues(small_data):
    train, test = small_data
    tr = vbpr.Trainer(train, test, dim=8, batch=256, epochs=3, eval_every=2)
    events = []

    def listen(event, epoch, batch, num_batches, loss):
        events.append((event, epoch))
        return event == vbpr.TrainerEvent.EPOCH and epoch == 1
    tr.set_progress(listen, events=True)
    with pytest.raises(vbpr.InterruptedError, match="after epoch 1"):
        tr.fit()
    tr.set_progress(None)
    history = tr.fit()                         # continues up to EPOCHS
    assert [h["epoch"] for h in history] == [2, 3]
    assert "recall" in history[0] and "recall" in history[1]   # every 2nd and the last
    kinds = {e for e, _ in events}
    assert kinds == {vbpr.TrainerEvent.BATCH, vbpr.TrainerEvent.EPOCH}
    assert [e["epoch"] for e in tr.evaluations()] == [2, 3]
    assert tr.fit() == []                      # EPOCHS already done


@needs_mf
def test_trainer_keeps_its_datasets():
    train, test = vbpr.synthetic(num_users=40, num_items=60, mean_preferences=10, seed=8)
    tr = vbpr.Trainer(train, test, batch=64, dim=8)
    train.close()
    test.close()
    del train, test
    gc.collect()
    tr.epoch()
    assert 0 <= tr.evaluate()["recall"][20] <= 1


@needs_mf
def test_trainer_interruption_and_callback_errors(small_data):
    train, test = small_data
    tr = vbpr.Trainer(train, batch=64)
    tr.set_progress(lambda e, b, nb, loss: b >= 2)
    with pytest.raises(vbpr.InterruptedError, match="stopped"):
        tr.epoch()

    def boom(*args):
        raise KeyError("from the callback")
    tr.set_progress(boom)
    with pytest.raises(KeyError, match="from the callback"):
        tr.epoch()
    tr.set_progress(None)
    assert np.isfinite(tr.epoch()) and tr.epochs_done == 1
    with pytest.raises(vbpr.StateError):      # no test set
        tr.evaluate()
