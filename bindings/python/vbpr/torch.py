"""PyTorch interop: the library's BPR, Variational BPR and InfoNCE losses as
torch.nn.Modules with autograd support, on any device.

    import vbpr.torch
    criterion = vbpr.torch.VariationalBPRLoss(preset="reference-plugin")
    loss = criterion(u, pos, neg)      # u [B, d], pos [B, M, d], neg [B, N, d]
    loss = criterion(u, items)         # or items [B, M + N, d] in one tensor
    loss.backward()

Where the loss is computed (backend="auto"):
  - float32 CPU tensors go to the C kernels (vbpr_loss_forward_backward);
  - tensors on any other device (CUDA, MPS, meta, ...) go through the same
    mathematics written in torch operations (vbpr/_torch_math.py), on that
    device, with no host round trip;
  - an empty batch (B = 0) gives nan, as torch's own losses do.
backend="c" insists on the C kernels (other devices raise TypeError),
backend="torch" forces the torch operations on every device.

Rules of the C path, all explicit:
  - Non-contiguous inputs are made contiguous with Tensor.contiguous() (a
    copy made by torch and tracked by autograd; contiguous inputs are used
    in place). A combined items tensor [B, M + N, d] is not sliced in
    autograd: it is staged into the module's reused buffers for the C
    kernel, and its gradient comes back in one tensor.
  - Other floating dtypes raise TypeError unless cast=True (then
    Tensor.float(), differentiably) or backend="torch".
  - NaN or infinite inputs raise vbpr.NumericError (the torch path lets them
    propagate: checking would read the device).
Both paths: log-priors are constants (one that requires grad raises
ValueError); double backward (torch.autograd.grad(..., create_graph=True))
is supported: the gradient of the C path is then computed again through the
torch form, so it carries a graph.

The module's configuration lives in one place, its C loss object
(criterion.loss, a vbpr.Loss): repr(), copies, pickling and state_dict()
read it from there, so `criterion.loss.c_neg = 0.1` is kept everywhere.
torch.jit.script(criterion) gives a TorchScript module computing the same
loss with the torch operations (the C kernel is not TorchScript), with the
configuration the criterion had when scripted.

This module imports torch; `import vbpr` alone does not.
"""
import math
from typing import Optional

import numpy as np
import torch

from . import _torch_math as tm
from ._enums import Estimator, LossKind, LossParam
from ._errors import InvalidArgumentError, UnsupportedError
from .loss import LOSS_PARAMS, Loss

__all__ = ["VariationalBPRLoss", "BPRLoss", "InfoNCELoss", "LossFunction",
           "ItemsLossFunction", "ScoreLossFunction", "has_c_kind", "functional"]

functional = tm
_BACKENDS = ("auto", "c", "torch")


def has_c_kind(kind):
    """True when the loaded library implements loss kind (vbpr_loss_create
    succeeds), e.g. LossKind.INFONCE once the library has it."""
    try:
        Loss(kind).close()
        return True
    except InvalidArgumentError:
        return False


# ---- configuration: one source of truth -----------------------------------------

