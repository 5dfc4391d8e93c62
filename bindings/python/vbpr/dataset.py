"""Interaction data sets (vbpr/dataset.h): an immutable CSR of each user's
sorted, unique items, with optional ratings. Accessors return read-only
numpy views of the library's memory (no copy), which keep the dataset
alive for as long as they exist."""
import ctypes
import math

import numpy as np

from ._enums import DATASET_INFER, DatasetFormat, DatasetOptionsParam, Duplicates
from ._handle import Handle, borrowed_view, check_array, fspath, out_array
from ._lib import Dataset as _DatasetP, DatasetOptions as _OptionsP, lib
from ._params import ParamSpace, configurable

__all__ = ["Dataset", "DatasetOptions", "DATASET_OPTIONS_PARAMS"]

#: The dataset options' parameters, as the library names and bounds them.
DATASET_OPTIONS_PARAMS = ParamSpace(
    "dataset_options", DatasetOptionsParam,
    values={DatasetOptionsParam.FORMAT: DatasetFormat,
            DatasetOptionsParam.DUPLICATES: Duplicates})


@configurable(DATASET_OPTIONS_PARAMS)
class DatasetOptions(Handle):
    """Options for building or loading datasets (vbpr_dataset_options).

    DatasetOptions(reference=None, **params): params by the library's names
    (format, header, duplicates, num_users, num_items, min_users, min_items,
    remap_ids); value names such as format="lists" or duplicates="sum" are
    read by the library. Omitted ones keep the library's defaults
    (DatasetOptions.describe()).
    """

    describe = staticmethod(lambda: DATASET_OPTIONS_PARAMS.describe())

    _kind = "DatasetOptions"

    def __init__(self, reference=None, **params):
        ptr = _OptionsP()
        lib.vbpr_dataset_options_create(ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_dataset_options_destroy)
        self._reference = None
        try:
            self.set_params(**params)
            if reference is not None:
                self.set_reference(reference)
        except BaseException:
            self.close()
            raise

    def set_reference(self, reference):
        """Datasets loaded with these options share reference's id space
        (vbpr_dataset_options_set_reference); None clears it."""
        ptr = None if reference is None else reference._ptr
        lib.vbpr_dataset_options_set_reference(self._ptr, ptr)
        self._reference = reference
        return self


def _options(options, params):
    """(DatasetOptions or None, temporary to close or None)."""
    if options is not None and params:
        raise TypeError("give either options= or option keywords, not both")
    if options is not None:
        return options, None
    if params:
        tmp = DatasetOptions(**params)
        return tmp, tmp
    return None, None


def _opt_ptr(options):
    return None if options is None else options._ptr


def _universe(n, name):
    """A universe size for vbpr_dataset_create: None, -1 and DATASET_INFER
    infer it; anything else must be a non-negative integer."""
    if n is None or n == -1 or n == DATASET_INFER:
        return DATASET_INFER
    n = int(n)
    if n < 0:
        raise ValueError(f"{name} must be >= 0 or None (infer), got {n}")
    return n


