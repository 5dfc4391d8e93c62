"""The prototype table against the public headers: every function declared
VBPR_API has a prototype with matching argument and return types, and every
C enum value has its Python twin. A C function added to a header without a
prototype here fails this test."""
import ctypes
import re

import numpy as np
import pytest

import vbpr
from vbpr import _enums, _errors, _lib

from conftest import source_root


def _headers():
    inc = source_root() / "include" / "vbpr"
    files = sorted(inc.glob("*.h")) + [inc / "version.h.in"]
    assert len(files) >= 10, f"public headers not found in {inc}"
    text = "\n".join(f.read_text() for f in files)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


HEADERS = _headers()
ENUMS = set(re.findall(r"typedef\s+enum\s+(\w+)", HEADERS))
STRUCTS = set(re.findall(r"typedef\s+struct\s+(\w+)\s+\w+\s*;", HEADERS)) | set(
    re.findall(r"typedef\s+struct\s+(\w+)\s*\{", HEADERS))
FNPTRS = set(re.findall(r"typedef\s+\w+\s*\(\s*\*\s*(\w+)\s*\)", HEADERS))


def _declarations():
    """{name: (return type, [parameter types])} of every VBPR_API function."""
    code = "\n".join(line for line in HEADERS.splitlines()
                     if not line.lstrip().startswith("#"))
    decls = {}
    for stmt in code.split(";"):
        if "VBPR_API" not in stmt:
            continue
        stmt = " ".join(stmt.split())
        m = re.search(r"VBPR_API\s+(.*?)\b(vbpr_\w+)\s*\((.*)\)\s*$", stmt)
        assert m, f"cannot parse declaration: {stmt}"
        params = [] if m.group(3).strip() in ("", "void") else \
            [p.strip() for p in m.group(3).split(",")]
        types = [re.sub(r"\b\w+$", "", p).strip() if re.search(r"\w\s*$", p) and
                 len(re.findall(r"\w+", p.replace("const", ""))) > 1 else p for p in params]
        decls[m.group(2)] = (m.group(1).strip(), types)
    return decls


DECLS = _declarations()

_SCALARS = {"float": "f32", "double": "f64", "int": "i32", "unsigned": "u32",
            "int32_t": "i32", "int64_t": "i64", "uint64_t": "u64", "size_t": "u64",
            "char": "char", "void": "void"}


def c_desc(ctype):
    """Normalised description of a C type, e.g. 'ptr:f32', 'i32'."""
    t = ctype.replace("const", " ")
    stars = t.count("*")
    base = t.replace("*", " ").split()
    assert len(base) == 1, f"unexpected C type {ctype!r}"
    base = base[0]
    if base in ENUMS:
        desc = "i32"
    elif base in STRUCTS:
        desc = "struct:" + base
    elif base in FNPTRS:
        desc = "fnptr"
    else:
        assert base in _SCALARS, f"unknown C type {base!r} (in {ctype!r})"
        desc = _SCALARS[base]
    return "ptr:" * stars + desc


def py_desc(t):
    """The same description of a ctypes type."""
    if t is None:
        return "void"
    if hasattr(t, "_dtype_"):       # numpy.ctypeslib.ndpointer
        return "ptr:" + {"float32": "f32", "float64": "f64", "int32": "i32",
                         "int64": "i64", "uint64": "u64"}[np.dtype(t._dtype_).name]
    if t is ctypes.c_char_p:
        return "ptr:char"
    if t is ctypes.c_void_p:
        return "ptr:void"
    if issubclass(t, ctypes._CFuncPtr):
        return "fnptr"
    if issubclass(t, ctypes._Pointer):
        return "ptr:" + py_desc(t._type_)
    if issubclass(t, ctypes.Structure):
        return "struct:" + t.__name__
    if issubclass(t, (ctypes.c_float, ctypes.c_double)):
        return "f%d" % (8 * ctypes.sizeof(t))
    kind = "u" if t(-1).value != -1 else "i"
    return "%s%d" % (kind, 8 * ctypes.sizeof(t))


