"""The loss object: BPR and Variational BPR, forward and backward
(vbpr/loss.h). Arrays are used in place: float32, C-contiguous, of the
shapes below; anything else raises TypeError or ValueError."""
import ctypes

import numpy as np

from ._enums import Attention, Estimator, LossKind, LossParam, TrainerParam
from ._handle import Handle, check_array, out_array
from ._lib import Loss as _LossP, lib
from ._params import ParamSpace, configurable

__all__ = ["Loss", "LOSS_PARAMS", "loss_presets", "loss_kind", "preset_prior_weights",
           "item_log_priors"]

_F32 = np.float32

#: The loss's parameters, as the library names and bounds them.
LOSS_PARAMS = ParamSpace("loss", LossParam, kinded=True,
                         values={LossParam.ESTIMATOR: Estimator,
                                 LossParam.NEG_ATTENTION: Attention})


def loss_presets():
    """The names of the library's loss presets (vbpr_loss_preset_name), e.g.
    ["paper", "reference-plugin", "reference-exact", "best"]."""
    return [lib.vbpr_loss_preset_name(i).decode()
            for i in range(lib.vbpr_loss_preset_count())]


def preset_prior_weights(name):
    """The item-prior weights (a1, a2, b1, b2) that go with a preset
    (vbpr_loss_preset_prior_weights): a1 log rarity + a2 log good in the
    positive log-prior, b1 log popularity + b2 log bad in the negative one.
    All zero for a preset measured without priors."""
    w = [ctypes.c_double() for _ in range(4)]
    lib.vbpr_loss_preset_prior_weights(str(name).encode(), *(ctypes.byref(x) for x in w))
    return tuple(x.value for x in w)


def item_log_priors(counts, rating_sums=None, a1=0.0, a2=0.0, b1=0.0, b2=0.0, preset=None):
    """Per-item log-priors (lp_pos, lp_neg), float32 [num_items] each, from
    plain arrays (vbpr_loss_item_log_priors): counts[i] is item i's number of
    training interactions (or the host's own popularity), rating_sums[i] the
    sum of its ratings (None: no ratings). The same formulas, from the same
    code, as Dataset.item_log_priors. preset: take the weights of a preset
    (preset_prior_weights) instead of a1..b2. Index the results with sampled
    item ids to get the loss's log_prior_pos [B, M] and log_prior_neg [B, N]."""
    if preset is not None:
        a1, a2, b1, b2 = preset_prior_weights(preset)
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    if counts.ndim != 1:
        raise ValueError(f"counts must be one-dimensional, got shape {counts.shape}")
    n = counts.shape[0]
    sums = None
    if rating_sums is not None:
        sums = np.ascontiguousarray(rating_sums, dtype=np.float64)
        if sums.shape != (n,):
            raise ValueError(f"rating_sums must have the shape of counts ({n},), "
                             f"got {sums.shape}")
    lp_pos = np.empty(n, np.float32)
    lp_neg = np.empty(n, np.float32)
    lib.vbpr_loss_item_log_priors(n, counts, sums, float(a1), float(a2), float(b1),
                                  float(b2), lp_pos, lp_neg)
    return lp_pos, lp_neg


def loss_kind(kind):
    """A LossKind from a member, its value, or a name the library knows
    ("bpr", "variational"; read by vbpr_trainer_param_parse)."""
    if isinstance(kind, str):
        from .train import TRAINER_PARAMS
        kind = TRAINER_PARAMS.parse(TrainerParam.LOSS, kind)
    kind = int(kind)
    return LossKind(kind) if kind in LossKind._value2member_map_ else kind


def _items(a, name, batch, k, dim):
    """An item array [B, K, dim]; for K == 1 also [B, dim]."""
    if isinstance(a, np.ndarray) and a.ndim == 2 and k == 1:
        return check_array(a, _F32, (batch, dim), name)
    return check_array(a, _F32, (batch, k, dim), name)


def _scores(a, name, batch, k):
    """A score array [B, K]; for K == 1 also [B]."""
    if isinstance(a, np.ndarray) and a.ndim == 1 and k == 1:
        return check_array(a, _F32, (batch,), name)
    return check_array(a, _F32, (batch, k), name)