class Dataset(Handle):
    """An interaction data set (vbpr_dataset).

    Dataset(users, items, ratings=None, num_users=None, num_items=None,
    options=None) builds one from arrays (copied by the library): users and
    items int32 [count], ratings float32 [count] or None; None (or -1, or
    DATASET_INFER) infers a universe size from the largest id.
    Dataset.load(path, ...) and Dataset.load_pair(train, test, ...) read
    files; Dataset.split(...) holds out test interactions per user.

    Datasets are immutable and may be read by any number of threads.
    """

    _kind = "Dataset"

    def __init__(self, users, items, ratings=None, num_users=None, num_items=None,
                 options=None, **params):
        users = check_array(users, np.int32, (None,), "users")
        count = users.shape[0]
        items = check_array(items, np.int32, (count,), "items")
        ratings = check_array(ratings, np.float32, (count,), "ratings", allow_none=True)
        opts, tmp = _options(options, params)
        ptr = _DatasetP()
        try:
            lib.vbpr_dataset_create(_universe(num_users, "num_users"),
                                    _universe(num_items, "num_items"), count,
                                    users if count else None, items if count else None,
                                    ratings if count else None, _opt_ptr(opts),
                                    ctypes.byref(ptr))
        finally:
            if tmp is not None:
                tmp.close()
        super().__init__(ptr, lib.vbpr_dataset_destroy)

    @classmethod
    def _wrap(cls, ptr):
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, lib.vbpr_dataset_destroy)
        return self

    @classmethod
    def load(cls, path, options=None, **params):
        """Loads a file (vbpr_dataset_load): tab/comma tables with an optional
        header, or `user item item ...` lines. Option keywords as for
        DatasetOptions, or options=DatasetOptions(...)."""
        opts, tmp = _options(options, params)
        ptr = _DatasetP()
        try:
            lib.vbpr_dataset_load(fspath(path), _opt_ptr(opts), ctypes.byref(ptr))
        finally:
            if tmp is not None:
                tmp.close()
        return cls._wrap(ptr)

    @classmethod
    def load_pair(cls, train_path, test_path, options=None, **params):
        """Loads a train and a test file into one id space
        (vbpr_dataset_load_pair): returns (train, test)."""
        opts, tmp = _options(options, params)
        train, test = _DatasetP(), _DatasetP()
        try:
            lib.vbpr_dataset_load_pair(fspath(train_path), fspath(test_path),
                                       _opt_ptr(opts), ctypes.byref(train),
                                       ctypes.byref(test))
        finally:
            if tmp is not None:
                tmp.close()
        return cls._wrap(train), cls._wrap(test)

    def split(self, test_fraction, min_rating=-math.inf, seed=0):
        """Per-user random hold-out (vbpr_dataset_split): (train, test). The
        paper's ml-100k protocol is test_fraction=0.5, min_rating=4."""
        train, test = _DatasetP(), _DatasetP()
        lib.vbpr_dataset_split(self._ptr, float(test_fraction), float(min_rating),
                               int(seed), ctypes.byref(train), ctypes.byref(test))
        return Dataset._wrap(train), Dataset._wrap(test)

    # ---- sizes -------------------------------------------------------------

    @property
    def num_users(self):
        return lib.vbpr_dataset_num_users(self._ptr)

    @property
    def num_items(self):
        return lib.vbpr_dataset_num_items(self._ptr)

    @property
    def num_interactions(self):
        return lib.vbpr_dataset_num_interactions(self._ptr)

    @property
    def num_active_users(self):
        return lib.vbpr_dataset_num_active_users(self._ptr)

    @property
    def has_ratings(self):
        return bool(lib.vbpr_dataset_has_ratings(self._ptr))

    def __len__(self):
        return self.num_interactions

    def _describe(self):
        return (f"{self.num_users} users, {self.num_items} items, "
                f"{self.num_interactions} interactions")

    # ---- borrowed views ----------------------------------------------------

    def csr(self):
        """(offsets int64 [num_users + 1], items int32 [num_interactions],
        ratings float32 [num_interactions] or None): read-only views of the
        library's CSR; each user's items are sorted and unique."""
        off, items, ratings = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        lib.vbpr_dataset_csr(self._ptr, ctypes.byref(off), ctypes.byref(items),
                             ctypes.byref(ratings))
        nu, nnz = self.num_users, self.num_interactions
        res = self._res
        return (borrowed_view(res, off.value, (nu + 1,), np.int64),
                borrowed_view(res, items.value, (nnz,), np.int32),
                None if not ratings.value else
                borrowed_view(res, ratings.value, (nnz,), np.float32))

    def user_items(self, user):
        """User's items, sorted: a read-only int32 view. OutOfRangeError for a
        user outside [0, num_users)."""
        items, count = ctypes.c_void_p(), ctypes.c_size_t()
        lib.vbpr_dataset_user_items(self._ptr, int(user), ctypes.byref(items),
                                    ctypes.byref(count))
        return borrowed_view(self._res, items.value, (count.value,), np.int32)

    def contains(self, user, item):
        """True if (user, item) is an interaction (False when out of range)."""
        return bool(lib.vbpr_dataset_contains(self._ptr, int(user), int(item)))

    def __contains__(self, pair):
        user, item = pair
        return self.contains(user, item)

    def item_counts(self):
        """Per-item interaction counts: a read-only int64 view [num_items]."""
        p = ctypes.c_void_p()
        lib.vbpr_dataset_item_counts(self._ptr, ctypes.byref(p))
        return borrowed_view(self._res, p.value, (self.num_items,), np.int64)

    def item_rating_sums(self):
        """Per-item sums of ratings: a read-only float64 view [num_items]."""
        p = ctypes.c_void_p()
        lib.vbpr_dataset_item_rating_sums(self._ptr, ctypes.byref(p))
        return borrowed_view(self._res, p.value, (self.num_items,), np.float64)

    def item_mean_ratings(self, empty_value=0.0, out=None):
        """Each item's mean rating, float64 [num_items]; items without
        ratings get empty_value. out: a float64 [num_items] array to fill."""
        n = self.num_items
        out = out_array(out, np.float64, (n,), "out")
        lib.vbpr_dataset_item_mean_ratings(self._ptr, float(empty_value), n, out)
        return out

    def item_log_priors(self, a1=0.0, a2=0.0, b1=0.0, b2=0.0):
        """Per-item log-priors (lp_pos, lp_neg), float32 [num_items] each:
        lp_pos = a1 log rarity + a2 log good, lp_neg = b1 log popularity +
        b2 log bad, as the trainer uses them (see vbpr_dataset_item_log_priors
        and doc/train.md). Index them with sampled item ids to get the loss's
        log_prior_pos [B, M] and log_prior_neg [B, N]."""
        n = self.num_items
        lp_pos = np.empty(n, np.float32)
        lp_neg = np.empty(n, np.float32)
        lib.vbpr_dataset_item_log_priors(self._ptr, float(a1), float(a2), float(b1), float(b2),
                                         n, lp_pos, lp_neg)
        return lp_pos, lp_neg

    def _raw(self, fn, n):
        p = ctypes.c_void_p()
        fn(self._ptr, ctypes.byref(p))
        return None if not p.value else borrowed_view(self._res, p.value, (n,), np.int64)

    def raw_user_ids(self):
        """File ids of the dense user ids (read-only int64 view), or None when
        the ids were not remapped (remap_ids=0)."""
        return self._raw(lib.vbpr_dataset_raw_user_ids, self.num_users)

    def raw_item_ids(self):
        """File ids of the dense item ids, or None when not remapped."""
        return self._raw(lib.vbpr_dataset_raw_item_ids, self.num_items)

    def find_user(self, raw):
        """Dense id of a raw user id; OutOfRangeError when unknown."""
        out = ctypes.c_int32()
        lib.vbpr_dataset_find_user(self._ptr, int(raw), ctypes.byref(out))
        return out.value

    def find_item(self, raw):
        """Dense id of a raw item id; OutOfRangeError when unknown."""
        out = ctypes.c_int32()
        lib.vbpr_dataset_find_item(self._ptr, int(raw), ctypes.byref(out))
        return out.value

    def to_arrays(self):
        """(users int32, items int32, ratings float32 or None), new arrays of
        every interaction in CSR order (a copy, for convenience)."""
        off, items, ratings = self.csr()
        users = np.repeat(np.arange(self.num_users, dtype=np.int32), np.diff(off))
        return users, items.copy(), None if ratings is None else ratings.copy()

