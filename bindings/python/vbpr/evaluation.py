"""Full-ranking evaluation and top-K recommendation (vbpr/eval.h).
Embedding tables are float32 [rows, dim], C-contiguous, used in place."""
import ctypes
import weakref

import numpy as np

from ._enums import Metric
from ._handle import Handle, check_array, out_array
from ._lib import Evaluator as _EvaluatorP, SIZE_DTYPE, lib

__all__ = ["Evaluator", "recommend", "ks_array"]

_F32, _I32 = np.float32, np.int32


def ks_array(ks):
    """ks as a size_t array for the library (a short configuration list,
    copied). A negative K is a ValueError (it has no size_t value)."""
    if isinstance(ks, (int, np.integer)):
        ks = [ks]
    ks = [int(k) for k in ks]
    if any(k < 0 for k in ks):
        raise ValueError(f"K values must be positive, got {ks}")
    return np.array(ks, dtype=SIZE_DTYPE)


def _k(k):
    k = int(k)
    if k < 0:
        raise ValueError(f"K must be positive, got {k}")
    return k


def _metric(m):
    return Metric[m.upper()] if isinstance(m, str) else Metric(m)


def _tables(user_emb, item_emb):
    user_emb = check_array(user_emb, _F32, (None, None), "user_emb")
    dim = user_emb.shape[1]
    item_emb = check_array(item_emb, _F32, (None, dim), "item_emb")
    return user_emb, item_emb, user_emb.shape[0], item_emb.shape[0], dim


class Evaluator(Handle):
    """Ranks every item for every test user, training items excluded, and
    computes Precision, Recall, NDCG, F1, HitRate and APLT at several K
    (vbpr_evaluator).

    Evaluator(train, test, ks=(20,), long_tail_share=None): ks is set
    explicitly (set_ks), long_tail_share None keeps the library's default.
    The evaluator keeps both datasets alive. A Trainer's evaluator
    (Trainer.evaluator) is borrowed from it.
    """

    _kind = "Evaluator"

    def __init__(self, train, test, ks=(20,), long_tail_share=None):
        ptr = _EvaluatorP()
        lib.vbpr_evaluator_create(train._ptr, test._ptr, ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_evaluator_destroy)
        self._ks = ()
        self._run_users = None
        try:
            self.set_ks(ks)
            if long_tail_share is not None:
                self.set_long_tail_share(long_tail_share)
        except BaseException:
            self.close()
            raise

    _trainer = None

    @classmethod
    def _wrap(cls, ptr, owner, ks):
        """A borrowed evaluator owned by owner (a Trainer); not destroyed
        here. Its K set is the trainer's."""
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, None, parents=(owner,))
        self._ks, self._run_users = tuple(ks), None
        self._trainer = weakref.ref(owner)
        return self

    @property
    def ks(self):
        """The list sizes K evaluated."""
        return self._ks

    def set_ks(self, ks):
        """Distinct K values (at most EVALUATOR_MAX_KS, each at most
        EVALUATOR_MAX_K; the library checks them). A Trainer's evaluator
        takes them through Trainer.set_ks(), which records them."""
        trainer = self._trainer() if self._trainer is not None else None
        if trainer is not None:
            trainer.set_ks(ks)
            return
        arr = ks_array(ks)
        lib.vbpr_evaluator_set_ks(self._ptr, arr.shape[0], arr)
        self._ks = tuple(int(k) for k in arr)
        self._run_users = None

    def set_long_tail_share(self, share):
        """Share of the least popular items that counts as long tail (APLT)."""
        lib.vbpr_evaluator_set_long_tail_share(self._ptr, float(share))
        self._run_users = None

    @property
    def num_users_evaluated(self):
        return lib.vbpr_evaluator_num_users_evaluated(self._ptr)

    def run(self, user_emb, item_emb):
        """Evaluates user_emb [num_users, d] and item_emb [num_items, d]
        (vbpr_evaluator_run); returns results()."""
        u, i, nu, ni, d = _tables(user_emb, item_emb)
        self._run_users = None
        lib.vbpr_evaluator_run(self._ptr, nu, ni, d, u, i)
        self._run_users = nu
        return self.results()

    def metric(self, metric, k):
        """The mean of metric at k over the evaluated users of the last run."""
        out = ctypes.c_double()
        lib.vbpr_evaluator_metric(self._ptr, int(_metric(metric)), _k(k), ctypes.byref(out))
        return out.value

    def user_metric(self, metric, k, out=None):
        """Per-user values of metric at k, float64 [num_users of the run]
        (NaN for users without test items)."""
        n = self._run_users if self._run_users is not None else 1
        out = out_array(out, np.float64, (n,), "out")
        lib.vbpr_evaluator_user_metric(self._ptr, int(_metric(metric)), _k(k), n, out)
        return out

    def results(self):
        """{metric name in lower case: {k: value}} for every metric and K."""
        return {m.name.lower(): {k: self.metric(m, k) for k in self._ks} for m in Metric}


def recommend(user_emb, item_emb, users=None, k=20, train=None, with_scores=True,
              out=None):
    """Top-k items of each user (vbpr_recommend), best first, training items
    of train excluded when given.

    user_emb float32 [num_users, d], item_emb float32 [num_items, d];
    users int32 [n] (default: every user, 0..num_users-1). Returns
    (items int32 [n, k], scores float32 [n, k]) -- or items alone with
    with_scores=False; rows with fewer than k candidates end with item -1
    and score -inf. out=(items, scores) arrays to fill.
    """
    u, i, nu, ni, d = _tables(user_emb, item_emb)
    if users is None:
        users = np.arange(nu, dtype=_I32)
    users = check_array(users, _I32, (None,), "users")
    n, k = users.shape[0], _k(k)
    out = out or (None, None)
    items = out_array(out[0], _I32, (n, k), "items")
    scores = out_array(out[1], _F32, (n, k), "scores") if with_scores else None
    lib.vbpr_recommend(None if train is None else train._ptr, nu, ni, d, u, i, n, users,
                       k, items, scores)
    return (items, scores) if with_scores else items