@configurable(LOSS_PARAMS, kind_of=lambda self: self._kind_value)
class Loss(Handle):
    """A BPR or Variational BPR loss (vbpr_loss_create).

    Loss(kind=LossKind.VARIATIONAL, preset=None, **params): kind a LossKind
    or its name ("variational", "bpr"); preset one of loss_presets(), set
    first (vbpr_loss_set_preset); params by the library's names (num_pos,
    num_neg, c_pos, c_neg, estimator, ...), set after it in the order of the
    C enum. Enum values may be given by name, the library's aliases
    included: estimator="plugin" is PROTOTYPE_DETACHED, "exact" is ELBO.
    Defaults, ranges and names are the library's: see Loss.describe(kind)
    or doc/loss.md.

    Shapes (B rows, M positives, N negatives, d the embedding size):
    user [B, d], pos [B, M, d], neg [B, N, d], log priors [B, M] and [B, N],
    scores [B, M] and [B, N]; with M = 1 (N = 1) pos (neg) may also be
    [B, d] and its scores [B]. Gradients come back in the shapes given.

    The embedding-level backward reads the forward's user, pos and neg
    arrays again: this object keeps them referenced until the next forward,
    and they must not be modified in between.

    One Loss must not be used by two threads at once; separate Loss objects
    may run in parallel (the C calls release the GIL).
    """

    _kind = "Loss"

    def __init__(self, kind=LossKind.VARIATIONAL, preset=None, **params):
        kind = loss_kind(kind)
        ptr = _LossP()
        lib.vbpr_loss_create(int(kind), ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_loss_destroy)
        self._kind_value = kind
        self._stored = None
        self._version = 0       # counts successful configuration changes
        try:
            if preset is not None:
                self.set_preset(preset)
            self.set_params(**params)
        except BaseException:
            self.close()
            raise

    @classmethod
    def _wrap(cls, ptr, owner):
        """A borrowed loss owned by owner (a Trainer); not destroyed here."""
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, None, parents=(owner,))
        self._kind_value = loss_kind(lib.vbpr_loss_get_kind(ptr))
        self._stored = None
        self._version = 0
        return self

    @staticmethod
    def describe(kind=LossKind.VARIATIONAL):
        """The parameters of a loss of kind: names, defaults and ranges, as
        the loaded library defines them."""
        return LOSS_PARAMS.describe(loss_kind(kind))

    @property
    def kind(self):
        """The LossKind (vbpr_loss_get_kind)."""
        return loss_kind(lib.vbpr_loss_get_kind(self._ptr))

    def _describe(self):
        return f"{getattr(self.kind, 'name', self.kind)} M={self.num_pos} N={self.num_neg}"

    def _param_changed(self):
        # A successful set discards the library's stored forward: forget ours
        # too, so that a following backward() fails in C with StateError.
        self._stored = None
        self._version += 1

    def set_preset(self, name):
        """Sets the parameters of a named preset (vbpr_loss_set_preset): one
        of loss_presets(); M and N are left alone. An unknown name raises
        InvalidArgumentError listing the known ones."""
        lib.vbpr_loss_set_preset(self._ptr, str(name).encode())
        self._param_changed()
        return self

    @property
    def M(self):
        """Positives per row (num_pos)."""
        return self.get(LossParam.NUM_POS)

    @property
    def N(self):
        """Negatives per row (num_neg)."""
        return self.get(LossParam.NUM_NEG)

    # ---- embedding level ---------------------------------------------------

    def _embed_args(self, user, pos, neg, log_prior_pos, log_prior_neg):
        m, n = self.M, self.N
        if not isinstance(user, np.ndarray) or user.ndim != 2:
            check_array(user, _F32, (None, None), "user")
        batch, dim = user.shape
        check_array(user, _F32, (batch, dim), "user")
        pos = _items(pos, "pos", batch, m, dim)
        neg = _items(neg, "neg", batch, n, dim)
        lpp = check_array(log_prior_pos, _F32, (batch, m), "log_prior_pos", allow_none=True)
        lpn = check_array(log_prior_neg, _F32, (batch, n), "log_prior_neg", allow_none=True)
        return batch, dim, pos, neg, lpp, lpn

    def forward(self, user, pos, neg, log_prior_pos=None, log_prior_neg=None):
        """The mean loss over the B rows (vbpr_loss_forward), a float.
        Keeps user, pos and neg for backward()."""
        batch, dim, pos, neg, lpp, lpn = self._embed_args(
            user, pos, neg, log_prior_pos, log_prior_neg)
        out = ctypes.c_float()
        self._stored = None
        lib.vbpr_loss_forward(self._ptr, batch, dim, user, pos, neg, lpp, lpn,
                              ctypes.byref(out))
        self._stored = ("embed", user, pos, neg)
        return out.value

    def _grad_outs(self, out):
        if self._stored is None or self._stored[0] != "embed":
            # No stored embedding forward: the C call fails with
            # VBPR_ERR_STATE before writing; these buffers are never used.
            d = np.empty(1, _F32)
            return d, d, d
        _, user, pos, neg = self._stored
        out = out or (None, None, None)
        return (out_array(out[0], _F32, user.shape, "grad_user"),
                out_array(out[1], _F32, pos.shape, "grad_pos"),
                out_array(out[2], _F32, neg.shape, "grad_neg"))

    def backward(self, grad_output=1.0, out=None):
        """Gradients of grad_output * loss with respect to user, pos and neg of
        the stored forward (vbpr_loss_backward): a tuple of three new arrays
        shaped like them, or written into out=(grad_user, grad_pos, grad_neg).
        StateError without a stored embedding-level forward."""
        gu, gp, gn = self._grad_outs(out)
        lib.vbpr_loss_backward(self._ptr, float(grad_output), gu, gp, gn)
        return gu, gp, gn

    def forward_backward(self, user, pos, neg, log_prior_pos=None, log_prior_neg=None,
                         grad_output=1.0, out=None):
        """Fused forward and backward (vbpr_loss_forward_backward), the fastest
        path for a training loop: (loss, grad_user, grad_pos, grad_neg)."""
        batch, dim, pos, neg, lpp, lpn = self._embed_args(
            user, pos, neg, log_prior_pos, log_prior_neg)
        out = out or (None, None, None)
        gu = out_array(out[0], _F32, user.shape, "grad_user")
        gp = out_array(out[1], _F32, pos.shape, "grad_pos")
        gn = out_array(out[2], _F32, neg.shape, "grad_neg")
        loss = ctypes.c_float()
        self._stored = None
        lib.vbpr_loss_forward_backward(self._ptr, batch, dim, user, pos, neg, lpp, lpn,
                                       float(grad_output), ctypes.byref(loss), gu, gp, gn)
        self._stored = ("embed", user, pos, neg)
        return loss.value, gu, gp, gn

    # ---- score level -------------------------------------------------------

    def _score_args(self, pos_scores, neg_scores, log_prior_pos, log_prior_neg):
        m, n = self.M, self.N
        if not isinstance(pos_scores, np.ndarray) or pos_scores.ndim not in (1, 2):
            check_array(pos_scores, _F32, (None, m), "pos_scores")
        batch = pos_scores.shape[0]
        ps = _scores(pos_scores, "pos_scores", batch, m)
        ns = _scores(neg_scores, "neg_scores", batch, n)
        lpp = check_array(log_prior_pos, _F32, (batch, m), "log_prior_pos", allow_none=True)
        lpn = check_array(log_prior_neg, _F32, (batch, n), "log_prior_neg", allow_none=True)
        return batch, ps, ns, lpp, lpn

    def forward_scores(self, pos_scores, neg_scores, log_prior_pos=None,
                       log_prior_neg=None):
        """Score-level forward (vbpr_loss_forward_scores): pos_scores [B, M],
        neg_scores [B, N]; returns the mean loss."""
        batch, ps, ns, lpp, lpn = self._score_args(pos_scores, neg_scores,
                                                   log_prior_pos, log_prior_neg)
        out = ctypes.c_float()
        self._stored = None
        lib.vbpr_loss_forward_scores(self._ptr, batch, ps, ns, lpp, lpn, ctypes.byref(out))
        self._stored = ("scores", ps.shape, ns.shape)
        return out.value

    def _score_shapes(self):
        if self._stored is None:
            return None
        if self._stored[0] == "scores":
            return self._stored[1], self._stored[2]
        _, user, pos, neg = self._stored
        return pos.shape[:-1], neg.shape[:-1]

    def backward_scores(self, grad_output=1.0, out=None):
        """Gradients with respect to the scores of the stored forward (score- or
        embedding-level), vbpr_loss_backward_scores: (grad_pos_scores
        [B, M], grad_neg_scores [B, N])."""
        shapes = self._score_shapes()
        if shapes is None:
            d = np.empty(1, _F32)   # C fails with VBPR_ERR_STATE, writes nothing
            gp = gn = d
        else:
            out = out or (None, None)
            gp = out_array(out[0], _F32, shapes[0], "grad_pos_scores")
            gn = out_array(out[1], _F32, shapes[1], "grad_neg_scores")
        lib.vbpr_loss_backward_scores(self._ptr, float(grad_output), gp, gn)
        return gp, gn

    def forward_backward_scores(self, pos_scores, neg_scores, log_prior_pos=None,
                                log_prior_neg=None, grad_output=1.0, out=None):
        """Fused score-level forward and backward: (loss, grad_pos_scores,
        grad_neg_scores)."""
        batch, ps, ns, lpp, lpn = self._score_args(pos_scores, neg_scores,
                                                   log_prior_pos, log_prior_neg)
        out = out or (None, None)
        gp = out_array(out[0], _F32, ps.shape, "grad_pos_scores")
        gn = out_array(out[1], _F32, ns.shape, "grad_neg_scores")
        loss = ctypes.c_float()
        self._stored = None
        lib.vbpr_loss_forward_backward_scores(self._ptr, batch, ps, ns, lpp, lpn,
                                              float(grad_output), ctypes.byref(loss), gp, gn)
        self._stored = ("scores", ps.shape, ns.shape)
        return loss.value, gp, gn

    # ---- inspection --------------------------------------------------------

    @property
    def batch_size(self):
        """Rows of the stored forward (vbpr_loss_batch_size); StateError
        without one."""
        out = ctypes.c_size_t()
        lib.vbpr_loss_batch_size(self._ptr, ctypes.byref(out))
        return out.value

    def attention(self):
        """(alpha [B, M], beta [B, N]) of the stored forward."""
        b = self.batch_size
        alpha = np.empty((b, self.M), _F32)
        beta = np.empty((b, self.N), _F32)
        lib.vbpr_loss_attention(self._ptr, alpha, beta)
        return alpha, beta

    def row_losses(self):
        """Per-row losses [B] of the stored forward (their mean is the loss)."""
        out = np.empty(self.batch_size, _F32)
        lib.vbpr_loss_row_losses(self._ptr, out)
        return out

