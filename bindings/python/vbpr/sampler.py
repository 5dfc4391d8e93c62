"""Training tuple sampler for (Variational) BPR (vbpr/sampler.h)."""
import ctypes

import numpy as np

from ._enums import SamplerMode, SamplerParam
from ._handle import Handle, check_array
from ._lib import Sampler as _SamplerP, lib
from ._params import ParamSpace, configurable

__all__ = ["Sampler", "SAMPLER_PARAMS"]

_I32 = np.int32

#: The sampler's parameters, as the library names and bounds them.
SAMPLER_PARAMS = ParamSpace("sampler", SamplerParam,
                            values={SamplerParam.MODE: SamplerMode})


@configurable(SAMPLER_PARAMS)
class Sampler(Handle):
    """Draws rows (u, i_1..i_M, j_1..j_N) from a Dataset (vbpr_sampler).

    Sampler(dataset, **params): params by the library's names (batch_size,
    num_pos, num_neg, seed, mode, neg_pop_exponent, epoch,
    users_epoch_rows, world_size, rank), set in the order of the C enum; omitted ones keep the
    library's defaults (Sampler.describe()).

    The sampler keeps its dataset alive (closing the dataset first is safe).
    A Trainer's sampler (Trainer.sampler) is borrowed from it.
    """

    describe = staticmethod(lambda: SAMPLER_PARAMS.describe())

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

    @classmethod
    def _wrap(cls, ptr, owner):
        """A borrowed sampler owned by owner (a Trainer); not destroyed here."""
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, None, parents=(owner,))
        self.dataset = None
        return self

    @property
    def M(self):
        return self.get(SamplerParam.NUM_POS)

    @property
    def N(self):
        return self.get(SamplerParam.NUM_NEG)

    def _buffers(self, out):
        """(users [B], pos [B, M], neg [B, N]) int32: new, or out's checked."""
        b, m, n = self.batch_size, self.M, self.N
        if out is None:
            return np.empty(b, _I32), np.empty((b, m), _I32), np.empty((b, n), _I32)
        return (check_array(out[0], _I32, (b,), "users", writable=True),
                check_array(out[1], _I32, (b, m), "pos", writable=True),
                check_array(out[2], _I32, (b, n), "neg", writable=True))

    def next(self, out=None):
        """The next rows of the epoch (vbpr_sampler_next): (users [rows],
        pos [rows, M], neg [rows, N]), int32. rows is batch_size, fewer at
        the end of an epoch, and 0 once it is over (which starts the next
        one). out=(users [B], pos [B, M], neg [B, N]) int32 arrays to fill,
        B = batch_size; the results are then views of them."""
        users, pos, neg = self._buffers(out)
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
        users, pos, neg = self._buffers(out)
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
