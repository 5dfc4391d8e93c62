"""Every exception class, each raised by a real failing library call, with
the status and the library's message."""
import ctypes
import struct

import numpy as np
import pytest

import vbpr
from vbpr import _lib


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def invalid_argument(tmp_path):
    vbpr.Loss(kind=7)


def out_of_memory(tmp_path):
    # No public Python call can ask for more than memory without really
    # trying to allocate it; this one is refused by the size check alone:
    # a count of 2^62 interactions (the arrays are never read).
    one = np.zeros(1, np.int32)
    out = _lib.Dataset()
    _lib.lib.vbpr_dataset_create(vbpr.DATASET_INFER, vbpr.DATASET_INFER, 1 << 62, one, one,
                                 None, None, ctypes.byref(out))


def io_error(tmp_path):
    vbpr.Dataset.load(tmp_path / "no-such-file.tsv")


def parse_error(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("user\titem\n0\t1\n2\tthree\n")
    vbpr.Dataset.load(path)


def out_of_range(tmp_path):
    ds = vbpr.Dataset(np.array([0, 1], np.int32), np.array([1, 0], np.int32))
    ds.user_items(5)


def state_error(tmp_path):
    vbpr.Loss().backward()


def unsupported(tmp_path):
    if not vbpr.has_module(vbpr.Module.MF):
        vbpr.MF(3, 4, 2)     # a module that is not built in
    # a model file from a future format version (header checksum valid)
    enc = vbpr.MF(3, 4, 2)
    path = tmp_path / "model.vbpr"
    enc.save(path)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 8, 2)
    struct.pack_into("<Q", raw, 56, fnv1a64(bytes(raw[:56])))
    path.write_bytes(bytes(raw))
    enc.load(path)


def numeric(tmp_path):
    loss = vbpr.Loss("bpr")
    u = np.ones((2, 3), np.float32)
    u[1, 2] = np.inf
    loss.forward(u, np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))


def interrupted(tmp_path):
    train, _ = vbpr.synthetic(num_users=30, num_items=40, mean_preferences=8)
    tr = vbpr.Trainer(train, batch=32)
    tr.set_progress(lambda *args: True)
    tr.epoch()


CASES = [
    (invalid_argument, vbpr.InvalidArgumentError, -1, ValueError, "vbpr_loss_create"),
    (out_of_memory, vbpr.OutOfMemoryError, -2, MemoryError, "vbpr_dataset_create"),
    (io_error, vbpr.IOError, -3, OSError, "no-such-file.tsv"),
    (parse_error, vbpr.ParseError, -4, ValueError, "three"),
    (out_of_range, vbpr.OutOfRangeError, -5, IndexError, "vbpr_dataset_user_items"),
    (state_error, vbpr.StateError, -6, RuntimeError, "vbpr_loss_backward"),
    (unsupported, vbpr.UnsupportedError, -7, NotImplementedError, "vbpr_encoder_"),
    (numeric, vbpr.NumericError, -8, ArithmeticError, "inf"),
    (interrupted, vbpr.InterruptedError, -9, vbpr.Error, "vbpr_trainer_epoch"),
]


@pytest.mark.parametrize("fail, cls, status, builtin, text", CASES,
                         ids=[c[1].__name__ for c in CASES])
def test_each_status_raises_its_class(tmp_path, fail, cls, status, builtin, text):
    if fail is interrupted and not vbpr.has_module(vbpr.Module.MF):
        pytest.skip("the trainer needs the mf module")
    vbpr_clear = _lib.lib.vbpr_error_clear
    vbpr_clear()
    with pytest.raises(cls) as info:
        fail(tmp_path)
    err = info.value
    assert type(err) is cls and isinstance(err, vbpr.Error) and isinstance(err, builtin)
    assert err.status == status == int(vbpr.Status(status))
    assert text in str(err)
    assert err.message == str(err) == _lib.lib.vbpr_last_error().decode()
    assert _lib.lib.vbpr_last_status() == status


def test_all_statuses_are_covered():
    assert sorted(c[2] for c in CASES) == sorted(
        int(s) for s in vbpr.Status if s != vbpr.Status.OK)


def test_status_strings():
    assert vbpr.status_string(0) == "ok"
    assert vbpr.status_string(-3) != vbpr.status_string(-4)
    assert vbpr.status_string(-1000) == "unknown status"
