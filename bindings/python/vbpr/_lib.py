"""Finding and loading the C library, and the table of C prototypes.

Every C function the package calls is declared in PROTOTYPES with its
restype and argtypes; one loop applies them (an undeclared prototype would
default to an int return and truncate pointers). Functions returning a
vbpr_status get an errcheck that raises the matching vbpr.Error subclass.
tests/test_prototypes.py checks the table against the public headers.

Array parameters are numpy.ctypeslib.ndpointer types requiring the exact
dtype and C-contiguity: a wrong array is refused at the boundary, never
copied or reinterpreted.
"""
import ctypes
import ctypes.util
import os
import subprocess
import warnings

import numpy as np

from . import _errors

__all__ = ["lib", "lib_path", "PACKAGE_VERSION", "PROTOTYPES", "missing"]

PACKAGE_VERSION = "0.2.0"
_SONAME = "libvbpr.so.0"


# ---- finding the library ----------------------------------------------------

def _pkgconfig_libdir():
    try:
        out = subprocess.run(
            ["pkg-config", "--variable=libdir", "vbpr"],
            capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _candidates():
    """Where to look, in order: $VBPR_LIBRARY (alone when set), next to the
    package, the pkg-config libdir, then the system loader."""
    env = os.environ.get("VBPR_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, _SONAME)
    libdir = _pkgconfig_libdir()
    if libdir:
        yield os.path.join(libdir, _SONAME)
    yield _SONAME
    found = ctypes.util.find_library("vbpr")
    if found:
        yield found


def _loaded_file(cdll, fallback):
    """The file the dynamic loader actually mapped for cdll (for messages)."""
    try:
        fn = cdll.vbpr_version_string
        libdl = ctypes.CDLL(None)

        class DlInfo(ctypes.Structure):
            _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                        ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
        dladdr = libdl.dladdr
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
        dladdr.restype = ctypes.c_int
        info = DlInfo()
        if dladdr(ctypes.cast(fn, ctypes.c_void_p), ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode(errors="replace"))
    except (AttributeError, OSError):
        pass
    return fallback


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(f"{path} (absent)")
            continue
        try:
            cdll = ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{path} ({exc})")
            continue
        return cdll, _loaded_file(cdll, path)
    raise ImportError(
        "cannot load libvbpr, the C library of the vbpr package; tried: "
        + "; ".join(tried) + ". Either install the package with the library built "
        "into it (`pip install .` from the libvbpr source tree), or install the "
        "library (`meson install`, found through ldconfig or pkg-config), or set "
        "VBPR_LIBRARY to its path (e.g. build/lib/libvbpr.so.0). See doc/python.md, "
        "'Installing'.")


lib, lib_path = _load()


# ---- C types ----------------------------------------------------------------

def _opaque(name):
    """A distinct pointer type per handle, so that a sampler passed where a
    loss is expected is a TypeError, not a crash."""
    return ctypes.POINTER(type(name, (ctypes.Structure,), {}))


Loss = _opaque("vbpr_loss")
Dataset = _opaque("vbpr_dataset")
DatasetOptions = _opaque("vbpr_dataset_options")
Sampler = _opaque("vbpr_sampler")
Encoder = _opaque("vbpr_encoder")
Optim = _opaque("vbpr_optim")
Evaluator = _opaque("vbpr_evaluator")
Trainer = _opaque("vbpr_trainer")
Synthetic = _opaque("vbpr_synthetic")


class ParamBounds(ctypes.Structure):
    """vbpr_param_bounds (vbpr/common.h); its layout is fixed forever."""
    _fields_ = [("min", ctypes.c_double), ("max", ctypes.c_double),
                ("default", ctypes.c_double), ("flags", ctypes.c_uint)]


ParamBounds.__name__ = "vbpr_param_bounds"


def _array(dtype, writable=False, nullable=False):
    flags = "C_CONTIGUOUS,WRITEABLE" if writable else "C_CONTIGUOUS"
    base = np.ctypeslib.ndpointer(dtype=dtype, flags=flags)
    if not nullable:
        return base

    def from_param(cls, obj):
        return None if obj is None else base.from_param(obj)
    return type(base.__name__ + "_or_NULL", (base,),
                {"from_param": classmethod(from_param)})


c_status = ctypes.c_int
c_enum = ctypes.c_int
c_size = ctypes.c_size_t
i32, i64, u64 = ctypes.c_int32, ctypes.c_int64, ctypes.c_uint64
dbl, flt = ctypes.c_double, ctypes.c_float
cstr = ctypes.c_char_p
pvoid = ctypes.POINTER(ctypes.c_void_p)   # T ** out-parameters of borrowed buffers
out_d = ctypes.POINTER(ctypes.c_double)
out_i32 = ctypes.POINTER(ctypes.c_int32)
out_i64 = ctypes.POINTER(ctypes.c_int64)
out_size = ctypes.POINTER(ctypes.c_size_t)
out_enum = ctypes.POINTER(ctypes.c_int)
out_bounds = ctypes.POINTER(ParamBounds)

#: numpy dtype of a C size_t array
SIZE_DTYPE = np.dtype(f"u{ctypes.sizeof(ctypes.c_size_t)}")

F32 = _array(np.float32)                 # const float *
F32_OPT = _array(np.float32, nullable=True)
F32_OUT = _array(np.float32, writable=True)
F32_OUT_OPT = _array(np.float32, writable=True, nullable=True)
I32 = _array(np.int32)
I32_OPT = _array(np.int32, nullable=True)
I32_OUT = _array(np.int32, writable=True)
F64 = _array(np.float64)                 # const double *
F64_OPT = _array(np.float64, nullable=True)
F64_OUT = _array(np.float64, writable=True)
SIZES = _array(SIZE_DTYPE)               # const size_t *

# int (*)(void *, vbpr_trainer_event, int64_t epoch, size_t batch,
#         size_t num_batches, double mean_loss)
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, c_enum, i64, c_size, c_size,
                               dbl)



class vbpr_collective(ctypes.Structure):  # noqa: N801 (the C name, for the table test)
    """vbpr/collective.h, version 1: the host's collectives (data parallelism)."""
    _fields_ = [
        ("version", ctypes.c_uint),
        ("rank", ctypes.c_size_t),
        ("size", ctypes.c_size_t),
        ("ctx", ctypes.c_void_p),
        ("all_reduce_sum", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                            ctypes.POINTER(ctypes.c_float))),
        ("all_gather_ids", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                            ctypes.POINTER(ctypes.c_int32),
                                            ctypes.POINTER(ctypes.c_int32))),
        ("abort_job", ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)),
    ]


