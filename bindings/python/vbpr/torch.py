"""PyTorch interop: the C library's BPR and Variational BPR losses as
torch.nn.Modules with autograd support.

    import vbpr.torch
    criterion = vbpr.torch.VariationalBPRLoss(M=2, N=4)
    loss = criterion(u, pos, neg)      # u [B, d], pos [B, M, d], neg [B, N, d]
    loss.backward()                    # gradients for u, pos and neg

Inputs are CPU tensors of float32. Rules, all explicit:
  - Non-contiguous inputs are made contiguous with Tensor.contiguous() (a
    copy made by torch and tracked by autograd; contiguous inputs are used
    in place, without a copy).
  - float64 (or other floating) inputs raise TypeError, unless the module
    was built with cast=True: then they are converted to float32 with
    Tensor.float() (differentiably; gradients come back in the input dtype)
    and the computation is float32.
  - CUDA tensors raise TypeError (move them with .cpu()).
  - Log-priors are constants: a log-prior that requires grad raises
    ValueError rather than silently getting no gradient.
The forward computes the loss and, when any input needs a gradient, its
gradients at once (the library's fused call); backward scales them by the
incoming gradient. Double backward is not supported.

This module imports torch; `import vbpr` alone does not.
"""
import torch

from ._enums import Attention, Estimator, LossKind
from .loss import Loss

__all__ = ["VariationalBPRLoss", "BPRLoss", "LossFunction", "ScoreLossFunction"]


def _np(t):
    return None if t is None else t.detach().numpy()


def _from_np(a):
    return None if a is None else torch.from_numpy(a)


def _scaled(g, grad_out, needed):
    if not needed or g is None:
        return None
    return g if grad_out is None else g * grad_out


class LossFunction(torch.autograd.Function):
    """Embedding-level loss: apply(loss, user, pos, neg, log_prior_pos,
    log_prior_neg) with float32 contiguous CPU tensors (checked by the
    modules, which should be used instead)."""

    @staticmethod
    def forward(ctx, c_loss, user, pos, neg, lp_pos, lp_neg):
        u, p, n = _np(user), _np(pos), _np(neg)
        lpp, lpn = _np(lp_pos), _np(lp_neg)
        if any(ctx.needs_input_grad[1:4]):
            value, gu, gp, gn = c_loss.forward_backward(u, p, n, lpp, lpn)
            ctx.grads = (_from_np(gu), _from_np(gp), _from_np(gn))
        else:
            value = c_loss.forward(u, p, n, lpp, lpn)
            ctx.grads = (None, None, None)
        return torch.tensor(value, dtype=torch.float32)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        g = None if float(grad_out) == 1.0 else grad_out
        gu, gp, gn = ctx.grads
        need = ctx.needs_input_grad
        return (None, _scaled(gu, g, need[1]), _scaled(gp, g, need[2]),
                _scaled(gn, g, need[3]), None, None)


class ScoreLossFunction(torch.autograd.Function):
    """Score-level loss: apply(loss, pos_scores, neg_scores, log_prior_pos,
    log_prior_neg)."""

    @staticmethod
    def forward(ctx, c_loss, pos_scores, neg_scores, lp_pos, lp_neg):
        ps, ns = _np(pos_scores), _np(neg_scores)
        lpp, lpn = _np(lp_pos), _np(lp_neg)
        if any(ctx.needs_input_grad[1:3]):
            value, gp, gn = c_loss.forward_backward_scores(ps, ns, lpp, lpn)
            ctx.grads = (_from_np(gp), _from_np(gn))
        else:
            value = c_loss.forward_scores(ps, ns, lpp, lpn)
            ctx.grads = (None, None)
        return torch.tensor(value, dtype=torch.float32)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        g = None if float(grad_out) == 1.0 else grad_out
        gp, gn = ctx.grads
        need = ctx.needs_input_grad
        return None, _scaled(gp, g, need[1]), _scaled(gn, g, need[2]), None, None


