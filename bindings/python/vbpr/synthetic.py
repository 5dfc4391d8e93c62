"""Synthetic implicit feedback with known ground truth (vbpr/synthetic.h)."""
import ctypes

import numpy as np

from ._enums import SyntheticParam
from ._handle import Handle, out_array
from ._lib import Dataset as _DatasetP, Synthetic as _SyntheticP, lib
from ._params import ParamSpace, configurable

__all__ = ["Synthetic", "synthetic", "SYNTHETIC_PARAMS"]

#: The generator's parameters, as the library names and bounds them.
SYNTHETIC_PARAMS = ParamSpace("synthetic", SyntheticParam)


@configurable(SYNTHETIC_PARAMS)
class Synthetic(Handle):
    """A synthetic-data configuration (vbpr_synthetic).

    Synthetic(**params): params by the library's names (num_users,
    num_items, dim, mean_preferences, test_fraction, popularity, sharpness,
    false_positives, false_negatives, seed, labels); omitted ones keep the
    library's defaults (Synthetic.describe()).
    """

    describe = staticmethod(lambda: SYNTHETIC_PARAMS.describe())

    _kind = "Synthetic"

    def __init__(self, **params):
        ptr = _SyntheticP()
        lib.vbpr_synthetic_create(ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_synthetic_destroy)
        try:
            self.set_params(**params)
        except BaseException:
            self.close()
            raise

    def generate(self):
        """(train, test) Datasets over one universe; deterministic."""
        from .dataset import Dataset
        train, test = _DatasetP(), _DatasetP()
        lib.vbpr_synthetic_generate(self._ptr, ctypes.byref(train), ctypes.byref(test))
        return Dataset._wrap(train), Dataset._wrap(test)

    def true_scores(self, user, out=None):
        """The true affinities of user for every item: float32 [num_items]."""
        n = self.num_items
        out = out_array(out, np.float32, (n,), "out")
        lib.vbpr_synthetic_true_scores(self._ptr, int(user), n, out)
        return out


def synthetic(**params):
    """Generates (train, test) with the given Synthetic parameters."""
    with Synthetic(**params) as cfg:
        return cfg.generate()
