"""Encoders from ids to embeddings: MF and LightGCN (vbpr/encoder.h).

Parameter tables and their gradients are exposed as numpy views of the
library's memory (no copy): table(t) gives a writable [rows, dim] view of the
parameters, for a host's own optimizer, and a read-only view of the
gradients. The views keep the encoder's memory alive."""
import ctypes

import numpy as np

from ._enums import EncoderKind, Init, Table
from ._handle import Handle, borrowed_view, check_array, fspath, out_array
from ._lib import Encoder as _EncoderP, lib

__all__ = ["Encoder", "MF", "LightGCN"]

_F32, _I32 = np.float32, np.int32


def _ids(a, name, batch):
    """[B, K] int32 ids, or [B] for K = 1; returns (array, K)."""
    if a is None:
        return None, 0
    if isinstance(a, np.ndarray) and a.ndim == 1:
        return check_array(a, _I32, (batch,), name), 1
    a = check_array(a, _I32, (batch, None), name)
    return a, a.shape[1]


class Encoder(Handle):
    """Base of MF and LightGCN (vbpr_encoder). Use MF(...) or LightGCN(...)
    to create one; Trainer.encoder gives the trainer's."""

    _kind = "Encoder"

    def __init__(self, *args, **kwargs):
        raise TypeError("create an encoder with vbpr.MF(...) or vbpr.LightGCN(...)")

    def _setup(self, ptr, destroy, parents=()):
        Handle.__init__(self, ptr, destroy, parents)
        self._fwd = None        # output shapes of the last successful forward
        self._borrowed = destroy is None

    @staticmethod
    def _wrap(ptr, owner):
        """A borrowed encoder owned by owner (a Trainer); not destroyed here."""
        cls = LightGCN if lib.vbpr_encoder_get_kind(ptr) == EncoderKind.LIGHTGCN else MF
        self = cls.__new__(cls)
        self._setup(ptr, None, parents=(owner,))
        return self

    # ---- sizes -------------------------------------------------------------

    @property
    def kind(self):
        return EncoderKind(lib.vbpr_encoder_get_kind(self._ptr))

    @property
    def num_users(self):
        return lib.vbpr_encoder_num_users(self._ptr)

    @property
    def num_items(self):
        return lib.vbpr_encoder_num_items(self._ptr)

    @property
    def dim(self):
        return lib.vbpr_encoder_dim(self._ptr)

    @property
    def num_layers(self):
        """LightGCN layers K (0 for MF)."""
        return lib.vbpr_encoder_num_layers(self._ptr)

    def _describe(self):
        return f"{self.kind.name} {self.num_users}x{self.num_items} dim {self.dim}"

    # ---- training ----------------------------------------------------------

    def init_params(self, init=Init.NORMAL, scale=0.01, seed=0):
        """Re-initialises both tables (vbpr_encoder_init_params): NORMAL with
        standard deviation scale, or XAVIER_NORMAL with gain scale. init may
        be named ("normal", "xavier"; read by the library)."""
        if isinstance(init, str):
            from ._enums import TrainerParam
            from .train import TRAINER_PARAMS
            init = TRAINER_PARAMS.parse(TrainerParam.INIT, init)
        lib.vbpr_encoder_init_params(self._ptr, int(init), float(scale), int(seed))

    def forward(self, users, pos=None, neg=None, out=None):
        """Embeddings of a batch laid out as the Sampler gives it
        (vbpr_encoder_forward): users int32 [B], pos int32 [B, M] (or [B]),
        neg int32 [B, N] (or [B]); either may be None. Returns (user_emb
        [B, d], pos_emb [B, M, d] (or [B, d]) or None, neg_emb likewise),
        new arrays or the float32 arrays of out=(user_emb, pos_emb, neg_emb)."""
        users = check_array(users, _I32, (None,), "users")
        batch = users.shape[0]
        pos, m = _ids(pos, "pos", batch)
        neg, n = _ids(neg, "neg", batch)
        d = self.dim
        out = out or (None, None, None)
        shape = lambda ids: ids.shape + (d,)  # noqa: E731
        ue = out_array(out[0], _F32, (batch, d), "user_emb")
        pe = None if pos is None else out_array(out[1], _F32, shape(pos), "pos_emb")
        ne = None if neg is None else out_array(out[2], _F32, shape(neg), "neg_emb")
        lib.vbpr_encoder_forward(self._ptr, batch, m, n, users, pos, neg, ue, pe, ne)
        self._fwd = (ue.shape, None if pe is None else pe.shape,
                     None if ne is None else ne.shape)
        return ue, pe, ne

    def backward(self, grad_user, grad_pos=None, grad_neg=None):
        """Adds the parameter gradients for the gradients of a loss with
        respect to the last forward's outputs (same shapes as them);
        vbpr_encoder_backward. One backward per forward (StateError)."""
        if self._borrowed:
            from ._errors import StateError
            raise StateError("a Trainer's encoder is trained by the Trainer; "
                             "backward() is not available on it", -6)
        if self._fwd is None:
            # Fails in C with VBPR_ERR_STATE before reading anything.
            lib.vbpr_encoder_backward(self._ptr, np.zeros(1, _F32), None, None)
        us, ps, ns = self._fwd
        gu = check_array(grad_user, _F32, us, "grad_user")
        gp = None if ps is None else check_array(grad_pos, _F32, ps, "grad_pos")
        gn = None if ns is None else check_array(grad_neg, _F32, ns, "grad_neg")
        lib.vbpr_encoder_backward(self._ptr, gu, gp, gn)

    def zero_grad(self):
        lib.vbpr_encoder_zero_grad(self._ptr)

    # ---- parameters --------------------------------------------------------

    def table(self, table):
        """(param, grad) of Table.USERS or Table.ITEMS: [rows, dim] float32
        views of the library's memory, param writable (for a host's own
        optimizer), grad read-only. Valid for the encoder's life; their
        contents change with training."""
        param, grad = ctypes.c_void_p(), ctypes.c_void_p()
        rows, dim = ctypes.c_size_t(), ctypes.c_size_t()
        lib.vbpr_encoder_table(self._ptr, int(table), ctypes.byref(param),
                               ctypes.byref(grad), ctypes.byref(rows), ctypes.byref(dim))
        shape = (rows.value, dim.value)
        return (borrowed_view(self._res, param.value, shape, _F32, readonly=False),
                borrowed_view(self._res, grad.value, shape, _F32, readonly=True))

    @property
    def user_table(self):
        """Writable view of the user parameters [num_users, dim]."""
        return self.table(Table.USERS)[0]

    @property
    def item_table(self):
        """Writable view of the item parameters [num_items, dim]."""
        return self.table(Table.ITEMS)[0]

    def touched_rows(self, table):
        """Rows of table whose gradient may be non-zero since zero_grad(), as
        a new int32 array (a copy: the library's list changes at the next
        backward)."""
        rows, count = ctypes.c_void_p(), ctypes.c_size_t()
        lib.vbpr_encoder_touched_rows(self._ptr, int(table), ctypes.byref(rows),
                                      ctypes.byref(count))
        return borrowed_view(self._res, rows.value, (count.value,), _I32).copy()

    def embeddings(self, copy=None):
        """Final embeddings (users [num_users, dim], items [num_items, dim])
        for scoring and evaluation (vbpr_encoder_embeddings). For MF they are
        read-only views of the parameter tables (no copy, valid for the
        encoder's life). For LightGCN they are computed by this call into a
        buffer the library may reuse at the next forward or embeddings
        call, so they are copied unless copy=False (then the views are valid
        only until that next call)."""
        u, i = ctypes.c_void_p(), ctypes.c_void_p()
        lib.vbpr_encoder_embeddings(self._ptr, ctypes.byref(u), ctypes.byref(i))
        d = self.dim
        users = borrowed_view(self._res, u.value, (self.num_users, d), _F32)
        items = borrowed_view(self._res, i.value, (self.num_items, d), _F32)
        if copy is None:
            copy = self.kind != EncoderKind.MF
        return (users.copy(), items.copy()) if copy else (users, items)

    def save(self, path):
        """Saves the parameters in the libvbpr model format (atomic write)."""
        lib.vbpr_encoder_save(self._ptr, fspath(path))

    def load(self, path):
        """Loads parameters saved by save() into this encoder (same kind and
        sizes); the encoder is unchanged on error."""
        lib.vbpr_encoder_load(self._ptr, fspath(path))

    def export_npy(self, table, path):
        """Writes one table's final embeddings as a .npy file (float32)."""
        lib.vbpr_encoder_export_npy(self._ptr, int(table), fspath(path))


class MF(Encoder):
    """Matrix factorisation (vbpr_encoder_create_mf): a user and an item table
    [rows, dim], initialised Normal(0, 0.01^2) from seed."""

    def __init__(self, num_users, num_items, dim, seed=0):
        ptr = _EncoderP()
        lib.vbpr_encoder_create_mf(int(num_users), int(num_items), int(dim), int(seed),
                                   ctypes.byref(ptr))
        self._setup(ptr, lib.vbpr_encoder_destroy)


class LightGCN(Encoder):
    """LightGCN over dataset's user-item graph (vbpr_encoder_create_lightgcn):
    num_layers propagation layers, tables initialised Xavier normal. The
    encoder copies what it needs from the dataset."""

    def __init__(self, dataset, dim, num_layers, seed=0):
        ptr = _EncoderP()
        lib.vbpr_encoder_create_lightgcn(dataset._ptr, int(dim), int(num_layers), int(seed),
                                         ctypes.byref(ptr))
        self._setup(ptr, lib.vbpr_encoder_destroy)
