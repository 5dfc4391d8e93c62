"""The XSimGCL encoder, encoder parameters (set/get by name, bounds per
kind) and the encoder's own loss term (extra_loss)."""
import numpy as np
import pytest

import vbpr

from conftest import needs_mf

needs_xsimgcl = pytest.mark.skipif(not vbpr.has_module(vbpr.Module.XSIMGCL),
                                   reason="library built without the xsimgcl module")


def batch_ids(rng, train, b=16, m=2, n=3):
    return (rng.integers(0, train.num_users, b).astype(np.int32),
            rng.integers(0, train.num_items, (b, m)).astype(np.int32),
            rng.integers(0, train.num_items, (b, n)).astype(np.int32))


@needs_xsimgcl
def test_xsimgcl_parameters(small_data):
    train, _ = small_data
    enc = vbpr.XSimGCL(train, dim=8, num_layers=3, seed=1, cl_tau=0.3)
    assert (enc.kind, enc.num_layers, enc.dim) == (vbpr.EncoderKind.XSIMGCL, 3, 8)
    assert isinstance(enc, vbpr.Encoder)
    # the XSimGCL reference code's defaults (vbpr/encoder.h), cl_tau as given
    assert enc.params() == pytest.approx({"noise_eps": 0.2, "cl_tau": 0.3,
                                          "cl_weight": 0.2, "cl_layer": 1})
    assert isinstance(enc.cl_layer, int)
    enc.cl_layer = 3
    enc.set("noise-eps", 0.5)                       # names as the library folds them
    enc.set(vbpr.EncoderParam.CL_WEIGHT, "0.05")    # text read by the library
    assert (enc.get("cl_layer"), enc.noise_eps, enc.cl_weight) == (3, 0.5, 0.05)
    with pytest.raises(vbpr.InvalidArgumentError, match="cl_layer"):
        enc.cl_layer = 4                            # above the encoder's layers
    with pytest.raises(vbpr.InvalidArgumentError, match="noise_eps"):
        enc.noise_eps = -1
    assert (enc.cl_layer, enc.noise_eps) == (3, 0.5)    # failed sets change nothing
    with pytest.raises(TypeError, match="unknown"):
        enc.set("cl_temperature", 1)
    b = vbpr.encoder.ENCODER_PARAMS.bounds(vbpr.EncoderParam.CL_TAU, vbpr.EncoderKind.XSIMGCL)
    assert (b.min, b.max, b.default) == (1e-4, 1e4, 0.15)
    text = vbpr.Encoder.describe("xsimgcl")
    assert "cl_tau: default 0.15" in text and "noise_eps" in text
    with pytest.raises(vbpr.InvalidArgumentError, match="cl_weight"):
        vbpr.XSimGCL(train, dim=8, cl_weight=-1)


@needs_mf
def test_parameters_of_another_kind():
    enc = vbpr.MF(4, 5, 3)
    assert enc.params() == {} and vbpr.Encoder.describe("mf") == ""
    with pytest.raises(vbpr.InvalidArgumentError, match="does not apply|XSimGCL|xsimgcl"):
        enc.cl_tau = 0.5
    with pytest.raises(vbpr.InvalidArgumentError):
        enc.get("noise_eps")


@needs_mf
def test_mf_extra_loss_is_zero(rng):
    enc = vbpr.MF(4, 5, 3)
    with pytest.raises(vbpr.StateError):
        enc.extra_loss()                            # no forward yet
    enc.forward(np.array([0, 1], np.int32), np.array([2, 3], np.int32))
    assert enc.extra_loss() == 0.0


@needs_xsimgcl
def test_extra_loss_and_its_gradient(small_data, rng):
    """Without noise the term is a function of the tables: backward after
    extra_loss() adds its gradient (a directional derivative against central
    differences), backward without it adds nothing."""
    train, _ = small_data
    ids = batch_ids(rng, train)
    zeros = lambda outs: [np.zeros_like(a) for a in outs]  # noqa: E731
    enc = vbpr.XSimGCL(train, dim=8, num_layers=2, seed=3, noise_eps=0.0, cl_weight=0.5)
    outs = enc.forward(*ids)
    term = enc.extra_loss()
    assert term > 0 and enc.extra_loss() == term     # a second call: the same term
    enc.backward(*zeros(outs))
    grads = [enc.table(t)[1].copy() for t in (vbpr.Table.USERS, vbpr.Table.ITEMS)]
    assert all(np.abs(g).max() > 0 for g in grads)
    enc.zero_grad()
    enc.forward(*ids)
    enc.backward(*zeros(outs))                       # no extra_loss(): batch only
    assert not enc.table(vbpr.Table.ITEMS)[1].any()
    with pytest.raises(vbpr.StateError):
        enc.extra_loss()                             # no forward since the backward
    h = 1e-3         # a step relative to the entries' size (float32 evaluations)
    for t, g in zip((vbpr.Table.USERS, vbpr.Table.ITEMS), grads):
        param = enc.table(t)[0]
        keep = param.copy()
        d = (np.abs(keep).mean() * rng.standard_normal(param.shape)).astype(np.float32)
        values = []
        for sign in (1, -1):
            param[:] = keep + sign * h * d
            enc.forward(*ids)
            values.append(enc.extra_loss())
            enc.zero_grad()
            enc.backward(*zeros(outs))
        param[:] = keep
        fd = (values[0] - values[1]) / (2 * h)
        assert float((g.astype(np.float64) * d).sum()) == pytest.approx(fd, rel=2e-3)
    enc.cl_weight = 0.0
    enc.forward(*ids)
    assert enc.extra_loss() == 0.0


@needs_xsimgcl
def test_trainer_with_xsimgcl(small_data):
    train, test = small_data
    tr = vbpr.Trainer(train, test, encoder="xsimgcl", layers=2, dim=8, cl_weight=0.1,
                      noise_eps=0.1, batch=128)
    enc = tr.encoder
    assert isinstance(enc, vbpr.XSimGCL) and enc.num_layers == 2
    assert (enc.cl_weight, tr.cl_weight, tr.get("encoder.noise_eps")) == (0.1, 0.1, 0.1)
    tr.cl_tau = 0.25                                 # routed to the encoder
    assert enc.cl_tau == 0.25
    assert np.isfinite(tr.epoch())
    with pytest.raises(vbpr.StateError):             # the trainer trains it
        enc.backward(np.zeros((1, 8), np.float32))
    pending = vbpr.Trainer(train, encoder="xsimgcl", cl_layer=1, prepare=False)
    assert pending.get("cl_layer") == 1              # given, waiting for prepare()
    pending.prepare()
    assert pending.encoder.cl_layer == 1