class _CLossModule(torch.nn.Module):
    """Shared input handling of VariationalBPRLoss and BPRLoss."""

    def __init__(self, kind, cast, params):
        super().__init__()
        self.cast = bool(cast)
        self._kind = kind
        self._params = dict(params)
        self.loss = Loss(kind, **self._params)

    # the C handle is not copyable: a copy (copy.deepcopy, pickle) gets a new one
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("loss", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.loss = Loss(self._kind, **self._params)

    @property
    def M(self):
        return self.loss.M

    @property
    def N(self):
        return self.loss.N

    def _prep(self, t, name, shapes, prior=False):
        """t checked against the allowed shapes, as float32 contiguous."""
        if t is None:
            if prior:
                return None
            raise TypeError(f"{name} must be a tensor, got None")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.device.type != "cpu":
            raise TypeError(f"{name} is on {t.device}: the C loss runs on the CPU; "
                            f"move it with .cpu()")
        if tuple(t.shape) not in shapes:
            want = " or ".join(str(list(s)) for s in shapes)
            raise ValueError(f"{name} must have shape {want}, got {list(t.shape)}")
        if prior and t.requires_grad:
            raise ValueError(f"{name} requires grad, but log-priors are constants of "
                             f"the C loss (no gradient); pass {name}.detach()")
        if t.dtype != torch.float32:
            if not (self.cast and t.is_floating_point()):
                raise TypeError(f"{name} has dtype {t.dtype}; the C loss takes float32 "
                                f"(convert with .float(), or build the loss with "
                                f"cast=True)")
            t = t.float()
        return t.contiguous()

    def forward(self, user, pos, neg, log_prior_pos=None, log_prior_neg=None):
        """The mean loss over the B rows: user [B, d], pos [B, M, d], neg
        [B, N, d] (with M = 1, pos may be [B, d]; likewise neg); log-priors
        [B, M] and [B, N] or None. Returns a 0-dim float32 tensor."""
        if not isinstance(user, torch.Tensor):
            raise TypeError(f"user must be a torch.Tensor, got {type(user).__name__}")
        if user.dim() != 2:
            raise ValueError(f"user must have shape [B, d], got {list(user.shape)}")
        b, d = user.shape
        m, n = self.M, self.N
        items = lambda k: [(b, k, d)] + ([(b, d)] if k == 1 else [])  # noqa: E731
        u = self._prep(user, "user", [(b, d)])
        p = self._prep(pos, "pos", items(m))
        q = self._prep(neg, "neg", items(n))
        lpp = self._prep(log_prior_pos, "log_prior_pos", [(b, m)], prior=True)
        lpn = self._prep(log_prior_neg, "log_prior_neg", [(b, n)], prior=True)
        return LossFunction.apply(self.loss, u, p, q, lpp, lpn)

    def scores(self, pos_scores, neg_scores, log_prior_pos=None, log_prior_neg=None):
        """Score-level loss for a host's own similarity: pos_scores [B, M],
        neg_scores [B, N] (with M = 1 also [B]). Returns a 0-dim tensor."""
        if not isinstance(pos_scores, torch.Tensor):
            raise TypeError("pos_scores must be a torch.Tensor, got "
                            f"{type(pos_scores).__name__}")
        if pos_scores.dim() not in (1, 2):
            raise ValueError(f"pos_scores must have shape [B, M], got "
                             f"{list(pos_scores.shape)}")
        b = pos_scores.shape[0]
        m, n = self.M, self.N
        sc = lambda k: [(b, k)] + ([(b,)] if k == 1 else [])  # noqa: E731
        ps = self._prep(pos_scores, "pos_scores", sc(m))
        ns = self._prep(neg_scores, "neg_scores", sc(n))
        lpp = self._prep(log_prior_pos, "log_prior_pos", [(b, m)], prior=True)
        lpn = self._prep(log_prior_neg, "log_prior_neg", [(b, n)], prior=True)
        return ScoreLossFunction.apply(self.loss, ps, ns, lpp, lpn)

    def attention(self):
        """(alpha [B, M], beta [B, N]) of the last forward, as tensors."""
        a, b = self.loss.attention()
        return torch.from_numpy(a), torch.from_numpy(b)

    def extra_repr(self):
        return ", ".join(f"{k}={getattr(v, 'name', v)}" for k, v in self._params.items())


class VariationalBPRLoss(_CLossModule):
    """Variational BPR (vbpr_loss with VBPR_LOSS_VARIATIONAL).

    VariationalBPRLoss(M=2, N=4, c_pos=4.0, c_neg=4.0, estimator="prototype",
    neg_attention="hard", pos_hardness=0.0, neg_hardness=0.0,
    hardness_tau=0.5, cast=False): M and N are the C API's num_pos and
    num_neg; estimator is "prototype", "prototype_detached" or "elbo" (or an
    Estimator); neg_attention "hard" or "easy". See doc/loss.md.
    """

    def __init__(self, M=2, N=4, c_pos=4.0, c_neg=4.0, estimator=Estimator.PROTOTYPE,
                 neg_attention=Attention.HARD, pos_hardness=0.0, neg_hardness=0.0,
                 hardness_tau=0.5, cast=False):
        if isinstance(estimator, str):
            estimator = Estimator[estimator.upper()]
        if isinstance(neg_attention, str):
            neg_attention = Attention[neg_attention.upper()]
        super().__init__(LossKind.VARIATIONAL, cast, dict(
            num_pos=M, num_neg=N, c_pos=c_pos, c_neg=c_neg, estimator=estimator,
            neg_attention=neg_attention, pos_hardness=pos_hardness,
            neg_hardness=neg_hardness, hardness_tau=hardness_tau))


class BPRLoss(_CLossModule):
    """Classic BPR, softplus(-(<u, i> - <u, j>)) averaged over the rows.

    forward(user [B, d], pos [B, d] or [B, 1, d], neg [B, d] or [B, 1, d]).
    """

    def __init__(self, cast=False):
        super().__init__(LossKind.BPR, cast, {})
