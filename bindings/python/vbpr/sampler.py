"""Training tuple sampler for (Variational) BPR (vbpr/sampler.h)."""
import ctypes

import numpy as np

from ._enums import SamplerMode, SamplerParam
from ._handle import Handle, check_array
from ._lib import Sampler as _SamplerP, lib
from ._params import with_params

__all__ = ["Sampler"]

_I32 = np.int32


@with_params(SamplerParam, "vbpr_sampler_set", "vbpr_sampler_get",
             types={"BATCH_SIZE": int, "NUM_POS": int, "NUM_NEG": int, "SEED": int,
                    "MODE": SamplerMode, "USERS_EPOCH_ROWS": int,
                    "WORLD_SIZE": int, "RANK": int})
class Sampler(Handle):
    """Draws rows (u, i_1..i_M, j_1..j_N) from a Dataset (vbpr_sampler).

    Sampler(dataset, **params): keyword names are the lower-case
    SamplerParam names (batch_size, num_pos, num_neg, seed, mode,
    neg_pop_exponent, epoch, users_epoch_rows, world_size, rank), set in
    that order. C
    defaults: batch_size 1024, M = N = 1, seed 0, INTERACTIONS mode.

    The sampler keeps its dataset alive (closing the dataset first is safe).
    """

    _kind = "Sampler"

    def __init__(self, dataset, **params):
        ptr = _SamplerP()
        lib.vbpr_sampler_create(dataset._ptr, ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_sampler_destroy, parents=(dataset,))
        self.dataset = dataset
        try:
            self.set_params(**params)
        except BaseException:
            self.close()
            raise

    @property
    def M(self):
        return self.get(SamplerParam.NUM_POS)

    @property
    def N(self):
        return self.get(SamplerParam.NUM_NEG)

    def next(self, out=None):
        """The next rows of the epoch (vbpr_sampler_next): (users [rows],
        pos [rows, M], neg [rows, N]), int32. rows is batch_size, fewer at
        the end of an epoch, and 0 once it is over (which starts the next
        one). out=(users [B], pos [B, M], neg [B, N]) int32 arrays to fill,
        B = batch_size; the results are then views of them."""
        b, m, n = self.batch_size, self.M, self.N
        if out is None:
            users, pos, neg = (np.empty(b, _I32), np.empty((b, m), _I32),
                               np.empty((b, n), _I32))
        else:
            users = check_array(out[0], _I32, (b,), "users", writable=True)
            pos = check_array(out[1], _I32, (b, m), "pos", writable=True)
            neg = check_array(out[2], _I32, (b, n), "neg", writable=True)
        rows = ctypes.c_size_t()
        lib.vbpr_sampler_next(self._ptr, users, pos, neg, ctypes.byref(rows))
        r = rows.value
        return users[:r], pos[:r], neg[:r]

    def next_shard(self, out=None):
        """This rank's share of the next global batch, for data-parallel
        loops (vbpr_sampler_next_shard, sampler params world_size and rank):
        (users [r], pos [r, M], neg [r, N], batch_rows). r may be 0 when the
        global batch has fewer rows than ranks; batch_rows, the rows of the
        whole global batch, is 0 once the epoch is over. out= as next()."""
        b, m, n = self.batch_size, self.M, self.N
        if out is None:
            users, pos, neg = (np.empty(b, _I32), np.empty((b, m), _I32),
                               np.empty((b, n), _I32))
        else:
            users = check_array(out[0], _I32, (b,), "users", writable=True)
            pos = check_array(out[1], _I32, (b, m), "pos", writable=True)
            neg = check_array(out[2], _I32, (b, n), "neg", writable=True)
        rows, total = ctypes.c_size_t(), ctypes.c_size_t()
        lib.vbpr_sampler_next_shard(self._ptr, users, pos, neg, ctypes.byref(rows),
                                    ctypes.byref(total))
        r = rows.value
        return users[:r], pos[:r], neg[:r], total.value

    def batches(self, out=None):
        """Yields the remaining batches of the current epoch; when it ends the
        sampler is at the start of the next one. With out=, every batch is a
        view of the same arrays (valid until the next one)."""
        while True:
            users, pos, neg = self.next(out)
            if users.shape[0] == 0:
                return
            yield users, pos, neg

    __iter__ = batches

    def reset(self):
        """Abandons the rest of the epoch and starts the next one."""
        lib.vbpr_sampler_reset(self._ptr)

    @property
    def epoch(self):
        """The current epoch; assigning moves to the start of that epoch."""
        return lib.vbpr_sampler_epoch(self._ptr)

    @epoch.setter
    def epoch(self, value):
        self.set(SamplerParam.EPOCH, value)

    @property
    def rows_per_epoch(self):
        return lib.vbpr_sampler_rows_per_epoch(self._ptr)

    @property
    def position(self):
        """Rows of the current epoch already returned."""
        return lib.vbpr_sampler_position(self._ptr)

    def _describe(self):
        return (f"B={self.batch_size} M={self.M} N={self.N} epoch {self.epoch} "
                f"row {self.position}/{self.rows_per_epoch}")
