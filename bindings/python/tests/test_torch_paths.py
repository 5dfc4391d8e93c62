"""vbpr.torch on any device: the torch-operations path against the C kernel
(values, gradients, whole training runs), the `meta` device, combined item
tensors, the reference code's names and the presets, the configuration as
the module's state, double backward, and the small rules (M/N names, empty
batches, TorchScript). Issue 13."""
import copy
import io
import itertools
import math
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import vbpr  # noqa: E402
import vbpr.torch as vt  # noqa: E402

from conftest import needs_mf  # noqa: E402

F = torch.nn.functional

# float32 tolerance: what separates two float32 evaluations of one formula
# (the C kernel works on the scores in double, torch in float32).
VALUE_TOL = dict(rel=1e-5, abs=1e-7)
GRAD_TOL = dict(rtol=1e-5, atol=1e-6)


def batch(b=16, m=2, n=4, d=8, seed=0, scale=1.5, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: (scale * torch.randn(*s, generator=g)).to(dtype)  # noqa: E731
    return r(b, d), r(b, m, d), r(b, n, d), r(b, m), r(b, n)


def value_and_grads(crit, *inputs, priors=(None, None), **kw):
    xs = [x.detach().clone().requires_grad_(True) for x in inputs]
    value = crit(*xs, *(priors if priors != (None, None) else ()), **kw)
    value.backward()
    return value.detach(), [x.grad for x in xs]


def c_calls(monkeypatch):
    """Counts the calls reaching the C kernels."""
    calls = []
    for name in ("forward_backward", "forward", "forward_backward_scores",
                 "forward_scores"):
        real = getattr(vbpr.Loss, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(vbpr.Loss, name, spy)
    return calls


# ---- item 1: the torch path is the C kernel's mathematics --------------------------

CASES = list(itertools.product(
    ["prototype", "prototype_detached", "elbo"], [1, -1], [False, True],
    [(0.0, 0.0), (0.7, 0.0), (0.0, 1.3), (0.5, 2.0)]))


@pytest.mark.parametrize("estimator, sign, priors, hardness", CASES)
def test_torch_path_equals_the_c_kernel(estimator, sign, priors, hardness):
    u, p, n, lpp, lpn = batch(b=64, m=3, n=5, d=16, seed=CASES.index(
        (estimator, sign, priors, hardness)))
    pri = (lpp, lpn) if priors else (None, None)
    out = {}
    for backend in ("c", "torch"):
        crit = vt.VariationalBPRLoss(M=3, N=5, c_pos=2.0, c_neg=3.0, estimator=estimator,
                                     neg_attention=sign, pos_hardness=hardness[0],
                                     neg_hardness=hardness[1], hardness_tau=0.8,
                                     backend=backend)
        out[backend] = value_and_grads(crit, u, p, n, priors=pri)
        if backend == "c":
            alpha_c, beta_c = crit.attention()
        else:
            alpha_t, beta_t = crit.attention()
    (vc, gc), (vt_, gt) = out["c"], out["torch"]
    assert vt_.item() == pytest.approx(vc.item(), **VALUE_TOL)
    for name, a, b in zip(("user", "pos", "neg"), gc, gt):
        torch.testing.assert_close(b, a, **GRAD_TOL, msg=lambda m: f"grad {name}: {m}")
    torch.testing.assert_close(alpha_t, alpha_c, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(beta_t, beta_c, rtol=1e-5, atol=1e-7)


def test_the_paths_differ_where_the_estimators_do():
    """Guards the test above: the estimators' gradients really differ, so
    equal gradients mean the same estimator."""
    u, p, n, _, _ = batch()
    g = {est: value_and_grads(vt.VariationalBPRLoss(estimator=est, backend="torch"),
                              u, p, n)[1][1] for est in ("prototype", "elbo", "plugin")}
    assert not torch.allclose(g["prototype"], g["plugin"], **GRAD_TOL)
    assert not torch.allclose(g["elbo"], g["plugin"], **GRAD_TOL)


@pytest.mark.parametrize("estimator", ["prototype", "elbo"])
def test_torch_path_in_float64_is_the_formula(estimator):
    """In float64 the torch path is the formula of doc/loss.md to 1e-12."""
    u, p, n, lpp, lpn = batch(dtype=torch.float64)
    crit = vt.VariationalBPRLoss(estimator=estimator, neg_attention="easy",
                                 neg_hardness=0.5, backend="torch")
    value = crit(u, p, n, lpp, lpn)
    assert value.dtype == torch.float64
    sp, sn = torch.einsum("bd,bmd->bm", u, p), torch.einsum("bd,bnd->bn", u, n)
    alpha = F.softmax(sp / 4 + lpp, 1)
    beta = F.softmax(-sn / 4 + lpn + 0.5 * F.log_softmax(sn / 0.5, 1), 1)
    if estimator == "elbo":
        want = (alpha[:, :, None] * beta[:, None, :] *
                F.softplus(sn[:, None, :] - sp[:, :, None])).sum((1, 2)).mean()
    else:
        want = F.softplus((beta * sn).sum(1) - (alpha * sp).sum(1)).mean()
    assert value.item() == pytest.approx(want.item(), rel=1e-12)


def test_bpr_torch_path_equals_the_c_kernel():
    u, p, n, _, _ = batch(m=1, n=1)
    vc, gc = value_and_grads(vt.BPRLoss(backend="c"), u, p[:, 0], n[:, 0])
    vtt, gt = value_and_grads(vt.BPRLoss(backend="torch"), u, p[:, 0], n[:, 0])
    assert vtt.item() == pytest.approx(vc.item(), **VALUE_TOL)
    for a, b in zip(gc, gt):
        torch.testing.assert_close(b, a, **GRAD_TOL)


def reference_step_run(backend, steps=25, estimator="prototype"):
    """An MF model (two nn.Embedding tables) trained with torch.optim.Adam on
    the sampler's batches; returns the final parameters."""
    train, _ = vbpr.synthetic(num_users=80, num_items=120, mean_preferences=12, seed=3)
    torch.manual_seed(0)
    users = torch.nn.Embedding(train.num_users, 16)
    items = torch.nn.Embedding(train.num_items, 16)
    opt = torch.optim.Adam(list(users.parameters()) + list(items.parameters()), lr=0.01,
                           weight_decay=1e-5)
    crit = vt.VariationalBPRLoss(M=2, N=4, estimator=estimator, neg_attention="easy",
                                 neg_hardness=0.5, backend=backend)
    sampler = vbpr.Sampler(train, batch_size=64, num_pos=2, num_neg=4, seed=1)
    lp_pos, lp_neg = (torch.from_numpy(a) for a in train.item_log_priors(a2=1.0, b2=0.5))
    done, losses = 0, []
    while done < steps:
        for uid, pid, nid in sampler:
            uid, pid, nid = (torch.from_numpy(a).long() for a in (uid, pid, nid))
            loss = crit(users(uid), items(pid), items(nid), lp_pos[pid], lp_neg[nid])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            done += 1
            if done == steps:
                break
    return users.weight.detach(), items.weight.detach(), losses


@pytest.mark.parametrize("estimator", ["prototype", "elbo"])
def test_same_training_steps_give_the_same_parameters(estimator):
    """Issue 13, done-when: the same training steps through the C path and
    the torch path give the same parameters to float32 tolerance."""
    uc, ic, lc = reference_step_run("c", estimator=estimator)
    ut, it, lt = reference_step_run("torch", estimator=estimator)
    assert lc[-1] < lc[0]                        # it trained
    np.testing.assert_allclose(lt, lc, rtol=1e-5)
    torch.testing.assert_close(ut, uc, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(it, ic, rtol=1e-5, atol=1e-6)
    assert not torch.equal(uc, reference_step_run("c", steps=24, estimator=estimator)[0])


# ---- item 1: devices and dispatch ----------------------------------------------------

MODULES = [
    lambda **kw: vt.VariationalBPRLoss(estimator="elbo", neg_hardness=0.5, **kw),
    lambda **kw: vt.VariationalBPRLoss(**kw),
    lambda **kw: vt.BPRLoss(**kw),
    lambda **kw: vt.InfoNCELoss(N=4, **kw),
]


@pytest.mark.parametrize("make", MODULES, ids=["elbo", "prototype", "bpr", "infonce"])
def test_meta_tensors_give_shapes(make, monkeypatch):
    crit = make()
    m, n = crit.num_pos, crit.num_neg
    calls = c_calls(monkeypatch)
    u = torch.empty(32, 8, device="meta", requires_grad=True)
    p = torch.empty(32, m, 8, device="meta", requires_grad=True)
    q = torch.empty(32, n, 8, device="meta", requires_grad=True)
    loss = crit(u, p, q)
    assert loss.device.type == "meta" and loss.shape == ()
    loss.backward()
    assert u.grad.shape == u.shape and p.grad.shape == p.shape and q.grad.shape == q.shape
    items = torch.empty(32, m + n, 8, device="meta", requires_grad=True)
    crit(u, items).backward()
    assert items.grad.shape == items.shape
    s = torch.empty(32, m + n, device="meta", requires_grad=True)
    crit.scores(s).backward()
    assert s.grad.shape == s.shape
    assert calls == []                    # nothing went to the C kernel


def test_dispatch_rules(monkeypatch):
    u, p, n, _, _ = batch()
    calls = c_calls(monkeypatch)
    vt.VariationalBPRLoss()(u, p, n)
    assert calls == ["forward"]                              # CPU float32: C
    calls.clear()
    vt.VariationalBPRLoss(backend="torch")(u, p, n)
    assert calls == []                                       # forced torch
    with pytest.raises(TypeError, match="backend='c' runs on the CPU"):
        vt.VariationalBPRLoss(backend="c")(u.to("meta"), p.to("meta"), n.to("meta"))
    with pytest.raises(ValueError, match="backend must be"):
        vt.VariationalBPRLoss(backend="cuda")
    v64 = vt.VariationalBPRLoss(backend="torch")(u.double(), p.double(), n.double())
    assert v64.dtype == torch.float64 and calls == []
    vh = vt.VariationalBPRLoss(backend="torch")(u.bfloat16(), p.bfloat16(), n.bfloat16())
    assert vh.dtype == torch.bfloat16


# ---- item 4: one items tensor, not copied -------------------------------------------

@pytest.mark.parametrize("backend", ["c", "torch"])
def test_combined_items_equal_separate_items(backend):
    u, p, n, lpp, lpn = batch(b=32)
    items = torch.cat([p, n], 1)
    crit = vt.VariationalBPRLoss(estimator="elbo", neg_attention="easy", backend=backend)
    v1, (gu1, gp1, gn1) = value_and_grads(crit, u, p, n, priors=(lpp, lpn))
    v2, (gu2, gi2) = value_and_grads(crit, u, items, log_prior_pos=lpp, log_prior_neg=lpn)
    v3, (gu3, gi3) = value_and_grads(crit, u, items, log_prior=torch.cat([lpp, lpn], 1))
    assert v2.item() == pytest.approx(v1.item(), **VALUE_TOL) and v3.item() == v2.item()
    torch.testing.assert_close(gu2, gu1, **GRAD_TOL)
    torch.testing.assert_close(gi2, torch.cat([gp1, gn1], 1), **GRAD_TOL)
    torch.testing.assert_close(gi3, gi2, rtol=0, atol=0)
    scores = torch.einsum("bd,bkd->bk", u, items)
    v4, (gs,) = value_and_grads(crit.scores, scores, log_prior_pos=lpp, log_prior_neg=lpn)
    with pytest.raises(ValueError, match="by keyword"):
        crit(u, items, lpp, lpn)
    assert v4.item() == pytest.approx(v1.item(), **VALUE_TOL)
    assert gs.shape == scores.shape


def test_combined_items_are_not_sliced_in_autograd(monkeypatch):
    """Issue 13, item 4: slicing a [B, M+N, d] gather in autograd (copies
    and their backward) made the loss step 2.6x slower. The items tensor
    is taken whole: the graph from it to the loss has no slice, and the C
    kernel is called once, with its gradient returned in one tensor; the
    torch path reads the very tensor."""
    u, p, n, _, _ = batch(b=32)
    items = torch.cat([p, n], 1).requires_grad_(True)
    calls = c_calls(monkeypatch)
    loss = vt.VariationalBPRLoss()(u, items)
    assert type(loss.grad_fn).__name__ == "ItemsLossFunctionBackward"
    leaves = [getattr(fn, "variable", None) for fn, _ in loss.grad_fn.next_functions]
    assert any(v is items for v in leaves)                  # items, unsliced
    loss.backward()
    assert calls == ["forward_backward"] and items.grad.shape == items.shape
    seen = []
    real = vt.tm.scores

    def spy(user, its):
        seen.append(its)
        return real(user, its)
    monkeypatch.setattr(vt.tm, "scores", spy)
    vt.VariationalBPRLoss(backend="torch")(u, items).backward()
    assert len(seen) == 1 and seen[0] is items


def test_staging_buffers_are_reused():
    crit = vt.VariationalBPRLoss()
    u, p, n, _, _ = batch(b=32)
    items = torch.cat([p, n], 1)
    crit(u, items)
    first = [a.ctypes.data for a in crit._staging_buffers]
    crit(u[:20], items[:20])                  # a smaller batch: the same memory
    assert [a.ctypes.data for a in crit._staging_buffers] == first
    assert copy.deepcopy(crit)._staging_buffers is None


# ---- item 3: the reference code's names, presets -------------------------------------

def test_reference_code_names_are_aliases():
    assert vt.VariationalBPRLoss(estimator="plugin").loss.estimator == \
        vbpr.Estimator.PROTOTYPE_DETACHED
    assert vt.VariationalBPRLoss(estimator="exact").loss.estimator == vbpr.Estimator.ELBO
    assert vt.VariationalBPRLoss(estimator="PLUGIN").loss.estimator == \
        vbpr.Estimator.PROTOTYPE_DETACHED


def test_unknown_estimator_lists_the_valid_names():
    with pytest.raises(vbpr.InvalidArgumentError) as info:
        vt.VariationalBPRLoss(estimator="plug-in-approx")
    msg = str(info.value)
    for name in ("prototype", "prototype_detached", "plugin", "elbo", "exact"):
        assert name in msg
    assert "plug-in-approx" in msg and not isinstance(info.value, KeyError)
    with pytest.raises(vbpr.InvalidArgumentError, match="hard.*easy"):
        vt.VariationalBPRLoss(neg_attention="soft")


@pytest.mark.parametrize("preset", vbpr.loss_presets())
def test_presets_are_the_libraries(preset):
    crit = vt.VariationalBPRLoss(preset=preset, M=3)
    want = vbpr.Loss(preset=preset, num_pos=3).params()
    assert crit.config() == want and crit.num_pos == 3


def test_preset_then_overrides_and_unknown_preset():
    crit = vt.VariationalBPRLoss(preset="reference-plugin", c_neg=2.0)
    assert crit.loss.c_neg == 2.0 and crit.loss.neg_attention == vbpr.Attention.EASY
    with pytest.raises(vbpr.InvalidArgumentError, match="reference-exact"):
        vt.VariationalBPRLoss(preset="reference")


# ---- item 5: one source of truth, in state_dict ---------------------------------------

def roundtrips(crit):
    buf = io.BytesIO()
    torch.save(crit, buf)
    buf.seek(0)
    yield "deepcopy", copy.deepcopy(crit)
    yield "pickle", pickle.loads(pickle.dumps(crit))
    yield "torch.save", torch.load(buf)
    fresh = vt.VariationalBPRLoss()
    fresh.load_state_dict(crit.state_dict())
    yield "state_dict", fresh


def test_configuration_set_through_loss_is_kept():
    """Issue 13, bug 1: a.loss.c_neg = 0.1 took effect but repr, copies,
    pickle and torch.save brought back 4."""
    a = vt.VariationalBPRLoss()
    a.loss.c_neg = 0.1
    a.loss.estimator = "exact"
    assert "c_neg=0.1" in repr(a) and "estimator=elbo" in repr(a)
    assert a.state_dict()["_extra_state"]["params"]["c_neg"] == 0.1
    u, p, n, _, _ = batch()
    for how, b in roundtrips(a):
        assert b.loss is not a.loss, how
        assert (b.loss.c_neg, b.loss.estimator) == (0.1, vbpr.Estimator.ELBO), how
        assert b(u, p, n).item() == a(u, p, n).item(), how


def test_state_dict_is_plain_and_checked():
    a = vt.VariationalBPRLoss(neg_attention="easy")
    state = a.state_dict()["_extra_state"]
    assert all(type(v) in (int, float) for v in state["params"].values())
    assert state["params"]["neg_attention"] == -1 and state["kind"] == 2
    with pytest.raises(ValueError, match="kind"):
        vt.BPRLoss().load_state_dict(a.state_dict())
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), vt.VariationalBPRLoss(c_pos=7.0))
    net2 = torch.nn.Sequential(torch.nn.Linear(2, 2), vt.VariationalBPRLoss())
    net2.load_state_dict(net.state_dict())
    assert net2[1].loss.c_pos == 7.0


# ---- item 6: double backward ------------------------------------------------------------

@pytest.mark.parametrize("estimator", ["prototype", "elbo"])
@pytest.mark.parametrize("form", ["separate", "combined", "scores"])
def test_double_backward_is_supported(estimator, form):
    """Issue 13, bug 2: with create_graph=True the C path returned a gradient
    without a graph, and a penalty on it contributed nothing, silently."""
    u, p, n, lpp, lpn = batch(b=16)
    results = {}
    for backend in ("c", "torch"):
        crit = vt.VariationalBPRLoss(estimator=estimator, backend=backend)
        xs = [x.clone().requires_grad_(True) for x in (u, p, n)]
        if form == "separate":
            value = crit(*xs, lpp, lpn)
        elif form == "combined":
            value = crit(xs[0], torch.cat(xs[1:], 1), log_prior_pos=lpp,
                         log_prior_neg=lpn)
        else:
            value = crit.scores(torch.einsum("bd,bmd->bm", xs[0], xs[1]),
                                torch.einsum("bd,bnd->bn", xs[0], xs[2]), lpp, lpn)
        g_user, = torch.autograd.grad(value, xs[0], create_graph=True)
        assert g_user.requires_grad, backend
        penalty = g_user.pow(2).sum()
        penalty.backward()
        results[backend] = (g_user.detach(), [x.grad for x in xs])
    gc, hc = results["c"]
    gt, ht = results["torch"]
    torch.testing.assert_close(gc, gt, **GRAD_TOL)
    for a, b in zip(hc, ht):
        assert a.abs().sum() > 0          # the penalty contributes
        torch.testing.assert_close(a, b, **GRAD_TOL)


# ---- item 7: names, empty batches, TorchScript -------------------------------------------

def test_m_n_and_num_pos_num_neg_are_one_parameter():
    assert vt.VariationalBPRLoss(num_pos=3, num_neg=5).M == 3
    assert vt.VariationalBPRLoss(M=3, N=5).num_neg == 5
    assert vt.VariationalBPRLoss(3, num_neg=6).config()["num_neg"] == 6
    with pytest.raises(TypeError, match="disagree"):
        vt.VariationalBPRLoss(M=2, num_pos=3)


def test_repr_names_enum_values():
    r = repr(vt.VariationalBPRLoss(neg_attention="easy", estimator="elbo"))
    assert "neg_attention=easy" in r and "estimator=elbo" in r and "-1" not in r


@pytest.mark.parametrize("backend", ["auto", "c", "torch"])
@pytest.mark.parametrize("make", MODULES, ids=["elbo", "prototype", "bpr", "infonce"])
def test_empty_batch_is_nan_as_in_torch(make, backend):
    if backend == "c" and isinstance(make(), vt.InfoNCELoss) and \
            not vt.has_c_kind(vbpr.LossKind.INFONCE):
        pytest.skip("the loaded libvbpr has no InfoNCE kind")
    crit = make(backend=backend)
    u = torch.zeros(0, 8, requires_grad=True)
    items = torch.zeros(0, crit.num_pos + crit.num_neg, 8, requires_grad=True)
    loss = crit(u, items)
    assert math.isnan(loss.item())
    assert math.isnan(F.softplus(torch.zeros(0)).mean().item())   # torch's behaviour
    loss.backward()
    assert u.grad.shape == (0, 8) and items.grad.shape == items.shape


@pytest.mark.parametrize("make", MODULES, ids=["elbo", "prototype", "bpr", "infonce"])
def test_torch_jit_script(make):
    crit = make()
    scripted = torch.jit.script(crit)
    assert isinstance(scripted, torch.jit.ScriptModule)
    u, p, n, _, _ = batch(m=crit.num_pos, n=crit.num_neg)
    assert scripted(u, p, n).item() == pytest.approx(crit(u, p, n).item(), **VALUE_TOL)
    assert scripted(u, torch.cat([p, n], 1)).item() == pytest.approx(
        crit(u, p, n).item(), **VALUE_TOL)
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    buf.seek(0)
    assert torch.jit.load(buf)(u, p, n).item() == scripted(u, p, n).item()
    torch.jit.script(vt.functional.variational_loss)


# ---- InfoNCE ---------------------------------------------------------------------------------

def test_infonce_torch_path_is_the_formula():
    u, _, n, _, _ = batch(dtype=torch.float64)
    p = batch(m=1, dtype=torch.float64, seed=4)[1]
    crit = vt.InfoNCELoss(N=4, temperature=0.3, backend="torch")
    value = crit(u, p, n)
    logits = torch.cat([torch.einsum("bd,bmd->bm", u, p),
                        torch.einsum("bd,bnd->bn", u, n)], 1) / 0.3
    want = -F.log_softmax(logits, 1)[:, 0].mean()
    assert value.item() == pytest.approx(want.item(), rel=1e-12)
    with pytest.raises(ValueError, match="log-priors"):
        crit(u, p, n, torch.zeros(16, 1, dtype=torch.float64))
    with pytest.raises(vbpr.InvalidArgumentError, match="temperature"):
        vt.InfoNCELoss(temperature=-1.0)


@pytest.mark.skipif(not vt.has_c_kind(vbpr.LossKind.INFONCE),
                    reason="the loaded libvbpr has no InfoNCE loss kind yet "
                           "(vbpr_loss_create(3) fails): nothing to compare the torch path with")
def test_infonce_torch_path_equals_the_c_kernel():
    u, _, n, _, _ = batch(b=64)
    p = batch(b=64, m=1, seed=4)[1]
    vc, gc = value_and_grads(vt.InfoNCELoss(N=4, temperature=0.3, backend="c"), u, p, n)
    vtt, gt = value_and_grads(vt.InfoNCELoss(N=4, temperature=0.3, backend="torch"),
                              u, p, n)
    assert vtt.item() == pytest.approx(vc.item(), **VALUE_TOL)
    for a, b in zip(gc, gt):
        torch.testing.assert_close(b, a, **GRAD_TOL)


def test_infonce_configuration_is_state():
    a = vt.InfoNCELoss(N=3, temperature=0.25)
    b = copy.deepcopy(a)
    assert b.config()["temperature"] == 0.25 and b.num_neg == 3
    c = vt.InfoNCELoss()
    c.load_state_dict(a.state_dict())
    assert c.config()["temperature"] == 0.25


@needs_mf
def test_mf_model_on_a_forced_device_path_learns():
    """The torch path trains a model as the C path does (a smoke test of
    the path a GPU user gets)."""
    _, _, losses = reference_step_run("torch", steps=40)
    assert losses[-1] < losses[0]
