"""Optimizers for an encoder's tables or any float32 buffer (vbpr/optim.h).
Parameters are updated in place: they must be writable, C-contiguous
float32 arrays (never copied)."""
import ctypes

import numpy as np

from ._enums import OptimKind, OptimParam
from ._handle import Handle, check_array
from ._lib import Optim as _OptimP, lib
from ._params import with_params

__all__ = ["Optimizer"]

_F32 = np.float32


@with_params(OptimParam, "vbpr_optim_set", "vbpr_optim_get")
class Optimizer(Handle):
    """SGD, Adam or lazy Adam (vbpr_optim).

    Optimizer(kind=OptimKind.ADAM, lr=None, beta1=None, beta2=None, eps=None,
    weight_decay=None): None keeps the C default (lr 1e-3 for Adam, 1e-2 for
    SGD; betas 0.9, 0.999; eps 1e-8; weight decay 0). State is kept per slot:
    step_encoder() uses slots 0 (users) and 1 (items); give your own buffers
    slots 2 and up.
    """

    _kind = "Optimizer"

    def __init__(self, kind=OptimKind.ADAM, **params):
        if isinstance(kind, str):
            kind = OptimKind[kind.upper().replace("-", "_")]
        ptr = _OptimP()
        lib.vbpr_optim_create(int(kind), ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_optim_destroy)
        try:
            self.set_params(**params)
        except BaseException:
            self.close()
            raise

    @property
    def kind(self):
        return OptimKind(lib.vbpr_optim_get_kind(self._ptr))

    def _describe(self):
        return f"{self.kind.name} lr={self.lr:g}"

    def step(self, slot, param, grad):
        """Updates param in place from grad (same shape, float32), every
        element (vbpr_optim_step)."""
        param = check_array(param, _F32, (None,) * getattr(param, "ndim", 1), "param",
                            writable=True)
        grad = check_array(grad, _F32, param.shape, "grad")
        lib.vbpr_optim_step(self._ptr, int(slot), param, grad, param.size)

    def step_rows(self, slot, param, grad, row_ids):
        """Updates a table param [rows, dim] whose gradient grad [rows, dim] is
        zero outside row_ids (int32 [count]); vbpr_optim_step_rows."""
        param = check_array(param, _F32, (None, None), "param", writable=True)
        grad = check_array(grad, _F32, param.shape, "grad")
        row_ids = check_array(row_ids, np.int32, (None,), "row_ids")
        count = row_ids.shape[0]
        lib.vbpr_optim_step_rows(self._ptr, int(slot), param, grad, param.shape[0],
                                 param.shape[1], row_ids if count else None, count)

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