Collective = ctypes.POINTER(vbpr_collective)

S = True   # returns a vbpr_status: errcheck raises on failure
V = False  # returns a value (or nothing)


def _param_functions(obj, handle, kind=None):
    """The prototypes every configurable object has (vbpr/common.h):
    _param_bounds, _param_name, _param_from_name, _param_parse, _set, _get."""
    bounds_args = [c_enum, c_enum, out_bounds] if kind else [c_enum, out_bounds]
    return {
        f"vbpr_{obj}_param_bounds": (c_status, bounds_args, S),
        f"vbpr_{obj}_param_name": (cstr, [c_enum], V),
        f"vbpr_{obj}_param_from_name": (c_status, [cstr, out_enum], S),
        f"vbpr_{obj}_param_parse": (c_status, [c_enum, cstr, out_d], S),
        f"vbpr_{obj}_set": (c_status, [handle, c_enum, dbl], S),
        f"vbpr_{obj}_get": (c_status, [handle, c_enum, out_d], S),
    }


# name: (restype, argtypes, returns status)
PROTOTYPES = {
    # error.h, version.h, runtime.h
    "vbpr_status_string": (cstr, [c_status], V),
    "vbpr_last_error": (cstr, [], V),
    "vbpr_last_status": (c_status, [], V),
    "vbpr_error_clear": (None, [], V),
    "vbpr_version_number": (ctypes.c_uint, [], V),
    "vbpr_version_string": (cstr, [], V),
    "vbpr_has_module": (ctypes.c_int, [c_enum], V),
    "vbpr_set_num_threads": (c_status, [ctypes.c_size_t], S),
    "vbpr_get_num_threads": (ctypes.c_size_t, [], V),

    # loss.h
    **_param_functions("loss", Loss, kind=True),
    "vbpr_loss_create": (c_status, [c_enum, ctypes.POINTER(Loss)], S),
    "vbpr_loss_destroy": (None, [Loss], V),
    "vbpr_loss_get_kind": (c_enum, [Loss], V),
    "vbpr_loss_preset_count": (c_size, [], V),
    "vbpr_loss_preset_name": (cstr, [c_size], V),
    "vbpr_loss_set_preset": (c_status, [Loss, cstr], S),
    "vbpr_loss_preset_prior_weights": (c_status, [cstr, out_d, out_d, out_d, out_d], S),
    "vbpr_loss_item_log_priors": (c_status, [c_size, F64, F64_OPT, dbl, dbl, dbl, dbl,
                                             F32_OUT, F32_OUT], S),
    "vbpr_loss_forward": (c_status, [Loss, c_size, c_size, F32, F32, F32, F32_OPT,
                                     F32_OPT, ctypes.POINTER(flt)], S),
    "vbpr_loss_backward": (c_status, [Loss, flt, F32_OUT, F32_OUT, F32_OUT], S),
    "vbpr_loss_forward_scores": (c_status, [Loss, c_size, F32, F32, F32_OPT, F32_OPT,
                                            ctypes.POINTER(flt)], S),
    "vbpr_loss_backward_scores": (c_status, [Loss, flt, F32_OUT, F32_OUT], S),
    "vbpr_loss_forward_backward": (c_status, [Loss, c_size, c_size, F32, F32, F32,
                                              F32_OPT, F32_OPT, flt, ctypes.POINTER(flt),
                                              F32_OUT, F32_OUT, F32_OUT], S),
    "vbpr_loss_forward_backward_scores": (c_status, [Loss, c_size, F32, F32, F32_OPT,
                                                     F32_OPT, flt, ctypes.POINTER(flt),
                                                     F32_OUT, F32_OUT], S),
    "vbpr_loss_attention": (c_status, [Loss, F32_OUT_OPT, F32_OUT_OPT], S),
    "vbpr_loss_row_losses": (c_status, [Loss, F32_OUT], S),
    "vbpr_loss_batch_size": (c_status, [Loss, out_size], S),

    # dataset.h
    **_param_functions("dataset_options", DatasetOptions),
    "vbpr_dataset_options_create": (c_status, [ctypes.POINTER(DatasetOptions)], S),
    "vbpr_dataset_options_destroy": (None, [DatasetOptions], V),
    "vbpr_dataset_options_set_reference": (c_status, [DatasetOptions, Dataset], S),
    "vbpr_dataset_create": (c_status, [c_size, c_size, c_size, I32_OPT, I32_OPT, F32_OPT,
                                       DatasetOptions, ctypes.POINTER(Dataset)], S),
    "vbpr_dataset_load": (c_status, [cstr, DatasetOptions, ctypes.POINTER(Dataset)], S),
    "vbpr_dataset_load_pair": (c_status, [cstr, cstr, DatasetOptions,
                                          ctypes.POINTER(Dataset),
                                          ctypes.POINTER(Dataset)], S),
    "vbpr_dataset_destroy": (None, [Dataset], V),
    "vbpr_dataset_num_users": (c_size, [Dataset], V),
    "vbpr_dataset_num_items": (c_size, [Dataset], V),
    "vbpr_dataset_num_interactions": (c_size, [Dataset], V),
    "vbpr_dataset_num_active_users": (c_size, [Dataset], V),
    "vbpr_dataset_has_ratings": (ctypes.c_int, [Dataset], V),
    "vbpr_dataset_csr": (c_status, [Dataset, pvoid, pvoid, pvoid], S),
    "vbpr_dataset_user_items": (c_status, [Dataset, i32, pvoid, out_size], S),
    "vbpr_dataset_contains": (ctypes.c_int, [Dataset, i32, i32], V),
    "vbpr_dataset_item_counts": (c_status, [Dataset, pvoid], S),
    "vbpr_dataset_item_rating_sums": (c_status, [Dataset, pvoid], S),
    "vbpr_dataset_item_mean_ratings": (c_status, [Dataset, dbl, c_size, F64_OUT], S),
    "vbpr_dataset_item_log_priors": (c_status, [Dataset, dbl, dbl, dbl, dbl, c_size,
                                                F32_OUT, F32_OUT], S),
    "vbpr_dataset_raw_user_ids": (c_status, [Dataset, pvoid], S),
    "vbpr_dataset_raw_item_ids": (c_status, [Dataset, pvoid], S),
    "vbpr_dataset_find_user": (c_status, [Dataset, i64, out_i32], S),
    "vbpr_dataset_find_item": (c_status, [Dataset, i64, out_i32], S),
    "vbpr_dataset_split": (c_status, [Dataset, dbl, dbl, u64, ctypes.POINTER(Dataset),
                                      ctypes.POINTER(Dataset)], S),

    # synthetic.h
    **_param_functions("synthetic", Synthetic),
    "vbpr_synthetic_create": (c_status, [ctypes.POINTER(Synthetic)], S),
    "vbpr_synthetic_destroy": (None, [Synthetic], V),
    "vbpr_synthetic_generate": (c_status, [Synthetic, ctypes.POINTER(Dataset),
                                           ctypes.POINTER(Dataset)], S),
    "vbpr_synthetic_true_scores": (c_status, [Synthetic, i32, c_size, F32_OUT], S),

    # sampler.h
    **_param_functions("sampler", Sampler),
    "vbpr_sampler_create": (c_status, [Dataset, ctypes.POINTER(Sampler)], S),
    "vbpr_sampler_destroy": (None, [Sampler], V),
    "vbpr_sampler_next": (c_status, [Sampler, I32_OUT, I32_OUT, I32_OUT, out_size], S),
    "vbpr_sampler_next_shard": (c_status, [Sampler, I32_OUT, I32_OUT, I32_OUT, out_size,
                                           out_size], S),
    "vbpr_sampler_reset": (c_status, [Sampler], S),
    "vbpr_sampler_epoch": (i64, [Sampler], V),
    "vbpr_sampler_rows_per_epoch": (c_size, [Sampler], V),
    "vbpr_sampler_position": (c_size, [Sampler], V),

    # encoder.h
    "vbpr_encoder_create_mf": (c_status, [c_size, c_size, c_size, u64,
                                          ctypes.POINTER(Encoder)], S),
    "vbpr_encoder_create_lightgcn": (c_status, [Dataset, c_size, c_size, u64,
                                                ctypes.POINTER(Encoder)], S),
    "vbpr_encoder_destroy": (None, [Encoder], V),
    "vbpr_encoder_get_kind": (c_enum, [Encoder], V),
    "vbpr_encoder_num_users": (c_size, [Encoder], V),
    "vbpr_encoder_num_items": (c_size, [Encoder], V),
    "vbpr_encoder_dim": (c_size, [Encoder], V),
    "vbpr_encoder_num_layers": (c_size, [Encoder], V),
    "vbpr_encoder_init_params": (c_status, [Encoder, c_enum, dbl, u64], S),
    "vbpr_encoder_forward": (c_status, [Encoder, c_size, c_size, c_size, I32, I32_OPT,
                                        I32_OPT, F32_OUT, F32_OUT_OPT, F32_OUT_OPT], S),
    "vbpr_encoder_backward": (c_status, [Encoder, F32, F32_OPT, F32_OPT], S),
    "vbpr_encoder_zero_grad": (c_status, [Encoder], S),
    "vbpr_encoder_table": (c_status, [Encoder, c_enum, pvoid, pvoid, out_size, out_size], S),
    "vbpr_encoder_touched_rows": (c_status, [Encoder, c_enum, pvoid, out_size], S),
    "vbpr_encoder_embeddings": (c_status, [Encoder, pvoid, pvoid], S),
    "vbpr_encoder_save": (c_status, [Encoder, cstr], S),
    "vbpr_encoder_load": (c_status, [Encoder, cstr], S),
    "vbpr_encoder_export_npy": (c_status, [Encoder, c_enum, cstr], S),

    # optim.h
    **_param_functions("optim", Optim, kind=True),
    "vbpr_optim_create": (c_status, [c_enum, ctypes.POINTER(Optim)], S),
    "vbpr_optim_destroy": (None, [Optim], V),
    "vbpr_optim_get_kind": (c_enum, [Optim], V),
    "vbpr_optim_step": (c_status, [Optim, i32, c_size, F32_OUT, F32], S),
    "vbpr_optim_step_rows": (c_status, [Optim, i32, c_size, c_size, F32_OUT, F32, c_size,
                                        I32_OPT], S),
    "vbpr_optim_step_encoder": (c_status, [Optim, Encoder], S),
    "vbpr_optim_slot_steps": (c_status, [Optim, i32, out_i64], S),
    "vbpr_optim_reset": (c_status, [Optim], S),

    # eval.h
    "vbpr_evaluator_create": (c_status, [Dataset, Dataset, ctypes.POINTER(Evaluator)], S),
    "vbpr_evaluator_destroy": (None, [Evaluator], V),
    "vbpr_evaluator_set_ks": (c_status, [Evaluator, c_size, SIZES], S),
    "vbpr_evaluator_set_long_tail_share": (c_status, [Evaluator, dbl], S),
    "vbpr_evaluator_run": (c_status, [Evaluator, c_size, c_size, c_size, F32, F32], S),
    "vbpr_evaluator_metric": (c_status, [Evaluator, c_enum, c_size, out_d], S),
    "vbpr_evaluator_user_metric": (c_status, [Evaluator, c_enum, c_size, c_size, F64_OUT],
                                   S),
    "vbpr_evaluator_num_users_evaluated": (c_size, [Evaluator], V),
    "vbpr_recommend": (c_status, [Dataset, c_size, c_size, c_size, F32, F32, c_size, I32,
                                  c_size, I32_OUT, F32_OUT_OPT], S),

    # train.h
    **_param_functions("trainer", Trainer),
    "vbpr_trainer_create": (c_status, [Dataset, Dataset, ctypes.POINTER(Trainer)], S),
    "vbpr_trainer_destroy": (None, [Trainer], V),
    "vbpr_trainer_set_ks": (c_status, [Trainer, c_size, SIZES], S),
    "vbpr_trainer_set_progress": (c_status, [Trainer, PROGRESS_FN, ctypes.c_void_p], S),
    # collective.h
    "vbpr_collective_init": (c_status, [Collective, ctypes.c_uint], S),
    "vbpr_trainer_set_collective": (c_status, [Trainer, Collective], S),
    "vbpr_collective_reduce_encoder": (c_status, [Collective, Encoder, c_status,
                                                  ctypes.c_size_t, F32_OUT_OPT], S),
    "vbpr_collective_evaluate": (c_status, [Collective, Evaluator, ctypes.c_size_t,
                                            ctypes.c_size_t, ctypes.c_size_t, F32, F32], S),
    "vbpr_trainer_prepare": (c_status, [Trainer], S),
    "vbpr_trainer_loss": (Loss, [Trainer], V),
    "vbpr_trainer_sampler": (Sampler, [Trainer], V),
    "vbpr_trainer_optim": (Optim, [Trainer], V),
    "vbpr_trainer_encoder": (Encoder, [Trainer], V),
    "vbpr_trainer_evaluator": (Evaluator, [Trainer], V),
    "vbpr_trainer_epoch": (c_status, [Trainer, out_d], S),
    "vbpr_trainer_fit": (c_status, [Trainer], S),
    "vbpr_trainer_epochs_done": (i64, [Trainer], V),
    "vbpr_trainer_evaluate": (c_status, [Trainer], S),
    "vbpr_trainer_metric": (c_status, [Trainer, c_enum, c_size, out_d], S),
    "vbpr_trainer_evaluation_count": (c_size, [Trainer], V),
    "vbpr_trainer_evaluation": (c_status, [Trainer, c_size, c_enum, c_size, out_i64, out_d],
                                S),
}

