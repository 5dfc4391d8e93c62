"""Optimizers for an encoder's tables or any float32 buffer (vbpr/optim.h).
Parameters are updated in place: they must be writable, C-contiguous
float32 arrays (never copied)."""
import ctypes

import numpy as np

from ._enums import OptimKind, OptimParam, TrainerParam
from ._handle import Handle, check_array
from ._lib import Optim as _OptimP, lib
from ._params import ParamSpace, configurable

__all__ = ["Optimizer", "OPTIM_PARAMS", "optim_kind"]

_F32 = np.float32

#: The optimizer's parameters, as the library names and bounds them.
OPTIM_PARAMS = ParamSpace("optim", OptimParam, kinded=True)


def optim_kind(kind):
    """An OptimKind from a member, its value, or a name the library knows
    ("sgd", "adam", "lazy_adam"; read by vbpr_trainer_param_parse)."""
    if isinstance(kind, str):
        from .train import TRAINER_PARAMS
        kind = TRAINER_PARAMS.parse(TrainerParam.OPTIMIZER, kind)
    kind = int(kind)
    return OptimKind(kind) if kind in OptimKind._value2member_map_ else kind


@configurable(OPTIM_PARAMS, kind_of=lambda self: self._kind_value)
class Optimizer(Handle):
    """SGD, Adam or lazy Adam (vbpr_optim).

    Optimizer(kind=OptimKind.ADAM, **params): kind an OptimKind or its name
    ("sgd", "adam", "lazy_adam"); params by the library's names (lr, beta1,
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
