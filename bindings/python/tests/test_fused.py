"""The fused per-tuple path on a host's own NumPy tables
(Optimizer.step_tuples, vbpr_optim_step_tuples), the row-wise optimizers
(adagrad, sparse_adam) and the trainer's fused parameter."""
import numpy as np
import pytest

import vbpr

from conftest import needs_mf


def tables(rng, nu=6, ni=9, d=5):
    return (0.5 * rng.standard_normal((nu, d))).astype(np.float32), \
        (0.5 * rng.standard_normal((ni, d))).astype(np.float32)


def tuples(rng, count, m, n, nu=6, ni=9, disjoint=False):
    """Tuples whose items are distinct within each tuple; with disjoint, no
    user or item is in two tuples."""
    if disjoint:
        users = rng.permutation(nu)[:count].astype(np.int32)
        items = rng.permutation(ni)[:count * (m + n)].reshape(count, m + n)
    else:
        users = rng.integers(0, nu, count).astype(np.int32)
        items = np.stack([rng.permutation(ni)[:m + n] for _ in range(count)])
    items = items.astype(np.int32)
    return users, np.ascontiguousarray(items[:, :m]), np.ascontiguousarray(items[:, m:])


def sgd_reference(loss, lr, wd, U, V, users, pos, neg, lpp=None, lpn=None):
    """vbpr/optim.h's fused SGD, tuple by tuple, in NumPy: the tuple's score
    gradients from the same loss (one row), items updated with c * u (the
    user row as the tuple found it), then the user with sum c * item (the
    items as they were)."""
    U, V = U.copy(), V.copy()
    losses = []
    for t in range(len(users)):
        u = U[users[t]].copy()
        ids = np.concatenate([pos[t], neg[t]])
        items = V[ids].copy()
        s = items @ u
        m = pos.shape[1]
        pri = (None, None) if lpp is None else (lpp[pos[t]][None], lpn[neg[t]][None])
        value, gp, gn = loss.forward_backward_scores(s[None, :m].astype(np.float32),
                                                     s[None, m:].astype(np.float32), *pri)
        c = np.concatenate([gp[0], gn[0]])
        losses.append(value)
        for k, i in enumerate(ids):
            V[i] -= lr * (c[k] * u + wd * V[i])
        U[users[t]] -= lr * ((c[:, None] * items).sum(0) + wd * U[users[t]])
    return U, V, float(np.mean(losses))


def make_loss(kind, m, n):
    if kind == "bpr":
        return vbpr.Loss(kind)
    if kind == "infonce":
        return vbpr.Loss(kind, num_neg=n)
    return vbpr.Loss(kind, num_pos=m, num_neg=n)


KINDS = [("bpr", 1, 1), ("variational", 2, 3), ("infonce", 1, 4)]


