"""Parameter setters and getters shared by the objects configured through
vbpr_<object>_set / _get: `obj.set(Param.X, v)`, `obj.get(Param.X)`, and a
property per parameter named after it in lower case (`obj.x`)."""
import ctypes

from ._handle import as_param
from ._lib import lib

__all__ = ["with_params"]


def _convert(value, kind):
    if kind is None:
        return value
    if kind is int:
        return int(value)
    return kind(int(value))


def with_params(enum, set_fn, get_fn, types=None):
    """Class decorator adding set(), get(), set_params() and one property per
    member of enum. types maps a member name to int or to an IntEnum for
    conversion of what get() returns (default: float)."""
    types = types or {}

    def decorate(cls):
        def set_(self, param, value):
            """Sets one parameter (see the C header for ranges). Enum-valued
            parameters also take the member's name, e.g. "elbo"."""
            p = enum(param) if not isinstance(param, str) else enum[param.upper()]
            kind = types.get(p.name)
            if isinstance(value, str) and kind not in (None, int):
                value = kind[value.upper().replace("-", "_")]
            getattr(lib, set_fn)(self._ptr, int(p), as_param(value, p.name.lower()))
            self._param_changed()
            return self

        def get(self, param):
            """Reads one parameter."""
            p = enum(param) if not isinstance(param, str) else enum[param.upper()]
            out = ctypes.c_double()
            getattr(lib, get_fn)(self._ptr, int(p), ctypes.byref(out))
            return _convert(out.value, types.get(p.name))

        def set_params(self, **params):
            """Sets parameters by lower-case name, in the order of the C enum
            (None leaves one at its current value)."""
            names = {m.name.lower(): m for m in enum}
            unknown = sorted(set(params) - set(names))
            if unknown:
                raise TypeError(f"unknown {cls.__name__} parameter(s) {unknown}; "
                                f"known: {sorted(names)}")
            for name, member in names.items():
                if params.get(name) is not None:
                    self.set(member, params[name])
            return self

        cls.set = set_
        if not hasattr(cls, "_param_changed"):
            cls._param_changed = lambda self: None
        cls.get = get
        cls.set_params = set_params
        cls._param_enum = enum
        for member in enum:
            def make(p):
                def fget(self):
                    return get(self, p)

                def fset(self, value):
                    self.set(p, value)
                return property(fget, fset, doc=f"The {p.name} parameter ({set_fn}).")
            name = member.name.lower()
            if not hasattr(cls, name):
                setattr(cls, name, make(member))
        return cls
    return decorate
