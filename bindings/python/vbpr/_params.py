"""Parameters of the objects configured through vbpr_<object>_set / _get
(loss, sampler, optimizer, trainer, dataset options, synthetic data).

Everything about a parameter comes from the library's one table per object
(vbpr/common.h): its name (vbpr_<object>_param_name), the lookup of a name
(_param_from_name: case-insensitive, '-' matching '_'), its range, default
and flags (_param_bounds) and the parsing of a value given as text, value
names and aliases included (_param_parse: "elbo", "exact", "plugin", "easy",
"lazy_adam"). Nothing here restates a range, a default or a name: the
package follows the library it loads.

A configurable class gets, from `configurable(space)`:
  obj.set(param, value)   param: a member of the C enum, its value, or its
                          name; value: a number, an enum member, or text
                          parsed by the library ("elbo", "1e-3")
  obj.get(param)          int for integral parameters, the IntEnum member for
                          named values, else float
  obj.set_params(**kw)    by name, applied in the order of the C enum
  obj.params()            {name: value} of every parameter of this object
  obj.<name>              one property per parameter, named by the library
"""
import collections
import ctypes
import functools

from . import _errors
from ._enums import ParamFlag
from ._lib import ParamBounds, lib

__all__ = ["Bounds", "ParamSpace", "configurable", "as_number"]

#: What vbpr_<object>_param_bounds() says about a parameter.
Bounds = collections.namedtuple("Bounds", "min max default flags")


