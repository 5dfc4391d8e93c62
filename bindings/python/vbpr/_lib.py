"""Finding and loading the C library, and the table of C prototypes.

Every C function the package calls is declared here with argtypes and
restype: an undeclared prototype would default to an int return and
truncate pointers.
"""
import ctypes
import ctypes.util
import os
import subprocess

from . import _errors

__all__ = ["lib", "lib_path", "PACKAGE_VERSION"]

PACKAGE_VERSION = "0.1.0"
_SONAME = "libvbpr.so.0"

c_status = ctypes.c_int


def _candidates():
    env = os.environ.get("VBPR_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, _SONAME)
    try:
        libdir = subprocess.run(
            ["pkg-config", "--variable=libdir", "vbpr"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        libdir = ""
    if libdir:
        yield os.path.join(libdir, _SONAME)
    yield _SONAME
    found = ctypes.util.find_library("vbpr")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(f"{path} (absent)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as exc:
            tried.append(f"{path} ({exc})")
    raise ImportError("cannot load libvbpr; tried: " + "; ".join(tried)
                      + ". Set VBPR_LIBRARY to the library's path.")


lib, lib_path = _load()

# name: (restype, argtypes). Status-returning calls get errcheck.
_PROTOTYPES = {
    "vbpr_version_number": (ctypes.c_uint, []),
    "vbpr_version_string": (ctypes.c_char_p, []),
    "vbpr_status_string": (ctypes.c_char_p, [ctypes.c_int]),
    "vbpr_last_error": (ctypes.c_char_p, []),
    "vbpr_last_status": (ctypes.c_int, []),
    "vbpr_error_clear": (None, []),
    "vbpr_has_module": (ctypes.c_int, [ctypes.c_int]),
    "vbpr_set_num_threads": (c_status, [ctypes.c_int]),
    "vbpr_get_num_threads": (ctypes.c_int, []),
}
_STATUS_FUNCS = {"vbpr_set_num_threads"}


def declare(prototypes, status_funcs):
    """Declares prototypes on the loaded library (used by each module)."""
    for name, (restype, argtypes) in prototypes.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
        if name in status_funcs:
            fn.errcheck = _errors.errcheck


declare(_PROTOTYPES, _STATUS_FUNCS)
_errors.bind(lib)


def _check_version():
    runtime = lib.vbpr_version_string().decode()
    if runtime.split(".")[0] != PACKAGE_VERSION.split(".")[0]:
        raise ImportError(
            f"libvbpr {runtime} loaded from {lib_path} does not match the "
            f"Python package {PACKAGE_VERSION} (major versions differ)")
    if runtime != PACKAGE_VERSION:
        import warnings
        warnings.warn(f"libvbpr {runtime} loaded from {lib_path}; the Python "
                      f"package is {PACKAGE_VERSION}", RuntimeWarning,
                      stacklevel=3)


_check_version()
