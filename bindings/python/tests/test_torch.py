"""vbpr.torch against a pure-PyTorch reimplementation of doc/loss.md,
differentiated by torch.autograd in double precision: every estimator, both
attention signs, with and without log-priors and hardness priors."""
import copy
import itertools
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import vbpr  # noqa: E402
import vbpr.torch as vt  # noqa: E402

F = torch.nn.functional


def reference(u, p, n, lpp=None, lpn=None, c_pos=4.0, c_neg=4.0,
              estimator="prototype", sign=1, lam_pos=0.0, lam_neg=0.0, tau=0.5):
    """The batch loss of doc/loss.md, written from its formulas."""
    sp = torch.einsum("bd,bmd->bm", u, p)
    sn = torch.einsum("bd,bnd->bn", u, n)
    zp = sp / c_pos + (0 if lpp is None else lpp)
    zn = sign * sn / c_neg + (0 if lpn is None else lpn)
    if lam_pos > 0:   # hardness priors: constants in backward
        zp = zp + (lam_pos * F.log_softmax((sp.mean(1, keepdim=True) - sp) / tau, 1)).detach()
    if lam_neg > 0:
        zn = zn + (lam_neg * F.log_softmax((sn - sn.mean(1, keepdim=True)) / tau, 1)).detach()
    alpha, beta = F.softmax(zp, 1), F.softmax(zn, 1)
    if estimator != "prototype":       # DETACHED and ELBO: constant attention
        alpha, beta = alpha.detach(), beta.detach()
    if estimator == "elbo":
        d = sp[:, :, None] - sn[:, None, :]
        rows = (alpha[:, :, None] * beta[:, None, :] * F.softplus(-d)).sum((1, 2))
    else:
        rows = F.softplus(-((alpha * sp).sum(1) - (beta * sn).sum(1)))
    return rows.mean()


def make_batch(b=6, m=2, n=4, d=5, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: (scale * torch.randn(*s, generator=g)).float()  # noqa: E731
    return r(b, d), r(b, m, d), r(b, n, d), r(b, m), r(b, n)


def grads_of(fn, *xs):
    xs = [x.detach().clone().requires_grad_(True) for x in xs]
    value = fn(*xs)
    value.backward()
    return value.detach(), [x.grad for x in xs]


CASES = list(itertools.product(
    ["prototype", "prototype_detached", "elbo"],   # estimator
    [1, -1],                                       # attention sign g
    [False, True],                                 # log-priors given
    [(0.0, 0.0), (0.7, 0.0), (0.0, 1.3), (0.5, 2.0)],  # hardness lambdas
))


@pytest.mark.parametrize("backend", ["c", "torch"])
@pytest.mark.parametrize("estimator, sign, priors, hardness", CASES)
def test_gradients_match_autograd_reference(estimator, sign, priors, hardness, backend):
    """Both paths (the C kernel, and the torch operations used on other
    devices) against the formulas differentiated in float64."""
    lam_pos, lam_neg = hardness
    seed = CASES.index((estimator, sign, priors, hardness))
    u, p, n, lpp, lpn = make_batch(b=7, m=3, n=5, d=6, seed=seed, scale=1.5)
    if not priors:
        lpp = lpn = None
    crit = vt.VariationalBPRLoss(M=3, N=5, c_pos=2.0, c_neg=3.0, estimator=estimator,
                                 neg_attention=sign, pos_hardness=lam_pos,
                                 neg_hardness=lam_neg, hardness_tau=0.8, backend=backend)
    value, g = grads_of(lambda a, b, c: crit(a, b, c, lpp, lpn), u, p, n)
    kw = dict(c_pos=2.0, c_neg=3.0, estimator=estimator, sign=sign, lam_pos=lam_pos,
              lam_neg=lam_neg, tau=0.8)
    d = lambda t: None if t is None else t.double()  # noqa: E731
    ref_value, ref_g = grads_of(
        lambda a, b, c: reference(a, b, c, d(lpp), d(lpn), **kw),
        u.double(), p.double(), n.double())
    assert value.dtype == torch.float32 and value.dim() == 0
    assert value.item() == pytest.approx(ref_value.item(), rel=1e-5, abs=1e-6)
    for name, got, want in zip(("user", "pos", "neg"), g, ref_g):
        assert got.dtype == torch.float32 and got.shape == want.shape
        torch.testing.assert_close(got.double(), want, rtol=2e-4, atol=2e-6,
                                   msg=lambda m: f"grad {name}: {m}")


def test_the_estimators_really_differ():
    """Guards the test above against passing vacuously."""
    u, p, n, _, _ = make_batch(scale=2.0)
    grads = {}
    for est in ("prototype", "prototype_detached", "elbo"):
        _, grads[est] = grads_of(vt.VariationalBPRLoss(estimator=est), u, p, n)
    assert not torch.allclose(grads["prototype"][1], grads["prototype_detached"][1])
    assert not torch.allclose(grads["elbo"][1], grads["prototype_detached"][1])


def test_bpr_loss_matches_reference():
    u, p, n, _, _ = make_batch(m=1, n=1)
    ref = lambda a, b, c: F.softplus(-((a * b).sum(1) - (a * c).sum(1))).mean()  # noqa
    value, g = grads_of(vt.BPRLoss(), u, p[:, 0], n[:, 0])
    ref_value, ref_g = grads_of(ref, u.double(), p[:, 0].double(), n[:, 0].double())
    assert value.item() == pytest.approx(ref_value.item(), rel=1e-6)
    for got, want in zip(g, ref_g):
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-7)
    # [B, 1, d] items work too and give [B, 1, d] gradients
    _, g3 = grads_of(vt.BPRLoss(), u, p, n)
    torch.testing.assert_close(g3[1][:, 0], g[1])


