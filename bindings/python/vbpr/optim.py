"""Optimizers for an encoder's tables or any float32 buffer (vbpr/optim.h),
and the fused per-tuple path over a host's own tables (step_tuples).
Parameters are updated in place: they must be writable, C-contiguous
float32 arrays (never copied)."""
import ctypes

import numpy as np

from ._enums import OptimKind, OptimParam, TrainerParam
from ._errors import NumericError
from ._handle import Handle, check_array
from ._lib import Optim as _OptimP, lib
from ._params import ParamSpace, configurable

__all__ = ["Optimizer", "OPTIM_PARAMS", "optim_kind"]

_F32 = np.float32

#: The optimizer's parameters, as the library names and bounds them.
OPTIM_PARAMS = ParamSpace("optim", OptimParam, kinded=True)


def optim_kind(kind):
    """An OptimKind from a member, its value, or a name the library knows
    ("sgd", "adam", "lazy_adam", "adagrad", "sparse_adam"; read by
    vbpr_trainer_param_parse)."""
    if isinstance(kind, str):
        from .train import TRAINER_PARAMS
        kind = TRAINER_PARAMS.parse(TrainerParam.OPTIMIZER, kind)
    kind = int(kind)
    return OptimKind(kind) if kind in OptimKind._value2member_map_ else kind