class _PyLossConfig:
    """The configuration of a loss kind the loaded library does not have yet
    (InfoNCE before the C kind exists): the torch path computes it, and
    this object holds num_pos, num_neg and temperature with the checks the
    mathematics needs. When the library has the kind, a vbpr.Loss holds the
    configuration instead, with the library's bounds and defaults."""

    def __init__(self, kind):
        self.kind = LossKind(kind)
        neg = LOSS_PARAMS.bounds(LossParam.NUM_NEG, LossKind.VARIATIONAL)
        # Until libvbpr has the kind: N defaults as the Variational loss's,
        # temperature 0.2 (a usual InfoNCE value, as in XSimGCL).
        self._values = {"num_pos": 1, "num_neg": int(neg.default), "temperature": 0.2}
        self._max_neg = int(neg.max)
        self._version = 0

    @staticmethod
    def _key(name):
        # The library does not know this kind's names yet: the enum's, folded
        # as the library folds them.
        if not isinstance(name, str):
            name = LossParam(int(name)).name
        return name.lower().replace("-", "_")

    def get(self, name):
        name = self._key(name)
        if name not in self._values:
            raise InvalidArgumentError(f"{name} is not a parameter of an "
                                       f"{self.kind.name} loss", -1)
        return self._values[name]

    def set(self, name, value):
        name = self._key(name)
        value = float(value)
        if name == "num_neg" and not (value == int(value) and 1 <= value <= self._max_neg):
            raise InvalidArgumentError(f"num_neg must be an integer in [1, "
                                       f"{self._max_neg}], got {value:g}", -1)
        if name == "num_pos" and value != 1:
            raise InvalidArgumentError(f"num_pos must be 1 for {self.kind.name}, got "
                                       f"{value:g}", -1)
        if name == "temperature" and not (math.isfinite(value) and value > 0):
            raise InvalidArgumentError(f"temperature must be finite and > 0, got {value:g}",
                                       -1)
        if name not in self._values:
            raise InvalidArgumentError(f"{name} is not a parameter of an "
                                       f"{self.kind.name} loss", -1)
        self._values[name] = int(value) if name != "temperature" else value
        self._version += 1
        return self

    def set_params(self, **params):
        for k, v in params.items():
            if v is not None:
                self.set(k, v)
        return self

    def params(self):
        return dict(self._values)

    @property
    def num_pos(self):
        return self._values["num_pos"]

    @property
    def num_neg(self):
        return self._values["num_neg"]


def _plain(v):
    """A parameter value as a plain Python number (for state_dict)."""
    return int(v) if isinstance(v, int) else float(v)


# ---- the C path as autograd Functions -------------------------------------------

def _np(t):
    return None if t is None else t.detach().numpy()


def _from_np(a):
    return None if a is None else torch.from_numpy(a)


def _scaled(g, grad_out, needed):
    if not needed or g is None:
        return None
    return g if grad_out is None else g * grad_out


def _graph_grads(ctx, grad_out, torch_form, n_inputs):
    """Gradients with a graph (double backward): the same loss through the
    torch form, differentiated by autograd with create_graph=True."""
    saved = ctx.saved_tensors
    inputs, rest = saved[:n_inputs], saved[n_inputs:]
    need = ctx.needs_input_grad[1:1 + n_inputs]
    wanted = [t for t, n in zip(inputs, need) if n]
    with torch.enable_grad():
        value = torch_form(*inputs, *rest)
        got = iter(torch.autograd.grad(value, wanted, grad_out, create_graph=True))
    return tuple(next(got) if n else None for n in need)


class LossFunction(torch.autograd.Function):
    """Embedding-level C loss: apply(module, user, pos, neg, log_prior_pos,
    log_prior_neg) with float32 contiguous CPU tensors (checked by the
    modules, which should be used instead)."""

    @staticmethod
    def forward(ctx, mod, user, pos, neg, lp_pos, lp_neg):
        c_loss = mod.loss
        u, p, n = _np(user), _np(pos), _np(neg)
        lpp, lpn = _np(lp_pos), _np(lp_neg)
        if any(ctx.needs_input_grad[1:4]):
            value, gu, gp, gn = c_loss.forward_backward(u, p, n, lpp, lpn)
            ctx.grads = (_from_np(gu), _from_np(gp), _from_np(gn))
        else:
            value = c_loss.forward(u, p, n, lpp, lpn)
            ctx.grads = (None, None, None)
        ctx.torch_form = mod._torch_embedding_form()
        ctx.save_for_backward(user, pos, neg, lp_pos, lp_neg)
        mod._last = "c"
        return torch.tensor(value, dtype=torch.float32)

    @staticmethod
    def backward(ctx, grad_out):
        if torch.is_grad_enabled():       # create_graph=True
            return (None,) + _graph_grads(ctx, grad_out, ctx.torch_form, 3) + (None, None)
        g = None if float(grad_out) == 1.0 else grad_out
        gu, gp, gn = ctx.grads
        need = ctx.needs_input_grad
        return (None, _scaled(gu, g, need[1]), _scaled(gp, g, need[2]),
                _scaled(gn, g, need[3]), None, None)


