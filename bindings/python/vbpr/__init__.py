"""libvbpr for Python: Variational Bayesian Personalized Ranking over ctypes.

    import vbpr
    loss = vbpr.Loss(vbpr.LossKind.VARIATIONAL, num_pos=2, num_neg=4)
    value, g_user, g_pos, g_neg = loss.forward_backward(user, pos, neg)

Arrays are passed to the C library in place: float32 (int32 for ids)
C-contiguous numpy arrays of the documented shapes. Anything else raises
TypeError or ValueError; the package never copies or converts silently.
Errors of the library raise subclasses of vbpr.Error. Parameters, their
names, ranges and defaults come from the loaded library. PyTorch support is
in vbpr.torch (imported only when used). See doc/python.md.
"""
try:
    import numpy as _np  # noqa: F401
except ImportError as _exc:          # pragma: no cover - depends on the interpreter
    raise ImportError(
        "the vbpr package needs NumPy, which this interpreter does not have: "
        "`pip install numpy` (online), or on Debian install python3-numpy and use "
        "/usr/bin/python3 or a virtual environment made with "
        "`python3 -m venv --system-site-packages` (offline). See doc/python.md, "
        "'Installing'.") from _exc

from ._errors import (Error, InvalidArgumentError, OutOfMemoryError,
                      IOError_ as IOError, ParseError, OutOfRangeError,
                      StateError, UnsupportedError, NumericError,
                      InterruptedError_ as InterruptedError)
from ._lib import lib as _c, lib_path, PACKAGE_VERSION as __version__
from ._enums import (Status, ParamFlag, Module, LossKind, LossParam, Estimator, Attention,
                     DatasetFormat, Duplicates, DatasetOptionsParam, DatasetOption,
                     SamplerMode, SamplerParam, EncoderKind, Init, Table, OptimKind,
                     OptimParam, Metric, TrainerParam, TrainParam, TrainerEvent,
                     SyntheticParam, DATASET_INFER, LOSS_MAX_SAMPLES, ENCODER_NUM_TABLES,
                     ENCODER_MAX_DIM, LIGHTGCN_MAX_LAYERS, OPTIM_MAX_SLOTS,
                     EVALUATOR_MAX_K, EVALUATOR_MAX_KS, EVAL_MAX_K, EVAL_MAX_KS,
                     MAX_THREADS)
from ._params import Bounds, UnknownParameterError
from .loss import Loss, loss_presets, loss_kind, preset_prior_weights, item_log_priors
from .dataset import Dataset, DatasetOptions
from .synthetic import Synthetic, synthetic
from .sampler import Sampler
from .encoder import Encoder, MF, LightGCN
from .optim import Optimizer
from .evaluation import Evaluator, recommend
from .train import Trainer

MODULE_MF = Module.MF
MODULE_LIGHTGCN = Module.LIGHTGCN


def version():
    """The loaded C library's version string, e.g. '0.2.0'."""
    return _c.vbpr_version_string().decode()


def version_number():
    """MAJOR*10000 + MINOR*100 + PATCH of the loaded C library."""
    return _c.vbpr_version_number()


def has_module(module):
    """True when the optional module (Module.MF, Module.LIGHTGCN) is built in."""
    return bool(_c.vbpr_has_module(int(module)))


def set_num_threads(n):
    """Threads the library may use for large work; 0 means one per core, at
    most MAX_THREADS. Process-wide."""
    n = int(n)
    if n < 0:   # a size_t cannot carry it: say so as the library would
        raise InvalidArgumentError(
            f"vbpr_set_num_threads: num_threads must be in [0, {MAX_THREADS}], got {n}")
    _c.vbpr_set_num_threads(min(n, (1 << 64) - 1))


def get_num_threads():
    """Threads the library will use (>= 1)."""
    return int(_c.vbpr_get_num_threads())


def status_string(status):
    """The library's short description of a status code."""
    return _c.vbpr_status_string(int(status)).decode()


__all__ = [
    "__version__", "Error", "InvalidArgumentError", "OutOfMemoryError", "IOError",
    "ParseError", "OutOfRangeError", "StateError", "UnsupportedError",
    "NumericError", "InterruptedError", "UnknownParameterError",
    "version", "version_number", "has_module", "set_num_threads", "get_num_threads",
    "status_string", "lib_path",
    "Status", "ParamFlag", "Bounds", "Module", "LossKind", "LossParam", "Estimator",
    "Attention", "DatasetFormat", "Duplicates", "DatasetOptionsParam", "DatasetOption",
    "SamplerMode", "SamplerParam", "EncoderKind", "Init", "Table", "OptimKind",
    "OptimParam", "Metric", "TrainerParam", "TrainParam", "TrainerEvent",
    "SyntheticParam", "DATASET_INFER", "LOSS_MAX_SAMPLES", "ENCODER_NUM_TABLES",
    "ENCODER_MAX_DIM", "LIGHTGCN_MAX_LAYERS", "OPTIM_MAX_SLOTS", "EVALUATOR_MAX_K",
    "EVALUATOR_MAX_KS", "EVAL_MAX_K", "EVAL_MAX_KS", "MAX_THREADS",
    "MODULE_MF", "MODULE_LIGHTGCN",
    "Loss", "loss_presets", "loss_kind", "preset_prior_weights", "item_log_priors",
    "Dataset", "DatasetOptions", "Synthetic",
    "synthetic", "Sampler", "Encoder", "MF", "LightGCN", "Optimizer", "Evaluator",
    "recommend", "Trainer",
]
