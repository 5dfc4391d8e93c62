"""vbpr.Loss: parameters, values against the formulas of loss.h, zero-copy
argument passing, refusal of wrong arrays, stored-forward rules."""
import numpy as np
import pytest

import vbpr
from vbpr import _lib


def softplus(z):
    return np.logaddexp(0.0, z)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def reference_loss(u, p, n, c_pos=4.0, c_neg=4.0, sign=1, est="prototype",
                   lpp=None, lpn=None):
    """The per-row formulas of loss.h, in float64 (no hardness prior)."""
    u, p, n = (x.astype(np.float64) for x in (u, p, n))
    sp, sn = np.einsum("bd,bmd->bm", u, p), np.einsum("bd,bnd->bn", u, n)
    a = softmax(sp / c_pos + (0 if lpp is None else lpp))
    b = softmax(sign * sn / c_neg + (0 if lpn is None else lpn))
    if est == "elbo":
        rows = (a[:, :, None] * b[:, None, :] *
                softplus(-(sp[:, :, None] - sn[:, None, :]))).sum(axis=(1, 2))
    else:
        rows = softplus(-((a * sp).sum(1) - (b * sn).sum(1)))
    return rows.mean(), rows


def batch(rng, b=7, m=2, n=4, d=8):
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return f(b, d), f(b, m, d), f(b, n, d)


def test_defaults_mirror_the_c_api():
    with vbpr.Loss() as loss:
        assert loss.kind == vbpr.LossKind.VARIATIONAL
        assert (loss.num_pos, loss.num_neg, loss.c_pos, loss.c_neg) == (2, 4, 4.0, 4.0)
        assert loss.estimator == vbpr.Estimator.PROTOTYPE
        assert loss.neg_attention == vbpr.Attention.HARD
        assert (loss.pos_hardness, loss.neg_hardness, loss.hardness_tau) == (0, 0, 0.5)
    with vbpr.Loss(vbpr.LossKind.BPR) as bpr:
        assert (bpr.M, bpr.N) == (1, 1)


def test_parameters_round_trip():
    loss = vbpr.Loss(num_pos=3, num_neg=5, c_pos=2.5, estimator="elbo",
                     neg_attention=vbpr.Attention.EASY, neg_hardness=0.25)
    assert (loss.M, loss.N, loss.c_pos) == (3, 5, 2.5)
    assert loss.estimator == vbpr.Estimator.ELBO
    assert loss.get(vbpr.LossParam.NEG_ATTENTION) == vbpr.Attention.EASY
    loss.c_neg = 0.5
    assert loss.get("c_neg") == 0.5
    loss.set(vbpr.LossParam.HARDNESS_TAU, 2.0)
    assert loss.hardness_tau == 2.0
    with pytest.raises(vbpr.InvalidArgumentError, match="(?i)c_pos"):
        loss.c_pos = -1
    assert loss.c_pos == 2.5            # a failed set changes nothing
    with pytest.raises(TypeError, match="unknown"):
        vbpr.Loss(temperature=3)