def compatible(c, py):
    if c == py:
        return True
    # T ** out-parameters of borrowed buffers are declared void **
    return py == "ptr:ptr:void" and c.startswith("ptr:ptr:")


def test_headers_were_parsed():
    assert len(DECLS) >= 100
    for name in ("vbpr_loss_forward", "vbpr_dataset_csr", "vbpr_trainer_set_progress",
                 "vbpr_version_string", "vbpr_recommend"):
        assert name in DECLS


def test_every_api_function_has_a_prototype():
    missing = sorted(set(DECLS) - set(_lib.PROTOTYPES))
    assert not missing, ("declared VBPR_API but without a prototype in "
                         f"vbpr/_lib.py PROTOTYPES: {missing}")


def test_no_prototype_without_a_declaration():
    extra = sorted(set(_lib.PROTOTYPES) - set(DECLS))
    assert not extra, f"prototypes of functions no header declares: {extra}"


def test_the_library_exports_every_prototype():
    assert _lib.missing == [], f"not exported by {_lib.lib_path}: {_lib.missing}"


@pytest.mark.parametrize("name", sorted(DECLS))
def test_prototype_matches_declaration(name):
    if name not in _lib.PROTOTYPES:
        pytest.fail(f"{name} has no prototype")
    ret, params = DECLS[name]
    restype, argtypes, status = _lib.PROTOTYPES[name]
    assert len(argtypes) == len(params), \
        f"{name}: {len(params)} parameters in the header, {len(argtypes)} in the table"
    for i, (c, py) in enumerate(zip(params, argtypes)):
        assert compatible(c_desc(c), py_desc(py)), \
            f"{name} parameter {i + 1}: header {c!r} ({c_desc(c)}), table {py_desc(py)}"
    assert compatible(c_desc(ret), py_desc(restype)), \
        f"{name} returns {ret!r} ({c_desc(ret)}), table {py_desc(restype)}"
    returns_status = ret == "vbpr_status" and name != "vbpr_last_status"
    assert status == returns_status, f"{name}: errcheck flag should be {returns_status}"
    fn = getattr(_lib.lib, name)
    assert fn.argtypes == argtypes and fn.restype is restype
    assert (fn.errcheck is _errors.errcheck) == returns_status


# ---- enums and constants -----------------------------------------------------

ENUM_MAP = {
    "vbpr_status": (_enums.Status, "VBPR_"),
    "vbpr_module": (_enums.Module, "VBPR_MODULE_"),
    "vbpr_loss_kind": (_enums.LossKind, "VBPR_LOSS_"),
    "vbpr_loss_param": (_enums.LossParam, "VBPR_LOSS_"),
    "vbpr_estimator": (_enums.Estimator, "VBPR_ESTIMATOR_"),
    "vbpr_attention": (_enums.Attention, "VBPR_ATTENTION_"),
    "vbpr_dataset_format": (_enums.DatasetFormat, "VBPR_DATASET_FORMAT_"),
    "vbpr_dataset_duplicates": (_enums.Duplicates, "VBPR_DATASET_DUPLICATES_"),
    "vbpr_dataset_options_param": (_enums.DatasetOptionsParam, "VBPR_DATASET_OPTIONS_"),
    "vbpr_sampler_mode": (_enums.SamplerMode, "VBPR_SAMPLER_MODE_"),
    "vbpr_sampler_param": (_enums.SamplerParam, "VBPR_SAMPLER_"),
    "vbpr_encoder_kind": (_enums.EncoderKind, "VBPR_ENCODER_"),
    "vbpr_init": (_enums.Init, "VBPR_INIT_"),
    "vbpr_table": (_enums.Table, "VBPR_TABLE_"),
    "vbpr_optim_kind": (_enums.OptimKind, "VBPR_OPTIM_"),
    "vbpr_optim_param": (_enums.OptimParam, "VBPR_OPTIM_"),
    "vbpr_metric": (_enums.Metric, "VBPR_METRIC_"),
    "vbpr_trainer_param": (_enums.TrainerParam, "VBPR_TRAINER_"),
    "vbpr_trainer_event": (_enums.TrainerEvent, "VBPR_TRAINER_EVENT_"),
    "vbpr_synthetic_param": (_enums.SyntheticParam, "VBPR_SYNTHETIC_"),
}