class ItemsLossFunction(torch.autograd.Function):
    """Embedding-level C loss on one items tensor: apply(module, user, items
    [B, M + N, d], log_prior_pos, log_prior_neg). The items are staged into
    the module's reused positive and negative buffers (the C kernel takes
    each side contiguous) outside autograd, which costs one pass over them
    and far less than slicing them in autograd; the gradient comes back as
    one [B, M + N, d] tensor."""

    @staticmethod
    def forward(ctx, mod, user, items, lp_pos, lp_neg):
        c_loss = mod.loss
        u, it = _np(user), _np(items)
        m = mod.num_pos
        p_buf, n_buf, gp_buf, gn_buf = mod._staging(it.shape[0], m, it.shape[1] - m,
                                                    it.shape[2])
        np.copyto(p_buf, it[:, :m])
        np.copyto(n_buf, it[:, m:])
        lpp, lpn = _np(lp_pos), _np(lp_neg)
        if any(ctx.needs_input_grad[1:3]):
            value, gu, _, _ = c_loss.forward_backward(u, p_buf, n_buf, lpp, lpn,
                                                      out=(None, gp_buf, gn_buf))
            gi = np.empty_like(it)
            gi[:, :m] = gp_buf
            gi[:, m:] = gn_buf
            ctx.grads = (_from_np(gu), _from_np(gi))
        else:
            value = c_loss.forward(u, p_buf, n_buf, lpp, lpn)
            ctx.grads = (None, None)
        ctx.torch_form = mod._torch_items_form()
        ctx.save_for_backward(user, items, lp_pos, lp_neg)
        mod._last = "c"
        return torch.tensor(value, dtype=torch.float32)

    @staticmethod
    def backward(ctx, grad_out):
        if torch.is_grad_enabled():       # create_graph=True
            return (None,) + _graph_grads(ctx, grad_out, ctx.torch_form, 2) + (None, None)
        g = None if float(grad_out) == 1.0 else grad_out
        gu, gi = ctx.grads
        need = ctx.needs_input_grad
        return None, _scaled(gu, g, need[1]), _scaled(gi, g, need[2]), None, None


class ScoreLossFunction(torch.autograd.Function):
    """Score-level C loss: apply(module, pos_scores, neg_scores,
    log_prior_pos, log_prior_neg), or with neg_scores None, pos_scores the
    combined [B, M + N] scores (gradient in the same layout)."""

    @staticmethod
    def forward(ctx, mod, pos_scores, neg_scores, lp_pos, lp_neg):
        c_loss = mod.loss
        combined = neg_scores is None
        if combined:
            s = _np(pos_scores)
            m = mod.num_pos
            ps, ns = s[:, :m].copy(), s[:, m:].copy()      # [B, M+N] floats only
        else:
            ps, ns = _np(pos_scores), _np(neg_scores)
        lpp, lpn = _np(lp_pos), _np(lp_neg)
        if any(ctx.needs_input_grad[1:3]):
            value, gp, gn = c_loss.forward_backward_scores(ps, ns, lpp, lpn)
            if combined:
                gp = torch.cat([_from_np(gp).reshape(len(gp), -1),
                                _from_np(gn).reshape(len(gn), -1)], 1).reshape(s.shape)
                ctx.grads = (gp, None)
            else:
                ctx.grads = (_from_np(gp), _from_np(gn))
        else:
            value = c_loss.forward_scores(ps, ns, lpp, lpn)
            ctx.grads = (None, None)
        ctx.torch_form = mod._torch_score_form(combined)
        ctx.save_for_backward(pos_scores, neg_scores, lp_pos, lp_neg)
        mod._last = "c"
        return torch.tensor(value, dtype=torch.float32)

    @staticmethod
    def backward(ctx, grad_out):
        if torch.is_grad_enabled():       # create_graph=True
            return (None,) + _graph_grads(ctx, grad_out, ctx.torch_form, 2) + (None, None)
        g = None if float(grad_out) == 1.0 else grad_out
        gp, gn = ctx.grads
        need = ctx.needs_input_grad
        return None, _scaled(gp, g, need[1]), _scaled(gn, g, need[2]), None, None