#: Names in PROTOTYPES that the loaded library does not export (an older
#: library of the same major version). Calling one raises UnsupportedError.
missing = []


def _missing_stub(name):
    def stub(*args, **kwargs):
        raise _errors.UnsupportedError(
            f"{name} is not exported by the libvbpr loaded from {lib_path} "
            f"(version {lib.vbpr_version_string().decode()}); the Python package "
            f"is {PACKAGE_VERSION}", -7)
    stub.__name__ = name
    return stub


for _name, (_restype, _argtypes, _status) in PROTOTYPES.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        missing.append(_name)
        setattr(lib, _name, _missing_stub(_name))
        continue
    _fn.restype = _restype
    _fn.argtypes = _argtypes
    if _status:
        _fn.errcheck = _errors.errcheck

_errors.bind(lib)


def _compatible(runtime, package):
    """Same major version, and before 1.0 the same minor too (0.x releases may
    break the ABI while the soname stays libvbpr.so.0)."""
    r, p = runtime.split("."), package.split(".")
    return r[0] == p[0] and (p[0] != "0" or r[1:2] == p[1:2])


def _check_version():
    runtime = lib.vbpr_version_string().decode()
    if not _compatible(runtime, PACKAGE_VERSION):
        want = ".".join(PACKAGE_VERSION.split(".")[:1 if PACKAGE_VERSION[0] != "0" else 2])
        raise ImportError(
            f"libvbpr {runtime} loaded from {lib_path} does not match the "
            f"Python package vbpr {PACKAGE_VERSION} (their ABIs differ); "
            f"set VBPR_LIBRARY to a libvbpr {want}.x")
    if runtime != PACKAGE_VERSION:
        warnings.warn(f"libvbpr {runtime} loaded from {lib_path} differs from the "
                      f"Python package vbpr {PACKAGE_VERSION}", RuntimeWarning,
                      stacklevel=3)


_check_version()
