"""close() and finalisers: safe twice, never a double free, parents kept
alive, and no memory growth over 10,000 create/destroy cycles."""
import copy
import gc
import os
import pickle
import weakref

import numpy as np
import pytest

import vbpr
from vbpr._handle import Handle, Resource

HAVE_MF = vbpr.has_module(vbpr.Module.MF)


def test_resource_destroys_exactly_once():
    calls = []
    res = Resource(1234, calls.append)
    fin = res._finalizer
    fin()
    fin()
    del res
    gc.collect()
    assert calls == [1234]


def test_close_twice_context_manager_and_use_after_close():
    with vbpr.Loss() as loss:
        assert not loss.closed
    assert loss.closed
    loss.close()
    loss.close()
    with pytest.raises(vbpr.StateError, match="Loss is closed"):
        loss.forward(np.ones((1, 2), np.float32), np.ones((1, 2, 2), np.float32),
                     np.ones((1, 4, 2), np.float32))
    assert "closed" in repr(loss)


def test_close_then_garbage_collection_destroys_once():
    destroyed = []

    class Probe(Handle):
        pass
    p = Probe(99, destroyed.append)
    q = Probe(98, destroyed.append)
    p.close()
    p.close()
    del p, q
    gc.collect()
    assert sorted(destroyed) == [98, 99]


def test_children_keep_parents():
    destroyed = []

    class Probe(Handle):
        pass
    parent = Probe(1, destroyed.append)
    child = Probe(2, destroyed.append, parents=(parent,))
    parent.close()
    gc.collect()
    assert destroyed == []            # the child still uses it
    child.close()
    gc.collect()
    assert destroyed == [2, 1]        # child first, then its parent
    with pytest.raises(vbpr.StateError):
        Probe(3, None, parents=(parent,))    # a closed parent cannot be used


def test_objects_cannot_be_copied_or_pickled():
    loss = vbpr.Loss()
    for op in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="cannot be pickled or copied"):
            op(loss)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_cycle(train, u, p, n):
    with vbpr.Loss() as loss:
        loss.forward_backward(u, p, n)
    ds = vbpr.Dataset(*train)
    s = vbpr.Sampler(ds, batch_size=8, num_pos=2, num_neg=4)
    ds.close()
    s.next()
    s.close()
    opt = vbpr.Optimizer()
    if HAVE_MF:
        enc = vbpr.MF(40, 50, 8)
        tbl = enc.table(vbpr.Table.USERS)[0]
        opt.step_encoder(enc)
        enc.close()
        assert tbl.shape == (40, 8)   # the view outlives close()
        del tbl
    else:
        opt.step(0, u.reshape(-1).copy(), u.reshape(-1))
    opt.close()
    vbpr.Loss("bpr")       # dropped without close(): the finaliser frees it


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer holds freed memory in quarantine")
def test_no_leak_over_10000_cycles():
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 30, 400).astype(np.int32),
             rng.integers(0, 50, 400).astype(np.int32))
    u = rng.standard_normal((16, 8)).astype(np.float32)
    p = rng.standard_normal((16, 2, 8)).astype(np.float32)
    n = rng.standard_normal((16, 4, 8)).astype(np.float32)
    for _ in range(500):           # warm up allocator pools and caches
        one_cycle(train, u, p, n)
    gc.collect()
    before = rss_bytes()
    for _ in range(10_000):
        one_cycle(train, u, p, n)
    gc.collect()
    growth = rss_bytes() - before
    # One cycle allocates about 30 kB in the library (two MF tables and their
    # gradients alone are 2 x 2 x 90 x 8 x 4 bytes); leaking any of it would
    # grow by well over 100 MB. Allow 8 MB of allocator noise.
    assert growth < 8 << 20, f"RSS grew by {growth / 1e6:.1f} MB over 10,000 cycles"


def test_finalizer_runs_when_dropped():
    loss = vbpr.Loss()
    ref = weakref.ref(loss._res)
    del loss
    gc.collect()
    assert ref() is None