# ---- the modules ----------------------------------------------------------------

def _tensor(t, name):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    return t


def _shape_check(t, name, shapes, hint=""):
    if tuple(t.shape) not in shapes:
        want = " or ".join(str(list(s)) for s in shapes)
        raise ValueError(f"{name} must have shape {want}, got {list(t.shape)}{hint}")


class _LossModule(torch.nn.Module):
    """Input handling, dispatch and state shared by the loss modules."""

    _loss_kind = None

    def __init__(self, params, preset=None, cast=False, backend="auto"):
        super().__init__()
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got "
                             f"{backend!r}")
        self.cast = bool(cast)
        self.backend = backend
        self._last = None
        self._last_attention = None
        self._cfg_cache = (None, None)
        self._staging_buffers = None
        self._make_store(preset, params)

    def _make_store(self, preset=None, params=None, state=None):
        """The one holder of the configuration: a vbpr.Loss, or for a kind the
        library lacks a _PyLossConfig."""
        kind = self._loss_kind
        if has_c_kind(kind):
            store = Loss(kind, preset=preset)
        else:
            if preset is not None:
                raise InvalidArgumentError(f"presets configure a Variational loss, "
                                           f"not {kind.name}", -1)
            store = _PyLossConfig(kind)
        if state is not None:
            store.set_params(**state)
        if params:
            store.set_params(**params)
        self.loss = store if isinstance(store, Loss) else None
        self._store = store

    # ---- configuration ------------------------------------------------------

    def config(self):
        """{name: value} of the loss parameters (read from criterion.loss)."""
        store = self._store
        key = (id(store), store._version)
        if self._cfg_cache[0] != key:
            self._cfg_cache = (key, store.params())
        return self._cfg_cache[1]

    @property
    def num_pos(self):
        """M, positives per row (the loss's num_pos)."""
        return self.config()["num_pos"]

    @property
    def num_neg(self):
        """N, negatives per row (the loss's num_neg)."""
        return self.config()["num_neg"]

    M, N = num_pos, num_neg

    def extra_repr(self):
        parts = []
        for k, v in self.config().items():
            parts.append(f"{k}={v.name.lower() if hasattr(v, 'name') else v}")
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        if self.cast:
            parts.append("cast=True")
        return ", ".join(parts)

    def get_extra_state(self):
        """The loss configuration, so that state_dict() and checkpoints
        record it (plain numbers, loadable with weights_only)."""
        return {"kind": int(self._loss_kind),
                "params": {k: _plain(v) for k, v in self.config().items()}}

    def set_extra_state(self, state):
        if int(state.get("kind", -1)) != int(self._loss_kind):
            raise ValueError(f"the state is that of loss kind {state.get('kind')}, not "
                             f"{self._loss_kind.name} ({int(self._loss_kind)})")
        self._store.set_params(**state["params"])

    def __getstate__(self):
        # The C handle is not copyable: a copy (copy.deepcopy, pickle,
        # torch.save) carries the configuration and builds its own.
        state = self.__dict__.copy()
        state.pop("loss", None)
        state.pop("_store", None)
        state["_cfg_cache"] = (None, None)
        state["_last_attention"] = None
        state["_staging_buffers"] = None
        state["_loss_config"] = {k: _plain(v) for k, v in self.config().items()}
        return state

    def __setstate__(self, state):
        config = state.pop("_loss_config")
        super().__setstate__(state)
        self._make_store(state=config)

    def __prepare_scriptable__(self):
        """torch.jit.script(criterion): a TorchScript module computing this
        loss with the torch operations, with the configuration of now."""
        return _ScriptedLoss(int(self._loss_kind), self.config())

    # ---- dispatch -----------------------------------------------------------

    def _use_c(self, ref, batch):
        """True for the C kernel, False for the torch operations."""
        if self.backend == "torch" or batch == 0:
            return False
        on_cpu = ref.device.type == "cpu"
        if self.loss is None:
            if self.backend == "c":
                raise UnsupportedError(f"the libvbpr loaded has no {self._loss_kind.name} "
                                       f"loss kind; use backend='torch' or 'auto'", -7)
            return False
        if not on_cpu:
            if self.backend == "c":
                raise TypeError(f"backend='c' runs on the CPU, but the inputs are on "
                                f"{ref.device}; use backend='auto' or 'torch'")
            return False
        return True

    def _prep(self, t, name, shapes, prior, use_c, device, hint=""):
        """t checked: shape, device, dtype; for the C path float32 and
        contiguous."""
        if t is None:
            if prior:
                return None
            raise TypeError(f"{name} must be a tensor, got None")
        _tensor(t, name)
        _shape_check(t, name, shapes, hint)
        if t.device != device:
            raise ValueError(f"{name} is on {t.device}, the other inputs on {device}")
        if prior and t.requires_grad:
            raise ValueError(f"{name} requires grad, but log-priors are constants of the "
                             f"loss (no gradient); pass {name}.detach()")
        if not t.is_floating_point():
            raise TypeError(f"{name} has dtype {t.dtype}; the loss takes floating tensors")
        if not use_c:
            return t
        if t.dtype != torch.float32:
            if not self.cast:
                raise TypeError(f"{name} has dtype {t.dtype}; the C loss takes float32 "
                                f"(convert with .float(), build the loss with cast=True, "
                                f"or use backend='torch')")
            t = t.float()
        return t.contiguous()

    def _embedding_inputs(self, user, pos, neg, log_prior_pos, log_prior_neg, log_prior):
        """(use_c, combined, user, pos, neg, lpp, lpn) checked."""
        _tensor(user, "user")
        if user.dim() != 2:
            raise ValueError(f"user must have shape [B, d], got {list(user.shape)}")
        b, d = user.shape
        m, n = self.num_pos, self.num_neg
        combined = neg is None
        use_c = self._use_c(user, b)
        dev = user.device
        u = self._prep(user, "user", [(b, d)], False, use_c, dev)
        if combined:
            p = self._prep(_tensor(pos, "items"), "items", [(b, m + n, d)], False, use_c,
                           dev)
            q = None
        else:
            items = lambda k: [(b, k, d)] + ([(b, d)] if k == 1 else [])  # noqa: E731
            hint = ""
            if isinstance(pos, torch.Tensor) and pos.dim() == 3 and pos.shape[1] == m + n:
                hint = (f" (for one items tensor [B, M + N, d] call criterion(user, items) "
                        f"and give log-priors by keyword)")
            p = self._prep(pos, "pos", items(m), False, use_c, dev, hint)
            q = self._prep(neg, "neg", items(n), False, use_c, dev)
        lpp, lpn = self._priors(b, m, n, log_prior_pos, log_prior_neg, log_prior, use_c, dev)
        return use_c, combined, u, p, q, lpp, lpn

    def _priors(self, b, m, n, log_prior_pos, log_prior_neg, log_prior, use_c, dev):
        if log_prior is not None:
            if log_prior_pos is not None or log_prior_neg is not None:
                raise TypeError("give log_prior (combined) or log_prior_pos and "
                                "log_prior_neg, not both")
            lp = self._prep(log_prior, "log_prior", [(b, m + n)], True, use_c, dev)
            return lp[:, :m].contiguous(), lp[:, m:].contiguous()
        return (self._prep(log_prior_pos, "log_prior_pos", [(b, m)], True, use_c, dev),
                self._prep(log_prior_neg, "log_prior_neg", [(b, n)], True, use_c, dev))

    def forward(self, user, pos, neg=None, log_prior_pos=None, log_prior_neg=None, *,
                log_prior=None):
        """The mean loss over the B rows, a 0-dim tensor.

        criterion(user, pos, neg): user [B, d], pos [B, M, d], neg [B, N, d]
        (with M = 1, pos may be [B, d]; likewise neg).
        criterion(user, items): items [B, M + N, d], positives first, as a
        host gathers them at once (not copied).
        log_prior_pos [B, M] and log_prior_neg [B, N], or log_prior
        [B, M + N], constants; None for none."""
        use_c, combined, u, p, q, lpp, lpn = self._embedding_inputs(
            user, pos, neg, log_prior_pos, log_prior_neg, log_prior)
        if use_c and not combined:
            return LossFunction.apply(self, u, p, q, lpp, lpn)
        if use_c:
            return ItemsLossFunction.apply(self, u, p, lpp, lpn)
        m = self.num_pos
        if combined:
            s = tm.scores(u, p)
            sp, sn = s[:, :m], s[:, m:]
        else:
            sp = tm.scores(u, p if p.dim() == 3 else p.unsqueeze(1))
            sn = tm.scores(u, q if q.dim() == 3 else q.unsqueeze(1))
        return self._torch_loss(sp, sn, lpp, lpn)

    def scores(self, pos_scores, neg_scores=None, log_prior_pos=None, log_prior_neg=None,
               *, log_prior=None):
        """Score-level loss for a host's own similarity: pos_scores [B, M],
        neg_scores [B, N] (with M = 1 also [B]), or one combined scores
        tensor [B, M + N]. Returns a 0-dim tensor."""
        _tensor(pos_scores, "pos_scores")
        if pos_scores.dim() not in (1, 2):
            raise ValueError(f"pos_scores must have shape [B, M], got "
                             f"{list(pos_scores.shape)}")
        b = pos_scores.shape[0]
        m, n = self.num_pos, self.num_neg
        use_c = self._use_c(pos_scores, b)
        dev = pos_scores.device
        combined = neg_scores is None
        if combined:
            ps = self._prep(pos_scores, "scores", [(b, m + n)], False, use_c, dev)
            ns = None
        else:
            sc = lambda k: [(b, k)] + ([(b,)] if k == 1 else [])  # noqa: E731
            ps = self._prep(pos_scores, "pos_scores", sc(m), False, use_c, dev)
            ns = self._prep(neg_scores, "neg_scores", sc(n), False, use_c, dev)
        lpp, lpn = self._priors(b, m, n, log_prior_pos, log_prior_neg, log_prior, use_c, dev)
        if use_c:
            return ScoreLossFunction.apply(self, ps, ns, lpp, lpn)
        if combined:
            return self._torch_loss(ps[:, :m], ps[:, m:], lpp, lpn)
        return self._torch_loss(ps.reshape(b, -1), ns.reshape(b, -1), lpp, lpn)

    # ---- the torch forms ------------------------------------------------------

    def _torch_loss(self, sp, sn, lpp, lpn):
        value, attention = _torch_loss(int(self._loss_kind), self.config(), sp, sn, lpp, lpn)
        self._last, self._last_attention = "torch", attention
        return value

    def _torch_embedding_form(self):
        """f(user, pos, neg, lpp, lpn) -> loss in torch operations, with the
        configuration of now (for double backward of the C path)."""
        kind, cfg = int(self._loss_kind), dict(self.config())

        def form(u, p, q, lpp, lpn):
            sp = tm.scores(u, p if p.dim() == 3 else p.unsqueeze(1))
            sn = tm.scores(u, q if q.dim() == 3 else q.unsqueeze(1))
            return _torch_loss(kind, cfg, sp, sn, lpp, lpn)[0]
        return form

    def _torch_items_form(self):
        kind, cfg = int(self._loss_kind), dict(self.config())
        m = cfg["num_pos"]

        def form(u, items, lpp, lpn):
            s = tm.scores(u, items)
            return _torch_loss(kind, cfg, s[:, :m], s[:, m:], lpp, lpn)[0]
        return form

    def _staging(self, b, m, n, d):
        """Reused float32 buffers (pos, neg, grad_pos, grad_neg) for b rows,
        grown when needed (views of the first b rows)."""
        have = self._staging_buffers
        if have is None or have[0].shape[1:] != (m, d) or have[1].shape[1:] != (n, d) \
                or have[0].shape[0] < b:
            have = tuple(np.empty((b, k, d), np.float32) for k in (m, n, m, n))
            self._staging_buffers = have
        return tuple(a[:b] for a in have)

    def _torch_score_form(self, combined):
        kind, cfg = int(self._loss_kind), dict(self.config())
        m = cfg["num_pos"]

        def form(ps, ns, lpp, lpn):
            if combined:
                ps, ns = ps[:, :m], ps[:, m:]
            b = ps.shape[0]
            return _torch_loss(kind, cfg, ps.reshape(b, -1), ns.reshape(b, -1), lpp, lpn)[0]
        return form