@pytest.mark.parametrize("kind, m, n", KINDS)
@pytest.mark.parametrize("priors", [False, True])
def test_sgd_matches_the_reference(rng, kind, m, n, priors):
    """One call over tuples that share no row (so that their order cannot
    matter), against the tuple-by-tuple reference: the layout of ids,
    log-priors, M and N, and the update rule."""
    loss = make_loss(kind, m, n)
    U, V = tables(rng, nu=60, ni=250)
    users, pos, neg = tuples(rng, 40, m, n, nu=60, ni=250, disjoint=True)
    lpp = lpn = None
    if priors:
        lpp, lpn = (rng.standard_normal(250).astype(np.float32) for _ in range(2))
    opt = vbpr.Optimizer("sgd", lr=0.05, weight_decay=0.01)
    ut, it = U.copy(), V.copy()
    addr = (ut.ctypes.data, it.ctypes.data)
    p = pos[:, 0] if m == 1 else pos           # [T] accepted for M = 1
    mean = opt.step_tuples(loss, ut, it, users, p, neg, lpp, lpn)
    assert (ut.ctypes.data, it.ctypes.data) == addr      # in place
    wu, wv, wmean = sgd_reference(loss, 0.05, 0.01, U, V, users, pos, neg, lpp, lpn)
    np.testing.assert_allclose(ut, wu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(it, wv, rtol=1e-5, atol=1e-6)
    assert mean == pytest.approx(wmean, rel=1e-5)
    assert not np.allclose(ut, U)
    assert (opt.slot_steps(0), opt.slot_steps(1)) == (1, 1)


@pytest.mark.parametrize("kind, m, n", KINDS)
def test_sgd_tuple_after_tuple_on_shared_rows(rng, kind, m, n):
    """Single-tuple calls on a small table (rows shared between tuples):
    each sees the rows the previous one left."""
    vbpr.set_num_threads(1)
    loss = make_loss(kind, m, n)
    U, V = tables(rng)
    users, pos, neg = tuples(rng, 30, m, n)
    opt = vbpr.Optimizer("sgd", lr=0.1)
    ut, it = U.copy(), V.copy()
    for t in range(30):
        opt.step_tuples(loss, ut, it, users[t:t + 1], pos[t:t + 1], neg[t:t + 1])
    wu, wv, _ = sgd_reference(loss, 0.1, 0.0, U, V, users, pos, neg)
    np.testing.assert_allclose(ut, wu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(it, wv, rtol=1e-5, atol=1e-6)


def test_adagrad_is_row_wise(rng):
    """One BPR tuple: the rows' accumulators start at 0, so each row moves by
    lr * g / (sqrt(mean g^2) + eps)."""
    vbpr.set_num_threads(1)
    loss = vbpr.Loss("bpr")
    U, V = tables(rng)
    ut, it = U.copy(), V.copy()
    users, pos, neg = (np.array([x], np.int32) for x in (2, 3, 7))
    opt = vbpr.Optimizer("adagrad", lr=0.1)
    eps = opt.eps
    opt.step_tuples(loss, ut, it, users, pos, neg, slot=4)
    sp, sn = V[3] @ U[2], V[7] @ U[2]
    c = 1.0 / (1.0 + np.exp(sp - sn))          # -d softplus(-(sp - sn)) / d sp
    for got, old, g in ((it[3], V[3], -c * U[2]), (it[7], V[7], c * U[2]),
                        (ut[2], U[2], -c * (V[3] - V[7]))):
        np.testing.assert_allclose(got, old - 0.1 * g / (np.sqrt(np.mean(g ** 2)) + eps),
                                   rtol=1e-5)
    np.testing.assert_array_equal(np.delete(it, [3, 7], 0), np.delete(V, [3, 7], 0))
    assert (opt.slot_steps(4), opt.slot_steps(5), opt.slot_steps(0)) == (1, 1, 0)


def test_adagrad_step_treats_a_buffer_as_one_row(rng):
    p = rng.standard_normal(6).astype(np.float32)
    g = rng.standard_normal(6).astype(np.float32)
    q = p.copy()
    opt = vbpr.Optimizer(vbpr.OptimKind.ADAGRAD, lr=0.2)
    opt.step(0, q, g)
    opt.step(0, q, g)
    acc1 = np.mean(g.astype(np.float64) ** 2)
    want = p - 0.2 * g / (np.sqrt(acc1) + opt.eps) - 0.2 * g / (np.sqrt(2 * acc1) + opt.eps)
    np.testing.assert_allclose(q, want, rtol=1e-5)


def test_sparse_adam_counts_steps_per_row(rng):
    """A row first updated at the third step gets Adam's first step
    (lr * g / (|g| + eps) per element), not one bias-corrected with the
    slot's count as lazy Adam does."""
    table = rng.standard_normal((4, 3)).astype(np.float32)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    got = {}
    for kind in ("sparse_adam", "lazy_adam"):
        t = table.copy()
        opt = vbpr.Optimizer(kind, lr=0.01)
        for _ in range(2):
            opt.step_rows(0, t, g, np.array([0], np.int32))
        before = t[1].copy()
        opt.step_rows(0, t, g, np.array([0, 1], np.int32))
        got[kind] = t[1] - before
    np.testing.assert_allclose(got["sparse_adam"], -0.01 * g[1] / (np.abs(g[1]) + 1e-8),
                               rtol=1e-4)
    assert not np.allclose(got["lazy_adam"], got["sparse_adam"], rtol=1e-3)


def test_step_tuples_refuses_bad_arguments(rng):
    loss = vbpr.Loss(num_pos=2, num_neg=3)
    U, V = tables(rng)
    users, pos, neg = tuples(rng, 5, 2, 3)
    opt = vbpr.Optimizer("sgd")
    with pytest.raises(vbpr.UnsupportedError, match="(?i)row-wise|sgd"):
        vbpr.Optimizer("adam").step_tuples(loss, U, V, users, pos, neg)
    with pytest.raises(TypeError, match="user_table must have dtype float32"):
        opt.step_tuples(loss, U.astype(np.float64), V, users, pos, neg)
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step_tuples(loss, np.asfortranarray(U), V, users, pos, neg)
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step_tuples(loss, U, np.zeros((9, 10), np.float32)[:, :5], users, pos, neg)
    ro = V.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        opt.step_tuples(loss, U, ro, users, pos, neg)
    with pytest.raises(ValueError, match=r"item_table must have shape \(\*, 5\)"):
        opt.step_tuples(loss, U, V[:, :4].copy(), users, pos, neg)
    with pytest.raises(ValueError, match=r"neg must have shape \(5, 3\)"):
        opt.step_tuples(loss, U, V, users, pos, neg[:, :2].copy())
    with pytest.raises(TypeError, match="users must have dtype int32"):
        opt.step_tuples(loss, U, V, users.astype(np.int64), pos, neg)
    with pytest.raises(ValueError, match=r"item_log_prior_pos must have shape \(9,\)"):
        opt.step_tuples(loss, U, V, users, pos, neg, np.zeros(8, np.float32))
    with pytest.raises(TypeError, match="vbpr.Loss"):
        opt.step_tuples(None, U, V, users, pos, neg)
    both = np.zeros((15, 5), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        opt.step_tuples(loss, both[:6], both[3:12], users, pos, neg)
    opt.step_tuples(loss, both[:6], both[6:], users, pos, neg)    # adjacent: fine
    bad = neg.copy()
    bad[3, 1] = 9
    ut, it = U.copy(), V.copy()
    with pytest.raises(vbpr.OutOfRangeError, match="neg"):
        opt.step_tuples(loss, ut, it, users, pos, bad)
    np.testing.assert_array_equal(ut, U)        # nothing was updated
    np.testing.assert_array_equal(it, V)
    assert opt.step_tuples(loss, ut, it, users[:0], pos[:0], neg[:0]) == 0.0


def test_non_finite_tuples_are_skipped(rng):
    vbpr.set_num_threads(1)
    loss = vbpr.Loss("bpr")
    U, V = tables(rng)
    U[4] = np.inf
    users = np.array([0, 4, 1], np.int32)
    pos, neg = np.array([1, 2, 3], np.int32), np.array([5, 6, 7], np.int32)
    opt = vbpr.Optimizer("sgd", lr=0.1)
    ut, it = U.copy(), V.copy()
    with pytest.raises(vbpr.NumericError, match="1 of 3 tuples") as info:
        opt.step_tuples(loss, ut, it, users, pos, neg)
    assert np.isfinite(info.value.mean_loss) and info.value.mean_loss > 0
    np.testing.assert_array_equal(it[[2, 6]], V[[2, 6]])     # tuple 1 skipped
    assert not np.array_equal(it[[1, 3, 5, 7]], V[[1, 3, 5, 7]])


@needs_mf
def test_trainer_fused(small_data):
    train, test = small_data
    tr = vbpr.Trainer(train, test, fused=True, optimizer="adagrad", lr=0.05, dim=8,
                      num_pos=2, num_neg=2, seed=3)
    assert tr.fused == 1 and tr.get("fused") == 1
    first = tr.epoch()
    for _ in range(4):
        last = tr.epoch()
    assert last < first
    adam = vbpr.Trainer(train, test, fused=True, optimizer="adam", dim=8)
    with pytest.raises(vbpr.UnsupportedError):
        adam.epoch()
    adam.fused = False                     # may change between epochs
    adam.epoch()