def as_number(value, name):
    """A float for a C double parameter (bools and numpy scalars accepted)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a value name, got {value!r}") from None


class ParamSpace:
    """The parameters of one C object type, as the library describes them.

    obj: the C object name ("loss", "dataset_options"); enum: the IntEnum of
    its vbpr_<obj>_param; kinded: bounds depend on the object's kind
    (vbpr_loss_param_bounds(kind, p)); values: {member: IntEnum} giving the
    Python type of named values (vbpr_estimator for ESTIMATOR, ...)."""

    def __init__(self, obj, enum, kinded=False, values=None):
        self.obj, self.enum, self.kinded = obj, enum, kinded
        self.values = dict(values or {})
        self._fn = {verb: getattr(lib, f"vbpr_{obj}_{verb}")
                    for verb in ("set", "get", "param_name", "param_from_name",
                                 "param_parse", "param_bounds")}

    def __repr__(self):
        return f"<ParamSpace vbpr_{self.obj}_param>"

    # ---- names -----------------------------------------------------------

    @functools.lru_cache(maxsize=None)
    def name(self, p):
        """The library's name of parameter p, or None if it has none (a
        value this library does not know)."""
        raw = self._fn["param_name"](int(p))
        return None if raw is None else raw.decode()

    def members(self):
        """{name: member} of the parameters the library names, in enum order."""
        return {self.name(m): m for m in self.enum if self.name(m) is not None}

    def lookup(self, key):
        """The enum member for key: a member, its integer value, or a name
        (vbpr_<obj>_param_from_name; an unknown name raises a TypeError
        carrying the library's message, which lists the known names)."""
        if isinstance(key, str):
            out = ctypes.c_int()
            try:
                self._fn["param_from_name"](key.encode(), ctypes.byref(out))
            except _errors.InvalidArgumentError as exc:
                raise UnknownParameterError(exc.message, exc.status) from None
            return self.enum(out.value)
        try:
            return self.enum(int(key))
        except ValueError:
            raise UnknownParameterError(
                f"{key!r} is not a vbpr_{self.obj}_param value", -1) from None

    # ---- bounds and values -------------------------------------------------

    @functools.lru_cache(maxsize=None)
    def bounds(self, p, kind=None):
        """Bounds(min, max, default, flags) of parameter p (on an object of
        kind, for the loss and the optimizer), from the library."""
        b = ParamBounds()
        args = (int(kind), int(p)) if self.kinded else (int(p),)
        self._fn["param_bounds"](*args, ctypes.byref(b))
        return Bounds(b.min, b.max, b.default, ParamFlag(b.flags))

    def parse(self, p, text):
        """A value given as text, read by the library: a number or a value
        name ("elbo", "exact"); InvalidArgumentError lists the valid names."""
        out = ctypes.c_double()
        self._fn["param_parse"](int(p), str(text).encode(), ctypes.byref(out))
        return out.value

    def to_c(self, p, value):
        """The double the C setter takes for value."""
        if isinstance(value, str):
            return self.parse(p, value)
        return as_number(value, self.name(p) or str(p))

    def from_c(self, p, value, kind=None):
        """A C double as the Python value: int (integral), enum member (named
        value), or float."""
        try:
            flags = self.bounds(p, kind).flags
        except _errors.Error:
            return value
        if flags & (ParamFlag.INTEGRAL | ParamFlag.NAMED):
            value = int(value)
            enum = self.values.get(p)
            if enum is not None and value in enum._value2member_map_:
                return enum(value)
        return value

    def describe(self, kind=None):
        """A text table of the parameters (names, defaults, ranges) as the
        loaded library defines them, for docstrings and help()."""
        lines = []
        for name, p in self.members().items():
            try:
                b = self.bounds(p, kind)
            except _errors.Error:
                continue            # not a parameter of this kind
            lo = "(" if b.flags & ParamFlag.MIN_EXCLUSIVE else "["
            hi = ")" if b.flags & ParamFlag.MAX_EXCLUSIVE else "]"
            default = self.from_c(p, b.default, kind)
            shown = default.name.lower() if hasattr(default, "name") else f"{default:g}"
            if b.flags & ParamFlag.NAMED:
                rng = "named values"
            elif b.flags & ParamFlag.INTEGRAL:
                rng = f"integer in {lo}{b.min:.0f}, {b.max:.0f}{hi}"
            else:
                rng = f"{lo}{b.min:g}, {b.max:g}{hi}"
            lines.append(f"    {name}: default {shown}, {rng}")
        return "\n".join(lines)


class UnknownParameterError(_errors.InvalidArgumentError, TypeError):
    """A parameter name the library does not know (also a TypeError, as an
    unknown keyword argument is in Python)."""


def configurable(space, kind_of=None):
    """Class decorator: set(), get(), set_params(), params() and one property
    per parameter named by the library. kind_of(self) gives the object's kind
    for kinded spaces (loss, optimizer)."""

    def kind(self):
        return kind_of(self) if kind_of is not None else None

    def decorate(cls):
        def set_(self, param, value):
            """Sets one parameter, validated by the library (its error names
            the parameter, the range and the value). value: a number, an enum
            member, or text the library parses ("elbo", "exact", "1e-3")."""
            p = space.lookup(param)
            space._fn["set"](self._ptr, int(p), space.to_c(p, value))
            self._param_changed()
            return self

        def get(self, param):
            """Reads one parameter (int, enum member or float)."""
            p = space.lookup(param)
            out = ctypes.c_double()
            space._fn["get"](self._ptr, int(p), ctypes.byref(out))
            return space.from_c(p, out.value, kind(self))

        def set_params(self, **params):
            """Sets parameters by name (as the library names them, any case,
            '-' or '_'), in the order of the C enum; None leaves one as it is."""
            members = [(space.lookup(k), v) for k, v in params.items() if v is not None]
            for p, v in sorted(members, key=lambda pv: int(pv[0])):
                self.set(p, v)
            return self

        def params(self):
            """{name: value} of every parameter this object has."""
            out = {}
            for name, p in space.members().items():
                try:
                    space.bounds(p, kind(self))
                except _errors.Error:
                    continue        # not a parameter of this object's kind
                out[name] = self.get(p)
            return out

        # The generic ones stay reachable as _param_set/_param_get for classes
        # that define their own set/get (the Trainer routes names to parts).
        cls._param_set, cls._param_get = set_, get
        for attr, fn in (("set", set_), ("get", get), ("set_params", set_params),
                         ("params", params)):
            if attr not in cls.__dict__:
                setattr(cls, attr, fn)
        if not hasattr(cls, "_param_changed"):
            cls._param_changed = lambda self: None
        cls._params_space = space
        for name, member in space.members().items():
            if hasattr(cls, name):
                continue

            def make(p):
                return property(lambda self: get(self, p), lambda self, v: self.set(p, v),
                                doc=f"The parameter {space.name(p)} "
                                    f"(vbpr_{space.obj}_set/_get).")
            setattr(cls, name, make(member))
        return cls
    return decorate