@pytest.mark.parametrize("est", ["prototype", "prototype_detached", "elbo"])
@pytest.mark.parametrize("sign", [1, -1])
def test_values_match_the_formulas(rng, est, sign):
    u, p, n = batch(rng)
    lpp = rng.standard_normal((7, 2)).astype(np.float32)
    lpn = rng.standard_normal((7, 4)).astype(np.float32)
    loss = vbpr.Loss(estimator=est, neg_attention=sign, c_pos=2.0, c_neg=3.0)
    value = loss.forward(u, p, n, lpp, lpn)
    want, rows = reference_loss(u, p, n, 2.0, 3.0, sign, est, lpp, lpn)
    assert value == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(loss.row_losses(), rows, rtol=1e-5)
    alpha, beta = loss.attention()
    np.testing.assert_allclose(alpha.sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(beta.sum(1), 1, rtol=1e-6)
    assert loss.batch_size == 7


def test_bpr_value_and_shapes(rng):
    u, p, n = batch(rng, m=1, n=1)
    loss = vbpr.Loss("bpr")
    sp, sn = (u * p[:, 0]).sum(1), (u * n[:, 0]).sum(1)
    want = softplus(-(sp.astype(np.float64) - sn)).mean()
    assert loss.forward(u, p, n) == pytest.approx(want, rel=1e-5)
    # with M = N = 1, [B, d] item arrays are accepted too
    assert loss.forward(u, p[:, 0].copy(), n[:, 0].copy()) == pytest.approx(want, rel=1e-5)
    gu, gp, gn = loss.backward()
    assert gp.shape == (7, 8) and gn.shape == (7, 8)


def test_fused_equals_forward_then_backward(rng):
    u, p, n = batch(rng)
    loss = vbpr.Loss()
    value = loss.forward(u, p, n)
    grads = loss.backward(0.5)
    fused = loss.forward_backward(u, p, n, grad_output=0.5)
    assert fused[0] == value
    for a, b in zip(grads, fused[1:]):
        np.testing.assert_array_equal(a, b)
    # several backward calls after one forward give the same result
    for a, b in zip(grads, loss.backward(0.5)):
        np.testing.assert_array_equal(a, b)


def test_score_level_matches_embedding_level(rng):
    u, p, n = batch(rng)
    loss = vbpr.Loss()
    value, gu, gp, gn = loss.forward_backward(u, p, n)
    gps, gns = loss.backward_scores()
    sp = np.einsum("bd,bmd->bm", u, p).astype(np.float32)
    sn = np.einsum("bd,bnd->bn", u, n).astype(np.float32)
    value2, gps2, gns2 = loss.forward_backward_scores(sp, sn)
    assert value2 == pytest.approx(value, rel=1e-5)
    np.testing.assert_allclose(gps2, gps, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(gns2, gns, rtol=1e-4, atol=1e-7)
    # the embedding gradient is the score gradient times the other factor
    np.testing.assert_allclose(gp, gps[:, :, None] * u[:, None, :], rtol=1e-5, atol=1e-8)
    assert loss.forward_scores(sp, sn) == value2
    with pytest.raises(vbpr.StateError):   # a score-level forward has no embeddings
        loss.backward()


def _spy(monkeypatch, name):
    calls = []
    real = getattr(_lib.lib, name)

    def spy(*args):
        calls.append(args)
        return real(*args)
    monkeypatch.setattr(_lib.lib, name, spy)
    return calls


def test_zero_copy_inputs_and_outputs(rng, monkeypatch):
    u, p, n = batch(rng)
    outs = tuple(np.empty_like(x) for x in (u, p, n))
    calls = _spy(monkeypatch, "vbpr_loss_forward_backward")
    loss = vbpr.Loss()
    value, gu, gp, gn = loss.forward_backward(u, p, n, out=outs)
    args = calls[-1]
    # the very arrays, hence the very addresses, reach the C call ...
    assert [a.ctypes.data for a in args[3:6]] == [u.ctypes.data, p.ctypes.data,
                                                    n.ctypes.data]
    assert [a.ctypes.data for a in args[10:13]] == [x.ctypes.data for x in outs]
    assert gu is outs[0] and gp is outs[1] and gn is outs[2]
    # ... and the library reads that memory again in backward: changing the
    # user array in place after the forward changes d loss / d pos.
    g0 = loss.backward()[1].copy()
    u *= 2
    g1 = loss.backward()[1]
    np.testing.assert_allclose(g1, 2 * g0, rtol=1e-6)


@pytest.mark.parametrize("bad, err", [
    (lambda u: u.astype(np.float64), TypeError),
    (lambda u: np.asfortranarray(np.repeat(u, 2, axis=1))[:, ::2], ValueError),
    (lambda u: u[:, :4], ValueError),
    (lambda u: u.tolist(), TypeError),
    (lambda u: u[:3], ValueError),
])
def test_wrong_arrays_are_refused_not_copied(rng, bad, err, monkeypatch):
    u, p, n = batch(rng)
    calls = _spy(monkeypatch, "vbpr_loss_forward")
    loss = vbpr.Loss()
    with pytest.raises(err):
        loss.forward(bad(u), p, n)
    assert calls == []      # refused before reaching the library
    with pytest.raises((TypeError, ValueError)):
        loss.forward(u, p[:, :, ::2], n)
    with pytest.raises(ValueError):
        loss.forward(u, p, n, log_prior_pos=np.zeros((7, 3), np.float32))
    with pytest.raises(ValueError):  # read-only output
        out = np.empty_like(u)
        out.flags.writeable = False
        loss.forward_backward(u, p, n, out=(out, None, None))


def test_backward_before_forward_is_a_state_error(rng):
    loss = vbpr.Loss()
    with pytest.raises(vbpr.StateError, match="vbpr_loss_backward"):
        loss.backward()
    with pytest.raises(vbpr.StateError, match="vbpr_loss_backward_scores"):
        loss.backward_scores()
    u, p, n = batch(rng)
    loss.forward(u, p, n)
    loss.c_pos = 3.0        # a successful set discards the stored forward
    with pytest.raises(vbpr.StateError):
        loss.backward()


def test_nan_input_is_a_numeric_error(rng):
    u, p, n = batch(rng)
    p[3, 1, 2] = np.nan
    loss = vbpr.Loss()
    with pytest.raises(vbpr.NumericError) as info:
        loss.forward(u, p, n)
    assert info.value.status == vbpr.Status.ERR_NUMERIC
    assert "vbpr_loss_forward" in str(info.value)
    with pytest.raises(vbpr.StateError):   # the failed forward left nothing stored
        loss.backward()


def test_preset_prior_weights_and_priors_from_arrays_match_the_dataset():
    assert vbpr.preset_prior_weights("best") == (0.0, 1.0, 0.0, 0.5)
    assert vbpr.preset_prior_weights("paper") == (0.0, 0.0, 0.0, 0.0)
    with pytest.raises(vbpr.InvalidArgumentError, match="known"):
        vbpr.preset_prior_weights("fancy")
    users = np.array([0, 0, 1, 2, 2, 2], np.int32)
    items = np.array([0, 1, 1, 0, 2, 3], np.int32)
    ratings = np.array([5, 1, 4, 3, 2, 5], np.float32)
    ds = vbpr.Dataset(users, items, ratings)
    want = ds.item_log_priors(0.5, 1.0, 0.25, 0.5)
    counts = np.bincount(items, minlength=ds.num_items).astype(np.float64)
    sums = np.bincount(items, weights=ratings, minlength=ds.num_items)
    got = vbpr.item_log_priors(counts, sums, 0.5, 1.0, 0.25, 0.5)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    pos, neg = vbpr.item_log_priors(counts, sums, preset="best")
    np.testing.assert_array_equal(pos, ds.item_log_priors(*vbpr.preset_prior_weights("best"))[0])
    with pytest.raises(ValueError, match="shape"):
        vbpr.item_log_priors(counts, sums[:2])
    with pytest.raises(vbpr.NumericError):
        vbpr.item_log_priors(np.array([1.0, np.nan]))
    with pytest.raises(vbpr.InvalidArgumentError):
        vbpr.item_log_priors(counts, a1=-1)