def _enum_values(name):
    body = re.search(r"typedef\s+enum\s+%s\s*\{(.*?)\}" % name, HEADERS, re.S).group(1)
    return {k: int(v) for k, v in re.findall(r"(\w+)\s*=\s*(-?\d+)", body)}


def test_every_c_enum_is_mapped():
    assert ENUMS == set(ENUM_MAP), f"unmapped C enums: {sorted(ENUMS - set(ENUM_MAP))}"


@pytest.mark.parametrize("cname", sorted(ENUM_MAP))
def test_enum_values_match(cname):
    """Every value of the header, and nothing else, except the values
    announced in _enums.PENDING while the header lacks them."""
    enum, prefix = ENUM_MAP[cname]
    c_values = {k[len(prefix):]: v for k, v in _enum_values(cname).items()}
    py_values = {m.name: int(m) for m in enum}
    for (ename, cval), value in _enums.PENDING.items():
        if ename == cname and cval[len(prefix):] not in c_values:
            py_values.pop(cval[len(prefix):])
    assert c_values == py_values


def test_pending_values_are_known_members():
    """PENDING names real members with their values, so that the header's
    version of them is compared once it exists."""
    by_c = {c: enum for c, (enum, _) in ENUM_MAP.items()}
    for (ename, cval), value in _enums.PENDING.items():
        enum, prefix = ENUM_MAP[ename]
        assert int(enum[cval[len(prefix):]]) == value and ename in by_c


def test_param_flags_match():
    for flag in vbpr.ParamFlag:
        m = re.search(r"#\s*define\s+VBPR_PARAM_%s\s+(\d+)u?" % flag.name, HEADERS)
        assert m and int(m.group(1)) == int(flag), flag


@pytest.mark.parametrize("macro, value", [
    ("VBPR_LOSS_MAX_SAMPLES", vbpr.LOSS_MAX_SAMPLES),
    ("VBPR_ENCODER_MAX_DIM", vbpr.ENCODER_MAX_DIM),
    ("VBPR_LIGHTGCN_MAX_LAYERS", vbpr.LIGHTGCN_MAX_LAYERS),
    ("VBPR_OPTIM_MAX_SLOTS", vbpr.OPTIM_MAX_SLOTS),
    ("VBPR_EVALUATOR_MAX_K", vbpr.EVALUATOR_MAX_K),
    ("VBPR_EVALUATOR_MAX_KS", vbpr.EVALUATOR_MAX_KS),
    ("VBPR_ENCODER_NUM_TABLES", vbpr.ENCODER_NUM_TABLES),
    ("VBPR_MAX_THREADS", vbpr.MAX_THREADS),
    ("VBPR_DATASET_INFER", vbpr.DATASET_INFER),
    ("VBPR_STATUS_MIN", min(int(s) for s in vbpr.Status)),
])
def test_constants_match(macro, value):
    m = re.search(r"#\s*define\s+%s\s+\(?(-?\w+)\)?" % macro, HEADERS)
    assert m, f"{macro} not found"
    text = m.group(1)
    c_value = ctypes.c_size_t(-1).value if text == "SIZE_MAX" else int(text)
    assert c_value == value


def test_every_error_status_has_a_class():
    for status in vbpr.Status:
        if status != vbpr.Status.OK:
            cls = _errors._BY_STATUS[int(status)]
            assert issubclass(cls, vbpr.Error) and cls.status == int(status)
