import threading

import pytest

import vbpr


def test_version_matches_package():
    assert vbpr.version() == vbpr.__version__
    major, minor, patch = (int(x) for x in vbpr.version().split("."))
    assert vbpr.version_number() == major * 10000 + minor * 100 + patch


def test_threads_round_trip_and_error():
    vbpr.set_num_threads(2)
    assert vbpr.get_num_threads() == 2
    with pytest.raises(vbpr.InvalidArgumentError) as info:
        vbpr.set_num_threads(-5)
    assert info.value.status == -1
    assert "vbpr_set_num_threads" in str(info.value) and "-5" in str(info.value)
    assert isinstance(info.value, vbpr.Error) and isinstance(info.value, ValueError)
    vbpr.set_num_threads(0)
    assert vbpr.get_num_threads() >= 1


def test_error_classes_are_distinct():
    classes = [vbpr.InvalidArgumentError, vbpr.OutOfMemoryError, vbpr.IOError,
               vbpr.ParseError, vbpr.OutOfRangeError, vbpr.StateError,
               vbpr.UnsupportedError, vbpr.NumericError, vbpr.InterruptedError]
    statuses = [c.status for c in classes]
    assert statuses == list(range(-1, -10, -1))
    assert all(issubclass(c, vbpr.Error) for c in classes)


def test_modules_are_reported():
    assert vbpr.has_module(vbpr.MODULE_MF) in (True, False)
    assert vbpr.has_module(99) is False


def test_errors_are_per_thread():
    seen = {}

    def worker(bad):
        try:
            vbpr.set_num_threads(bad)
        except vbpr.Error as exc:
            seen[bad] = str(exc)

    threads = [threading.Thread(target=worker, args=(v,)) for v in (-7, 99999)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "-7" in seen[-7] and "99999" in seen[99999]