@configurable(OPTIM_PARAMS, kind_of=lambda self: self._kind_value)
class Optimizer(Handle):
    """SGD, Adam, lazy Adam, row-wise Adagrad or sparse Adam (vbpr_optim).

    Optimizer(kind=OptimKind.ADAM, **params): kind an OptimKind or its name
    ("sgd", "adam", "lazy_adam", "adagrad", "sparse_adam"); the row-wise
    kinds (sgd, adagrad, sparse_adam) also drive step_tuples(), the fused
    path. params by the library's names (lr, beta1,
    beta2, eps, weight_decay); omitted ones keep the library's defaults for
    the kind (Optimizer.describe(kind)). State is kept per slot:
    step_encoder() uses slots 0 (users) and 1 (items); give your own buffers
    slots 2 and up. A Trainer's optimizer (Trainer.optimizer) is borrowed
    from it.
    """

    _kind = "Optimizer"

    def __init__(self, kind=OptimKind.ADAM, **params):
        kind = optim_kind(kind)
        ptr = _OptimP()
        lib.vbpr_optim_create(int(kind), ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_optim_destroy)
        self._kind_value = kind
        try:
            self.set_params(**params)
        except BaseException:
            self.close()
            raise

    @classmethod
    def _wrap(cls, ptr, owner):
        """A borrowed optimizer owned by owner (a Trainer); not destroyed here."""
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, None, parents=(owner,))
        self._kind_value = optim_kind(lib.vbpr_optim_get_kind(ptr))
        return self

    @staticmethod
    def describe(kind=OptimKind.ADAM):
        """The parameters of an optimizer of kind: names, defaults, ranges."""
        return OPTIM_PARAMS.describe(optim_kind(kind))

    @property
    def kind(self):
        return optim_kind(lib.vbpr_optim_get_kind(self._ptr))

    def _describe(self):
        return f"{self.kind.name} lr={self.lr:g}"

    def step(self, slot, param, grad):
        """Updates param in place from grad (same shape, float32), every
        element (vbpr_optim_step)."""
        param = check_array(param, _F32, (None,) * getattr(param, "ndim", 1), "param",
                            writable=True)
        grad = check_array(grad, _F32, param.shape, "grad")
        lib.vbpr_optim_step(self._ptr, int(slot), param.size, param, grad)

    def step_rows(self, slot, param, grad, row_ids):
        """Updates a table param [rows, dim] whose gradient grad [rows, dim] is
        zero outside row_ids (int32 [count]); vbpr_optim_step_rows."""
        param = check_array(param, _F32, (None, None), "param", writable=True)
        grad = check_array(grad, _F32, param.shape, "grad")
        row_ids = check_array(row_ids, np.int32, (None,), "row_ids")
        count = row_ids.shape[0]
        lib.vbpr_optim_step_rows(self._ptr, int(slot), param.shape[0], param.shape[1], param,
                                 grad, count, row_ids if count else None)

    def step_tuples(self, loss, user_table, item_table, users, pos, neg,
                    item_log_prior_pos=None, item_log_prior_neg=None, slot=0):
        """The fused path (vbpr_optim_step_tuples): trains the host's own
        tables in place, one sampled tuple at a time, and returns the mean
        loss of the tuples (a float).

        loss: a vbpr.Loss (any kind; its M and N give the tuples' shape).
        user_table float32 [num_users, dim] and item_table float32
        [num_items, dim]: writable, C-contiguous, updated in place (the
        same memory, never a copy). users int32 [T]; pos int32 [T, M] (or
        [T] when M = 1); neg int32 [T, N] (or [T]). item_log_prior_pos /
        _neg: float32 [num_items] per-item log-priors, or None. slot: the
        optimizer state of the user table; the item table uses slot + 1.

        This optimizer must be row-wise (sgd, adagrad, sparse_adam; else
        UnsupportedError). Per tuple, not per batch mean: lr applies to
        each tuple's gradient. Threads update shared rows without locks
        (Hogwild): with vbpr.set_num_threads(1) the result is reproducible
        bit for bit. Do not touch the tables from another thread during
        the call. Ids and shapes are checked before anything changes; a
        tuple whose scores or gradients are not finite is skipped and the
        others applied, then NumericError is raised (its .mean_loss is the
        mean over the applied tuples)."""
        from .loss import Loss
        if not isinstance(loss, Loss):
            raise TypeError(f"loss must be a vbpr.Loss, got {type(loss).__name__}")
        ut = check_array(user_table, _F32, (None, None), "user_table", writable=True)
        dim = ut.shape[1]
        it = check_array(item_table, _F32, (None, dim), "item_table", writable=True)
        if np.may_share_memory(ut, it):     # contiguous: bounds overlap is overlap
            raise ValueError("user_table and item_table overlap")
        users = check_array(users, np.int32, (None,), "users")
        count = users.shape[0]
        pos = _tuple_ids(pos, "pos", count, loss.M)
        neg = _tuple_ids(neg, "neg", count, loss.N)
        n_items = it.shape[0]
        lpp = check_array(item_log_prior_pos, _F32, (n_items,), "item_log_prior_pos",
                          allow_none=True)
        lpn = check_array(item_log_prior_neg, _F32, (n_items,), "item_log_prior_neg",
                          allow_none=True)
        out = ctypes.c_double()
        try:
            lib.vbpr_optim_step_tuples(self._ptr, loss._ptr, int(slot), ut.shape[0], n_items,
                                       dim, ut, it, count, users, pos, neg, lpp, lpn,
                                       ctypes.byref(out))
        except NumericError as exc:
            exc.mean_loss = out.value
            raise
        return out.value

    def step_encoder(self, encoder):
        """Steps both tables of encoder from its gradients (slots 0 and 1)."""
        lib.vbpr_optim_step_encoder(self._ptr, encoder._ptr)

    def slot_steps(self, slot):
        """Steps taken on slot (0 if never used)."""
        out = ctypes.c_int64()
        lib.vbpr_optim_slot_steps(self._ptr, int(slot), ctypes.byref(out))
        return out.value

    def reset(self):
        """Forgets moments, step counts and slot sizes; keeps the parameters."""
        lib.vbpr_optim_reset(self._ptr)


def _tuple_ids(a, name, count, k):
    """Ids of a tuple side: int32 [count, k], or [count] when k == 1."""
    if isinstance(a, np.ndarray) and a.ndim == 1 and k == 1:
        return check_array(a, np.int32, (count,), name)
    return check_array(a, np.int32, (count, k), name)
