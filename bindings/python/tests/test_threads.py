"""Separate objects on separate threads give the single-thread results."""
import threading

import numpy as np

import vbpr


def work(seed, steps=50):
    """Forward/backward of a Loss over several batches; all results."""
    rng = np.random.default_rng(seed)
    out = []
    with vbpr.Loss(estimator="elbo" if seed % 2 else "prototype") as loss:
        for _ in range(steps):
            u = rng.standard_normal((64, 16)).astype(np.float32)
            p = rng.standard_normal((64, 2, 16)).astype(np.float32)
            n = rng.standard_normal((64, 4, 16)).astype(np.float32)
            value, gu, gp, gn = loss.forward_backward(u, p, n)
            out.append((value, gu, gp, gn, loss.backward(0.5)[0]))
    return out


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[0] == y[0]
        for s, t in zip(x[1:], y[1:]):
            np.testing.assert_array_equal(s, t)


def run_threads(fn, args):
    results = [None] * len(args)

    def target(i):
        results[i] = fn(*args[i])
    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_threads_each_with_its_own_loss():
    single = [work(1), work(2)]
    for _ in range(3):
        parallel = run_threads(work, [(1,), (2,)])
        same(parallel[0], single[0])
        same(parallel[1], single[1])


def epoch_rows(ds, seed):
    s = vbpr.Sampler(ds, batch_size=100, num_pos=2, num_neg=3, seed=seed)
    return [tuple(a.copy() for a in batch) for batch in s]


def test_samplers_sharing_a_dataset_across_threads(small_data):
    train, _ = small_data
    single = [epoch_rows(train, 1), epoch_rows(train, 2)]
    parallel = run_threads(epoch_rows, [(train, 1), (train, 2)])
    for a, b in zip(single, parallel):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            for s, t in zip(x, y):
                np.testing.assert_array_equal(s, t)


def test_library_thread_count_does_not_change_results():
    vbpr.set_num_threads(1)
    one = work(3, steps=5)
    vbpr.set_num_threads(2)
    two = work(3, steps=5)
    same(one, two)
