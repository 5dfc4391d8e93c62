"""vbpr.Loss on float64 arrays: the library's double-precision calls
(vbpr_loss_forward_backward_f64, ..._scores_f64), never a down-cast, and
the InfoNCE kind against its formula."""
import numpy as np
import pytest

import vbpr

from test_loss import reference_loss, softmax


def batch64(rng, b=7, m=2, n=4, d=8):
    f = lambda *s: rng.standard_normal(s)  # noqa: E731
    return f(b, d), f(b, m, d), f(b, n, d)


def infonce_reference(sp, sn, t, lpp=None, lpn=None):
    """Rows of -log softmax([s+/t + lp+, s-/t + lp-])_0, in float64."""
    z = np.concatenate([sp / t + (0 if lpp is None else lpp),
                        sn / t + (0 if lpn is None else lpn)], 1)
    mx = z.max(1, keepdims=True)
    rows = (mx[:, 0] + np.log(np.exp(z - mx).sum(1))) - z[:, 0]
    return rows.mean(), rows


def fd_grad(f, x, h=1e-6):
    """Central finite differences of the scalar f at x (float64)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + h
        hi = f()
        x[i] = keep - h
        lo = f()
        x[i] = keep
        g[i] = (hi - lo) / (2 * h)
    return g


@pytest.mark.parametrize("est", ["prototype", "prototype_detached", "elbo"])
def test_f64_values_are_double_precision(rng, est):
    u, p, n = batch64(rng)
    lpp, lpn = rng.standard_normal((7, 2)), rng.standard_normal((7, 4))
    loss = vbpr.Loss(estimator=est, c_pos=2.0, c_neg=3.0)
    value, gu, gp, gn = loss.forward_backward(u, p, n, lpp, lpn)
    want, rows = reference_loss(u, p, n, 2.0, 3.0, 1, est, lpp, lpn)
    assert isinstance(value, float)
    assert value == pytest.approx(want, rel=1e-13)
    assert (gu.dtype, gp.dtype, gn.dtype) == (np.float64,) * 3
    assert (gu.shape, gp.shape, gn.shape) == (u.shape, p.shape, n.shape)
    np.testing.assert_allclose(loss.row_losses(), rows, rtol=1e-6)   # stored as float32
    # The float32 call on the same values is float32-accurate only: the
    # float64 one is not a down-cast.
    v32 = loss.forward_backward(u.astype(np.float32), p.astype(np.float32),
                                n.astype(np.float32), lpp.astype(np.float32),
                                lpn.astype(np.float32))[0]
    assert abs(v32 - want) > abs(value - want)


@pytest.mark.parametrize("kind, params", [
    ("variational", dict(estimator="prototype")),
    ("variational", dict(estimator="prototype", neg_attention="easy", c_pos=0.5)),
    ("bpr", {}),
    ("infonce", dict(temperature=0.3)),
])
def test_f64_gradients_match_finite_differences(rng, kind, params):
    """Estimators whose gradient is the value's (ELBO and DETACHED hold the
    attention constant by design)."""
    loss = vbpr.Loss(kind, **params)
    m, n = loss.M, loss.N
    u, p, q = batch64(rng, b=3, m=m, n=n, d=4)
    g = loss.forward_backward(u, p, q, grad_output=0.5)[1:]

    def f():
        return 0.5 * loss.forward_backward(u, p, q)[0]
    for x, gx in zip((u, p, q), g):
        np.testing.assert_allclose(gx, fd_grad(f, x), rtol=1e-6, atol=1e-9)


def test_f64_scores(rng):
    sp, sn = rng.standard_normal((9, 2)), rng.standard_normal((9, 4))
    loss = vbpr.Loss(c_pos=1.5)
    value, gp, gn = loss.forward_backward_scores(sp, sn)
    a, b = softmax(sp / 1.5), softmax(sn / 4.0)
    rows = np.logaddexp(0, -((a * sp).sum(1) - (b * sn).sum(1)))
    assert value == pytest.approx(rows.mean(), rel=1e-13)
    assert (gp.dtype, gn.dtype, gp.shape, gn.shape) == (np.float64, np.float64, (9, 2),
                                                        (9, 4))

    def f():
        return loss.forward_backward_scores(sp, sn)[0]
    np.testing.assert_allclose(gp, fd_grad(f, sp), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(gn, fd_grad(f, sn), rtol=1e-6, atol=1e-10)
    # out= buffers are written in place
    out = (np.empty((9, 2)), np.empty((9, 4)))
    _, gp2, gn2 = loss.forward_backward_scores(sp, sn, out=out)
    assert gp2 is out[0] and gn2 is out[1]
    np.testing.assert_array_equal(gp2, gp)


def test_f64_stores_attention_not_a_float_forward(rng):
    u, p, n = batch64(rng)
    loss = vbpr.Loss()
    loss.forward_backward(u, p, n)
    assert loss.batch_size == 7
    alpha, beta = loss.attention()
    sp = np.einsum("bd,bmd->bm", u, p)
    np.testing.assert_allclose(alpha, softmax(sp / 4.0), rtol=1e-5)
    with pytest.raises(vbpr.StateError):
        loss.backward()
    with pytest.raises(vbpr.StateError):
        loss.backward_scores()


def test_f64_refuses_mixed_dtypes(rng):
    u, p, n = batch64(rng)
    loss = vbpr.Loss()
    with pytest.raises(TypeError, match="pos must have dtype float64"):
        loss.forward_backward(u, p.astype(np.float32), n)
    with pytest.raises(TypeError, match="log_prior_neg must have dtype float64"):
        loss.forward_backward(u, p, n, None, np.zeros((7, 4), np.float32))
    with pytest.raises(TypeError, match="grad_user must have dtype float64"):
        loss.forward_backward(u, p, n, out=(np.empty((7, 8), np.float32), None, None))
    with pytest.raises(TypeError, match="only forward_backward"):
        loss.forward(u, p, n)
    with pytest.raises(TypeError, match="only forward_backward_scores"):
        loss.forward_scores(np.zeros((7, 2)), np.zeros((7, 4)))
    # float32 user: every array must be float32, as before
    with pytest.raises(TypeError, match="pos must have dtype float32"):
        loss.forward_backward(u.astype(np.float32), p, n)


def test_f64_bad_values_write_nothing(rng):
    u, p, n = batch64(rng)
    u[2, 3] = np.nan
    loss = vbpr.Loss()
    out = tuple(np.full(a.shape, 7.0) for a in (u, p, n))
    with pytest.raises(vbpr.Error):
        loss.forward_backward(u, p, n, out=out)
    assert all((o == 7.0).all() for o in out)


@pytest.mark.parametrize("t", [1e-3, 0.1, 5.0])
def test_infonce_values_match_the_formula(rng, t):
    sp, sn = rng.standard_normal((9, 1)), rng.standard_normal((9, 5))
    lpp, lpn = rng.standard_normal((9, 1)), rng.standard_normal((9, 5))
    loss = vbpr.Loss("infonce", num_neg=5, temperature=t)
    assert loss.kind == vbpr.LossKind.INFONCE
    assert (loss.M, loss.N, loss.temperature) == (1, 5, t)
    value = loss.forward_backward_scores(sp, sn, lpp, lpn)[0]
    want, rows = infonce_reference(sp, sn, t, lpp, lpn)
    assert value == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(loss.row_losses(), rows, rtol=1e-6)
    alpha, beta = loss.attention()
    np.testing.assert_array_equal(alpha, np.ones((9, 1), np.float32))
    np.testing.assert_allclose(beta, softmax(sn / t + lpn), rtol=1e-5, atol=1e-7)
    # float32 path agrees to float32 precision
    v32 = loss.forward_scores(*(x.astype(np.float32) for x in (sp, sn, lpp, lpn)))
    assert v32 == pytest.approx(want, rel=1e-5)


def test_infonce_parameters():
    assert "temperature" in vbpr.Loss.describe("infonce")
    assert "c_pos" not in vbpr.Loss.describe("infonce")
    loss = vbpr.Loss(vbpr.LossKind.INFONCE)
    assert set(loss.params()) == {"num_pos", "num_neg", "temperature"}
    assert loss.temperature == pytest.approx(0.1)
    with pytest.raises(vbpr.InvalidArgumentError, match="(?i)c_pos"):
        loss.c_pos = 2.0
    with pytest.raises(vbpr.InvalidArgumentError, match="num_pos"):
        loss.num_pos = 2
    with pytest.raises(vbpr.InvalidArgumentError, match="temperature"):
        loss.temperature = 0.0
    assert loss.temperature == pytest.approx(0.1)
