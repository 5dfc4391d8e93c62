"""The losses of vbpr/loss.h written in torch operations, for tensors the C
kernels cannot take (CUDA, MPS, meta, ...), for double backward, and for
TorchScript. The mathematics is that of doc/loss.md and
lib/loss/loss_kernel.c:

  alpha = softmax_m(s+_m / c_pos + lp+_m + lambda_pos * hardness+_m)
  beta  = softmax_n(g s-_n / c_neg + lp-_n + lambda_neg * hardness-_n)
  hardness+ = log softmax(-s+ / tau),  hardness- = log softmax(s- / tau)
              (constants in backward, as in C and the reference code)
  PROTOTYPE:  softplus(-(sum alpha s+ - sum beta s-)), gradients through
              alpha and beta
  PROTOTYPE_DETACHED: the same value, alpha and beta constants
  ELBO:       sum_mn alpha_m beta_n softplus(-(s+_m - s-_n)), alpha and beta
              constants
  BPR:        softplus(-(s+ - s-))
  InfoNCE:    -log softmax([s+, s-_1 .. s-_N] / temperature)_0

each averaged over the rows (an empty batch gives nan, as torch's losses).
Autograd differentiates these expressions, which gives the gradients of the
C kernels (tests/test_torch.py compares them). Every function is
TorchScript-compatible and makes no host round trip: no value is read back
from the device, so they run on any device, `meta` included.

The per-row arithmetic on the M + N scores runs in at least float32 (the C
kernel uses double); half-precision inputs are promoted for it and the loss
comes back in the input's dtype.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["scores", "variational_loss", "bpr_loss", "infonce_loss"]


def scores(user: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Inner products <u_b, i_bk>: user [B, d], items [B, K, d] -> [B, K]."""
    return torch.bmm(items, user.unsqueeze(2)).squeeze(2)


def _work_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def variational_loss(sp: torch.Tensor, sn: torch.Tensor, lpp: Optional[torch.Tensor],
                     lpn: Optional[torch.Tensor], c_pos: float, c_neg: float,
                     estimator: int, sign: int, pos_hardness: float, neg_hardness: float,
                     tau: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(batch loss, alpha [B, M], beta [B, N]) from positive scores sp
    [B, M], negative scores sn [B, N] and log-priors (or None); estimator a
    vbpr_estimator value, sign the vbpr_attention value (+1 hard, -1 easy)."""
    out_dtype = sp.dtype
    wd = _work_dtype(sp)
    sp, sn = sp.to(wd), sn.to(wd)
    zp = sp / c_pos
    zn = sn * (float(sign) / c_neg)
    if lpp is not None:
        zp = zp + lpp.to(wd)
    if lpn is not None:
        zn = zn + lpn.to(wd)
    if pos_hardness > 0.0:
        zp = zp + pos_hardness * F.log_softmax(sp.detach() * (-1.0 / tau), dim=1)
    if neg_hardness > 0.0:
        zn = zn + neg_hardness * F.log_softmax(sn.detach() * (1.0 / tau), dim=1)
    alpha = torch.softmax(zp, dim=1)
    beta = torch.softmax(zn, dim=1)
    # vbpr_estimator values as literals (TorchScript reads no module globals):
    # 1 PROTOTYPE, 2 PROTOTYPE_DETACHED, 3 ELBO
    if estimator != 1:
        alpha, beta = alpha.detach(), beta.detach()
    if estimator == 3:
        margin = sn.unsqueeze(1) - sp.unsqueeze(2)                  # [B, M, N]: -(s+ - s-)
        rows = (alpha.unsqueeze(2) * beta.unsqueeze(1) * F.softplus(margin)).sum((1, 2))
    else:
        rows = F.softplus((beta * sn).sum(1) - (alpha * sp).sum(1))
    return rows.mean().to(out_dtype), alpha.detach(), beta.detach()


def bpr_loss(sp: torch.Tensor, sn: torch.Tensor) -> torch.Tensor:
    """softplus(-(s+ - s-)) averaged over the rows; sp, sn [B, 1] or [B]."""
    out_dtype = sp.dtype
    wd = _work_dtype(sp)
    return F.softplus(sn.to(wd) - sp.to(wd)).mean().to(out_dtype)


def infonce_loss(sp: torch.Tensor, sn: torch.Tensor, temperature: float) -> torch.Tensor:
    """-log softmax([s+, s-_1..s-_N] / temperature)_0 averaged over the rows;
    sp [B, 1] (or [B]), sn [B, N]."""
    out_dtype = sp.dtype
    wd = _work_dtype(sp)
    logits = torch.cat([sp.to(wd).reshape(sp.shape[0], 1), sn.to(wd)], dim=1) / temperature
    rows = torch.logsumexp(logits, dim=1) - logits[:, 0]
    return rows.mean().to(out_dtype)