def _torch_loss(kind, cfg, sp, sn, lpp, lpn):
    """(loss, (alpha, beta) or None) of a loss kind in torch operations."""
    if kind == LossKind.VARIATIONAL:
        value, alpha, beta = tm.variational_loss(
            sp, sn, lpp, lpn, float(cfg["c_pos"]), float(cfg["c_neg"]),
            int(cfg["estimator"]), int(cfg["neg_attention"]), float(cfg["pos_hardness"]),
            float(cfg["neg_hardness"]), float(cfg["hardness_tau"]))
        return value, (alpha, beta)
    if lpp is not None or lpn is not None:
        raise ValueError(f"log-priors apply to the Variational loss, not to "
                         f"{LossKind(kind).name}")
    if kind == LossKind.BPR:
        ones = torch.ones_like(sp.detach())
        return tm.bpr_loss(sp, sn), (ones, ones)
    return tm.infonce_loss(sp, sn, float(cfg["temperature"])), None


class _ScriptedLoss(torch.nn.Module):
    """What torch.jit.script(criterion) compiles: the loss in torch
    operations with a fixed configuration (embedding level; items [B, K, d]
    or, with K = 1, [B, d]; neg None for a combined items tensor)."""

    def __init__(self, kind: int, cfg):
        super().__init__()
        self.kind = kind
        self.num_pos = int(cfg["num_pos"])
        self.c_pos = float(cfg.get("c_pos", 1.0))
        self.c_neg = float(cfg.get("c_neg", 1.0))
        self.estimator = int(cfg.get("estimator", Estimator.PROTOTYPE))
        self.sign = int(cfg.get("neg_attention", 1))
        self.pos_hardness = float(cfg.get("pos_hardness", 0.0))
        self.neg_hardness = float(cfg.get("neg_hardness", 0.0))
        self.tau = float(cfg.get("hardness_tau", 1.0))
        self.temperature = float(cfg.get("temperature", 1.0))

    def forward(self, user: torch.Tensor, pos: torch.Tensor,
                neg: Optional[torch.Tensor] = None,
                log_prior_pos: Optional[torch.Tensor] = None,
                log_prior_neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        if neg is None:
            s = tm.scores(user, pos)
            sp, sn = s[:, :self.num_pos], s[:, self.num_pos:]
        else:
            sp = tm.scores(user, pos if pos.dim() == 3 else pos.unsqueeze(1))
            sn = tm.scores(user, neg if neg.dim() == 3 else neg.unsqueeze(1))
        if self.kind == 2:
            return tm.variational_loss(sp, sn, log_prior_pos, log_prior_neg, self.c_pos,
                                       self.c_neg, self.estimator, self.sign,
                                       self.pos_hardness, self.neg_hardness, self.tau)[0]
        if self.kind == 1:
            return tm.bpr_loss(sp, sn)
        return tm.infonce_loss(sp, sn, self.temperature)


class VariationalBPRLoss(_LossModule):
    """Variational BPR (vbpr_loss of kind VBPR_LOSS_VARIATIONAL).

    VariationalBPRLoss(M=None, N=None, c_pos=None, c_neg=None, estimator=None,
    neg_attention=None, pos_hardness=None, neg_hardness=None,
    hardness_tau=None, cast=False, *, num_pos=None, num_neg=None,
    preset=None, backend="auto", **params).

    None keeps the library's value: its default, or the preset's. M and N
    are the library's num_pos and num_neg (either name). preset is one of
    vbpr.loss_presets() ("paper", "reference-plugin", "reference-exact",
    "best"), applied first; the other arguments then override it.
    estimator: "prototype", "prototype_detached" (the reference code's
    "plugin"), "elbo" ("exact"), or an Estimator; neg_attention "hard" or
    "easy". Value names are read by the library, whose error lists the
    valid ones. **params: any other parameter of the loss by its library
    name. See doc/python.md and doc/loss.md.
    """

    _loss_kind = LossKind.VARIATIONAL

    def __init__(self, M=None, N=None, c_pos=None, c_neg=None, estimator=None,
                 neg_attention=None, pos_hardness=None, neg_hardness=None,
                 hardness_tau=None, cast=False, *, num_pos=None, num_neg=None, preset=None,
                 backend="auto", **params):
        params.update(num_pos=_either("M", M, "num_pos", num_pos),
                      num_neg=_either("N", N, "num_neg", num_neg), c_pos=c_pos, c_neg=c_neg,
                      estimator=estimator, neg_attention=neg_attention,
                      pos_hardness=pos_hardness, neg_hardness=neg_hardness,
                      hardness_tau=hardness_tau)
        super().__init__(params, preset=preset, cast=cast, backend=backend)

    def attention(self):
        """(alpha [B, M], beta [B, N]) of the last forward, as tensors."""
        if self._last == "torch":
            return self._last_attention
        a, b = self.loss.attention()
        return torch.from_numpy(a), torch.from_numpy(b)


class BPRLoss(_LossModule):
    """Classic BPR, softplus(-(<u, i> - <u, j>)) averaged over the rows.

    forward(user [B, d], pos [B, d] or [B, 1, d], neg [B, d] or [B, 1, d]),
    or forward(user, items [B, 2, d]). backend as for VariationalBPRLoss.
    """

    _loss_kind = LossKind.BPR

    def __init__(self, cast=False, *, backend="auto"):
        super().__init__({}, cast=cast, backend=backend)


class InfoNCELoss(_LossModule):
    """InfoNCE (sampled softmax): -log softmax([s+, s-_1..s-_N] /
    temperature)_0 averaged over the rows, one positive per row.

    InfoNCELoss(N=None, temperature=None, cast=False, *, num_neg=None,
    backend="auto"). When the loaded library has the InfoNCE loss kind
    (vbpr.torch.has_c_kind(vbpr.LossKind.INFONCE)), CPU tensors go to its C
    kernel and its bounds and defaults apply; otherwise every device uses
    the torch operations. Log-priors do not apply.
    """

    _loss_kind = LossKind.INFONCE

    def __init__(self, N=None, temperature=None, cast=False, *, num_neg=None,
                 backend="auto"):
        super().__init__({"num_neg": _either("N", N, "num_neg", num_neg),
                          "temperature": temperature}, cast=cast, backend=backend)


def _either(short, a, long, b):
    if a is not None and b is not None and a != b:
        raise TypeError(f"{short}={a} and {long}={b} disagree (they are one parameter)")
    return a if a is not None else b
