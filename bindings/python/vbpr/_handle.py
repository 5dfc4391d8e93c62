"""Handle ownership, borrowed numpy views and the zero-copy argument checks.

Ownership model
---------------
Each C object is held by one `Resource`, whose weakref.finalize calls the
C destroy function exactly once: when close() is called and nothing else
needs the object, or when the last Python reference goes. Whatever needs
the C object alive (a Python wrapper, a numpy view of one of its buffers, a
child object such as a Trainer on its datasets) holds a reference to the
resource, so close() on a wrapper never frees memory still in use: the
destroy waits for the last user. Nothing is ever destroyed twice.
"""
import weakref

import numpy as np

from . import _errors

__all__ = ["Resource", "Handle", "borrowed_view", "check_array", "out_array"]


class Resource:
    """One C handle, its destroy function (called at most once) and the
    resources of the objects it uses (kept alive as long as it is)."""

    __slots__ = ("ptr", "parents", "_finalizer", "__weakref__")

    def __init__(self, ptr, destroy, parents=()):
        self.ptr = ptr
        self.parents = tuple(parents)
        self._finalizer = weakref.finalize(self, destroy, ptr) if destroy else None

    @property
    def alive(self):
        return self._finalizer is None or self._finalizer.alive


class Handle:
    """Base of the Python objects: close() (safe twice), context manager.

    Subclasses get at their C pointer through self._ptr, which raises
    StateError once the object is closed.
    """

    _kind = "object"

    def __init__(self, ptr, destroy, parents=()):
        # parents: the objects this one uses without the library keeping
        # them alive; their resources live as long as this one's.
        self._res = Resource(ptr, destroy, (p._live_resource() for p in parents
                                            if p is not None))

    def _live_resource(self):
        self._ptr  # raises StateError when closed
        return self._res

    @property
    def _ptr(self):
        res = self._res
        if res is None:
            raise _errors.StateError(f"this {self._kind} is closed", -6)
        return res.ptr

    @property
    def closed(self):
        return self._res is None

    def close(self):
        """Releases the C object. Safe to call more than once. Memory still
        used by numpy views or by other objects is freed when they go."""
        # Dropping the last reference runs the resource's finalizer (the C
        # destroy) at once; views and child objects holding it delay it.
        self._res = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __reduce_ex__(self, protocol):
        # A copy would share (or, deep, duplicate) the C handle: refuse both.
        raise TypeError(f"vbpr.{type(self).__name__} objects cannot be pickled or copied")

    def __repr__(self):
        state = "closed" if self.closed else self._describe()
        return f"<vbpr.{type(self).__name__} {state}>"

    def _describe(self):
        return "open"


class _Borrowed:
    """The base object of a numpy view of C memory: keeps the owning
    resource alive as long as the array (or any view of it) exists."""

    __slots__ = ("owner", "__array_interface__")

    def __init__(self, owner, address, shape, dtype, readonly):
        self.owner = owner
        self.__array_interface__ = {
            "version": 3, "shape": tuple(int(s) for s in shape),
            "typestr": np.dtype(dtype).str, "data": (int(address), bool(readonly)),
        }


def borrowed_view(owner, address, shape, dtype, readonly=True):
    """A numpy array over C memory at address, without copying. The array's
    base keeps owner (a Resource) alive."""
    count = 1
    for s in shape:
        count *= int(s)
    if count == 0 or not address:
        arr = np.empty(shape, dtype=dtype)
        arr.flags.writeable = not readonly
        return arr
    return np.asarray(_Borrowed(owner, address, shape, dtype, readonly))


def check_array(a, dtype, shape, name, writable=False, allow_none=False):
    """Returns a unchanged if it is a numpy array of exactly dtype and shape
    (None in shape matches any size), C-contiguous (and writable when asked);
    raises TypeError or ValueError otherwise. Never copies."""
    if a is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a numpy array, got None")
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of {np.dtype(dtype).name}, got "
                        f"{type(a).__name__} (convert it with numpy.ascontiguousarray(x, "
                        f"dtype=numpy.{np.dtype(dtype).name}))")
    if a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {a.dtype} "
                        f"(the bindings never convert: use x.astype(numpy."
                        f"{np.dtype(dtype).name}))")
    if len(a.shape) != len(shape) or any(
            want is not None and got != want for got, want in zip(a.shape, shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (the bindings never copy: use "
                         f"numpy.ascontiguousarray)")
    if writable and not a.flags.writeable:
        raise ValueError(f"{name} must be writable")
    if not a.flags.aligned:
        raise ValueError(f"{name} must be aligned")
    return a


def out_array(out, dtype, shape, name):
    """out checked as a writable output of exactly dtype and shape, or a new
    array when out is None."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    return check_array(out, dtype, shape, name, writable=True)


def fspath(path):
    import os
    return os.fsencode(os.fspath(path))

