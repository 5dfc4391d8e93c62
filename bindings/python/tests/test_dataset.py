"""vbpr.Dataset, DatasetOptions, Synthetic and Sampler: round trips,
borrowed views (by address) and their lifetime."""
import ctypes
import gc
import weakref

import numpy as np
import pytest

import vbpr
from vbpr import _lib


def arrays():
    users = np.array([0, 0, 2, 1, 2, 0, 2], np.int32)
    items = np.array([3, 1, 0, 4, 0, 3, 2], np.int32)   # (0,3) and (2,0) repeat
    ratings = np.array([1, 5, 2, 3, 4, 2, 1], np.float32)
    return users, items, ratings


def test_from_arrays_round_trip():
    users, items, ratings = arrays()
    ds = vbpr.Dataset(users, items, ratings, num_items=6)
    assert (ds.num_users, ds.num_items, ds.num_interactions, len(ds)) == (3, 6, 5, 5)
    assert ds.num_active_users == 3 and ds.has_ratings
    off, it, rt = ds.csr()
    np.testing.assert_array_equal(off, [0, 2, 3, 5])
    np.testing.assert_array_equal(it, [1, 3, 4, 0, 2])
    np.testing.assert_array_equal(rt, [5, 2, 3, 4, 1])    # duplicates: the maximum
    np.testing.assert_array_equal(ds.user_items(2), [0, 2])
    assert ds.contains(0, 3) and (1, 4) in ds and not ds.contains(1, 3)
    assert not ds.contains(99, 0)
    np.testing.assert_array_equal(ds.item_counts(), [1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(ds.item_rating_sums(), [4, 5, 1, 2, 3, 0])
    means = ds.item_mean_ratings(empty_value=-1.0)
    np.testing.assert_array_equal(means, [4, 5, 1, 2, 3, -1])
    u2, i2, r2 = ds.to_arrays()
    again = vbpr.Dataset(u2, i2, r2, num_items=6)
    for a, b in zip(again.csr(), ds.csr()):
        np.testing.assert_array_equal(a, b)
    assert ds.raw_user_ids() is None and ds.find_user(2) == 2


def test_options_and_duplicate_policy():
    users, items, ratings = arrays()
    opts = vbpr.DatasetOptions(duplicates="sum", min_users=10)
    assert opts.duplicates == vbpr.Duplicates.SUM and opts.min_users == 10
    ds = vbpr.Dataset(users, items, ratings, options=opts)
    assert ds.num_users == 10
    np.testing.assert_array_equal(ds.csr()[2], [5, 3, 3, 6, 1])
    ds2 = vbpr.Dataset(users, items, ratings, duplicates=vbpr.Duplicates.FIRST)
    np.testing.assert_array_equal(ds2.csr()[2], [5, 1, 3, 2, 1])
    empty = vbpr.Dataset(np.zeros(0, np.int32), np.zeros(0, np.int32), num_users=4,
                         num_items=5)
    assert empty.num_interactions == 0 and empty.num_users == 4


def test_csr_views_are_the_library_memory():
    users, items, ratings = arrays()
    ds = vbpr.Dataset(users, items, ratings)
    off, it, rt = ds.csr()
    p = [ctypes.c_void_p() for _ in range(3)]
    _lib.lib.vbpr_dataset_csr(ds._ptr, *(ctypes.byref(x) for x in p))
    assert [off.ctypes.data, it.ctypes.data, rt.ctypes.data] == [x.value for x in p]
    assert not it.flags.writeable and not off.flags.owndata
    with pytest.raises(ValueError):
        it[0] = 7
    cnt = ctypes.c_void_p()
    _lib.lib.vbpr_dataset_item_counts(ds._ptr, ctypes.byref(cnt))
    assert ds.item_counts().ctypes.data == cnt.value
    # one user's items are a view into the CSR
    assert ds.user_items(2).ctypes.data == it.ctypes.data + 3 * 4


def test_views_keep_the_dataset_alive():
    users, items, ratings = arrays()
    ds = vbpr.Dataset(users, items, ratings)
    items_view = ds.csr()[1]
    res = weakref.ref(ds._res)
    ds.close()
    ds.close()              # safe twice
    del ds
    gc.collect()
    assert res() is not None and res().alive          # the view still needs it
    np.testing.assert_array_equal(items_view, [1, 3, 4, 0, 2])
    derived = items_view[1:3]
    del items_view
    gc.collect()
    assert res() is not None                           # a view of the view too
    np.testing.assert_array_equal(derived, [3, 4])
    del derived
    gc.collect()
    assert res() is None                               # destroyed with the last one


def test_load_files(tmp_path):
    train = tmp_path / "train.tsv"
    test = tmp_path / "test.csv"
    train.write_text("user\titem\trating\n10\t7\t4\n10\t9\t2.5\n30\t7\t5\n")
    test.write_text("10,8,1\n20,9,3\n")
    ds = vbpr.Dataset.load(train)
    assert (ds.num_users, ds.num_items, ds.num_interactions) == (31, 10, 3)
    tr, te = vbpr.Dataset.load_pair(train, test, remap_ids=1)
    assert tr.num_users == te.num_users == 3 and tr.num_items == te.num_items == 3
    np.testing.assert_array_equal(tr.raw_user_ids(), [10, 20, 30])
    np.testing.assert_array_equal(tr.raw_item_ids(), [7, 8, 9])
    assert tr.find_user(30) == 2 and tr.find_item(9) == 2
    with vbpr.DatasetOptions(reference=tr, remap_ids=1) as opts:
        again = vbpr.Dataset.load(test, options=opts)
    assert again.find_user(20) == 1
    lists = tmp_path / "lists.txt"
    lists.write_text("0 1 2\n1\n2 0\n")
    ul = vbpr.Dataset.load(lists, format="user_lists")
    assert ul.num_interactions == 3 and list(ul.user_items(1)) == []


def test_split_and_synthetic():
    with vbpr.Synthetic(num_users=50, num_items=80, mean_preferences=10, seed=3,
                        false_positives=0.2, labels=1) as cfg:
        assert cfg.num_users == 50 and cfg.false_positives == pytest.approx(0.2)
        train, test = cfg.generate()
        scores = cfg.true_scores(4)
        assert scores.shape == (80,) and scores.dtype == np.float32
    assert train.num_users == test.num_users == 50 and train.has_ratings
    for u in range(50):
        assert not set(train.user_items(u)) & set(test.user_items(u))
    a, b = train.split(0.5, seed=1)
    assert a.num_interactions + b.num_interactions == train.num_interactions
    a2, b2 = train.split(0.5, seed=1)
    np.testing.assert_array_equal(a.csr()[1], a2.csr()[1])


def test_sampler_batches(small_data):
    train, _ = small_data
    s = vbpr.Sampler(train, batch_size=64, num_pos=2, num_neg=3, seed=9)
    assert (s.batch_size, s.M, s.N, s.seed, s.epoch) == (64, 2, 3, 9, 0)
    rows, batches = 0, 0
    for users, pos, neg in s:
        assert users.dtype == np.int32 and pos.shape == (users.shape[0], 2)
        for r in range(users.shape[0]):
            u = users[r]
            assert all(train.contains(u, i) for i in pos[r])
            assert not any(train.contains(u, j) for j in neg[r])
            assert len(set(neg[r])) == 3
        rows += users.shape[0]
        batches += 1
    assert rows == s.rows_per_epoch and s.epoch == 1
    # same seed, same rows; out= buffers are filled in place
    t = vbpr.Sampler(train, batch_size=64, num_pos=2, num_neg=3, seed=9)
    bufs = (np.empty(64, np.int32), np.empty((64, 2), np.int32), np.empty((64, 3), np.int32))
    s.epoch = 0
    a = s.next()
    b = t.next(out=bufs)
    assert b[0].ctypes.data == bufs[0].ctypes.data
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert t.position == 64
    t.reset()
    assert t.epoch == 1 and t.position == 0
    with pytest.raises(TypeError, match="int32"):
        t.next(out=(bufs[0], bufs[1].astype(np.int64), bufs[2]))


def test_sampler_keeps_its_dataset_alive(small_data):
    users, items, _ = small_data[0].to_arrays()
    ds = vbpr.Dataset(users, items)
    s = vbpr.Sampler(ds, batch_size=16)
    ds.close()
    del ds
    gc.collect()
    assert s.next()[0].shape == (16,)
    assert s.dataset.closed      # the wrapper is closed, the C data lives on
    with pytest.raises(vbpr.StateError, match="closed"):
        s.dataset.num_users


def test_item_log_priors():
    ds = vbpr.Dataset(np.array([0, 1, 2, 0, 1, 2], np.int32), np.array([0, 0, 0, 1, 3, 3], np.int32),
                      np.array([5, 4, 3, 1, 2, 4], np.float32), num_users=3, num_items=4)
    lp, ln = ds.item_log_priors(a1=0.7, a2=1.0, b1=0.3, b2=0.5)
    assert lp.shape == (4,) and ln.shape == (4,) and lp.dtype == np.float32
    count = np.array([3, 1, 0, 2.0])
    sums = np.array([12, 1, 0, 6.0])
    pop = count + 1
    popularity = np.log1p(pop) / np.log1p(pop.max())
    q = sums / pop
    good = 1 / (1 + np.exp(-(q - q.mean()) / 0.2))
    want_p = 0.7 * np.log(np.maximum(1 - popularity, 1e-12)) + np.log(good)
    want_n = 0.3 * np.log(popularity) + 0.5 * np.log(1 - good)
    np.testing.assert_allclose(lp, want_p, rtol=1e-5)
    np.testing.assert_allclose(ln, want_n, rtol=1e-5)
    with pytest.raises(vbpr.InvalidArgumentError):
        ds.item_log_priors(a1=-1)