def test_upstream_gradient_and_graph():
    """The loss inside a larger graph: embeddings from nn.Embedding, the loss
    scaled and added to another term."""
    torch.manual_seed(3)
    users, items = torch.nn.Embedding(10, 4), torch.nn.Embedding(20, 4)
    uid = torch.tensor([0, 3, 7])
    pid, nid = torch.tensor([[1, 2], [3, 4], [5, 6]]), torch.randint(0, 20, (3, 4))
    crit = vt.VariationalBPRLoss()

    def total(loss_fn):
        for m in (users, items):
            m.zero_grad()
        out = 3.0 * loss_fn(users(uid), items(pid), items(nid)) + items.weight.pow(2).sum()
        out.backward()
        return users.weight.grad.clone(), items.weight.grad.clone()

    got = total(crit)
    want = total(lambda a, b, c: reference(a.double(), b.double(), c.double()).float())
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_score_level_matches_reference():
    g = torch.Generator().manual_seed(9)
    sp, sn = torch.randn(5, 2, generator=g), torch.randn(5, 4, generator=g)
    crit = vt.VariationalBPRLoss(estimator="elbo", neg_attention="easy")
    value, gr = grads_of(crit.scores, sp, sn)

    def ref(a, b):
        alpha, beta = F.softmax(a / 4, 1).detach(), F.softmax(-b / 4, 1).detach()
        d = a[:, :, None] - b[:, None, :]
        return (alpha[:, :, None] * beta[:, None, :] * F.softplus(-d)).sum((1, 2)).mean()
    ref_value, ref_g = grads_of(ref, sp.double(), sn.double())
    assert value.item() == pytest.approx(ref_value.item(), rel=1e-5)
    for a, b in zip(gr, ref_g):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-7)


def test_non_contiguous_inputs_are_made_contiguous_by_torch():
    u, p, n, _, _ = make_batch()
    pt = p.transpose(0, 1).contiguous().transpose(0, 1)   # same values, not contiguous
    assert not pt.is_contiguous()
    crit = vt.VariationalBPRLoss()
    v1, g1 = grads_of(crit, u, p, n)
    v2, g2 = grads_of(crit, u, pt, n)
    assert v1 == v2
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_contiguous_float32_inputs_are_not_copied(monkeypatch):
    u, p, n, _, _ = make_batch()
    seen = []
    real = vbpr.Loss.forward_backward

    def spy(self, *args, **kw):
        seen.append([a.ctypes.data for a in args[:3]])
        return real(self, *args, **kw)
    monkeypatch.setattr(vbpr.Loss, "forward_backward", spy)
    u.requires_grad_(True)
    vt.VariationalBPRLoss()(u, p, n).backward()
    assert seen == [[u.data_ptr(), p.data_ptr(), n.data_ptr()]]


def test_dtype_device_and_prior_rules():
    u, p, n, lpp, _ = make_batch()
    crit = vt.VariationalBPRLoss()
    with pytest.raises(TypeError, match="float32"):
        crit(u.double(), p.double(), n.double())
    with pytest.raises(ValueError, match="on meta"):
        crit(u, p.to("meta"), n)
    with pytest.raises(ValueError, match="shape"):
        crit(u, p[:, :1], n)
    with pytest.raises(ValueError, match="requires grad"):
        crit(u, p, n, lpp.requires_grad_(True))
    with pytest.raises(TypeError):
        crit(u.numpy(), p, n)
    # cast=True converts explicitly and differentiably
    cast = vt.VariationalBPRLoss(cast=True)
    v64, g64 = grads_of(cast, u.double(), p.double(), n.double())
    v32, g32 = grads_of(crit, u, p, n)
    assert g64[0].dtype == torch.float64 and v64.item() == v32.item()
    torch.testing.assert_close(g64[0].float(), g32[0])


def test_no_grad_forward_and_library_errors():
    u, p, n, _, _ = make_batch()
    crit = vt.VariationalBPRLoss()
    with torch.no_grad():
        v = crit(u, p, n)
    assert v.requires_grad is False and np.isfinite(v.item())
    bad = p.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(vbpr.NumericError):
        crit(u, bad, n)


def test_module_copies_get_their_own_loss():
    crit = vt.VariationalBPRLoss(M=3, N=2, estimator="elbo")
    for clone in (copy.deepcopy(crit), pickle.loads(pickle.dumps(crit))):
        assert clone.loss is not crit.loss
        assert (clone.M, clone.N, clone.loss.estimator) == (3, 2, vbpr.Estimator.ELBO)


def test_training_loop_lowers_the_loss():
    torch.manual_seed(0)
    users, items = torch.nn.Embedding(30, 8), torch.nn.Embedding(40, 8)
    opt = torch.optim.Adam(list(users.parameters()) + list(items.parameters()), lr=0.05)
    crit = vt.VariationalBPRLoss(M=2, N=4)
    uid = torch.arange(30)
    pid = torch.stack([uid % 40, (uid + 1) % 40], 1)
    nid = (uid[:, None] * 7 + torch.arange(4) + 10) % 40
    losses = []
    for _ in range(30):
        loss = crit(users(uid), items(pid), items(nid))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
