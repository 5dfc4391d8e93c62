"""libvbpr for Python: Variational Bayesian Personalized Ranking over ctypes.

    import vbpr
    print(vbpr.version())
"""
from ._errors import (Error, InvalidArgumentError, OutOfMemoryError,
                      IOError_ as IOError, ParseError, OutOfRangeError,
                      StateError, UnsupportedError, NumericError,
                      InterruptedError_ as InterruptedError)
from ._lib import lib as _lib, lib_path, PACKAGE_VERSION as __version__

MODULE_MF = 1
MODULE_LIGHTGCN = 2


def version():
    """The loaded C library's version string, e.g. '0.1.0'."""
    return _lib.vbpr_version_string().decode()


def version_number():
    """MAJOR*10000 + MINOR*100 + PATCH of the loaded C library."""
    return _lib.vbpr_version_number()


def has_module(module):
    """True when the optional module (MODULE_MF, MODULE_LIGHTGCN) is built in."""
    return bool(_lib.vbpr_has_module(int(module)))


def set_num_threads(n):
    """Threads the library may use; 0 means one per core."""
    _lib.vbpr_set_num_threads(int(n))


def get_num_threads():
    return _lib.vbpr_get_num_threads()


__all__ = [
    "Error", "InvalidArgumentError", "OutOfMemoryError", "IOError",
    "ParseError", "OutOfRangeError", "StateError", "UnsupportedError",
    "NumericError", "InterruptedError", "version", "version_number",
    "has_module", "set_num_threads", "get_num_threads", "lib_path",
    "MODULE_MF", "MODULE_LIGHTGCN",
]
