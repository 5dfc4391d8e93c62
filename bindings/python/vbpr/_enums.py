"""The C enums as IntEnums, and the limit macros. Values are those of the
headers (part of the ABI); tests/test_prototypes.py compares every enum and
macro here with include/vbpr/*.h."""
from enum import IntEnum, IntFlag
import ctypes

__all__ = [
    "Status", "ParamFlag", "Module", "LossKind", "LossParam", "Estimator", "Attention",
    "DatasetFormat", "Duplicates", "DatasetOptionsParam", "DatasetOption",
    "SamplerMode", "SamplerParam", "EncoderKind", "Init", "Table", "OptimKind",
    "OptimParam", "Metric", "TrainerParam", "TrainParam", "TrainerEvent",
    "SyntheticParam", "PENDING",
]


class Status(IntEnum):
    OK = 0
    ERR_INVALID_ARGUMENT = -1
    ERR_OUT_OF_MEMORY = -2
    ERR_IO = -3
    ERR_PARSE = -4
    ERR_OUT_OF_RANGE = -5
    ERR_STATE = -6
    ERR_UNSUPPORTED = -7
    ERR_NUMERIC = -8
    ERR_INTERRUPTED = -9


class ParamFlag(IntFlag):
    """VBPR_PARAM_* flags of vbpr_param_bounds."""
    INTEGRAL = 1
    MIN_EXCLUSIVE = 2
    MAX_EXCLUSIVE = 4
    NAMED = 8


# ---- runtime.h
class Module(IntEnum):
    MF = 1
    LIGHTGCN = 2


MAX_THREADS = 4096


# ---- loss.h
class LossKind(IntEnum):
    BPR = 1
    VARIATIONAL = 2
    INFONCE = 3          # pending in C: see PENDING


class LossParam(IntEnum):
    NUM_POS = 1
    NUM_NEG = 2
    C_POS = 3
    C_NEG = 4
    ESTIMATOR = 5
    NEG_ATTENTION = 6
    POS_HARDNESS = 7
    NEG_HARDNESS = 8
    HARDNESS_TAU = 9
    TEMPERATURE = 10     # pending in C: see PENDING


class Estimator(IntEnum):
    PROTOTYPE = 1
    PROTOTYPE_DETACHED = 2
    ELBO = 3


class Attention(IntEnum):
    HARD = 1
    EASY = -1


LOSS_MAX_SAMPLES = 1048576

#: Enum values announced for C (the InfoNCE loss kind, being added to
#: vbpr/loss.h) that the package knows before the headers do. The library in
#: use says whether it has them (vbpr_loss_create(VBPR_LOSS_INFONCE) succeeds
#: or not); the prototype test accepts them while a header lacks them and
#: checks their values once it has them. Empty this once loss.h has both.
PENDING = {("vbpr_loss_kind", "VBPR_LOSS_INFONCE"): 3,
           ("vbpr_loss_param", "VBPR_LOSS_TEMPERATURE"): 10}


# ---- dataset.h
class DatasetFormat(IntEnum):
    AUTO = 0
    TABLE = 1
    USER_LISTS = 2


class Duplicates(IntEnum):
    MAX = 0
    LAST = 1
    FIRST = 2
    MEAN = 3
    SUM = 4


class DatasetOptionsParam(IntEnum):
    FORMAT = 1
    HEADER = 2
    DUPLICATES = 3
    NUM_USERS = 4
    NUM_ITEMS = 5
    MIN_USERS = 6
    MIN_ITEMS = 7
    REMAP_IDS = 8


DatasetOption = DatasetOptionsParam      # the 0.1 name

#: VBPR_DATASET_INFER (SIZE_MAX): infer a universe size from the data.
DATASET_INFER = ctypes.c_size_t(-1).value


# ---- sampler.h
class SamplerMode(IntEnum):
    INTERACTIONS = 0
    USERS = 1


class SamplerParam(IntEnum):
    BATCH_SIZE = 1
    NUM_POS = 2
    NUM_NEG = 3
    SEED = 4
    MODE = 5
    NEG_POP_EXPONENT = 6
    EPOCH = 7
    USERS_EPOCH_ROWS = 8
    WORLD_SIZE = 9
    RANK = 10


# ---- encoder.h
class EncoderKind(IntEnum):
    MF = 1
    LIGHTGCN = 2


class Init(IntEnum):
    NORMAL = 1
    XAVIER_NORMAL = 2


class Table(IntEnum):
    USERS = 0
    ITEMS = 1


ENCODER_NUM_TABLES = 2
ENCODER_MAX_DIM = 4096
LIGHTGCN_MAX_LAYERS = 64


# ---- optim.h
class OptimKind(IntEnum):
    SGD = 1
    ADAM = 2
    LAZY_ADAM = 3


class OptimParam(IntEnum):
    LR = 1
    BETA1 = 2
    BETA2 = 3
    EPS = 4
    WEIGHT_DECAY = 5


OPTIM_MAX_SLOTS = 1024


# ---- eval.h
class Metric(IntEnum):
    PRECISION = 1
    RECALL = 2
    NDCG = 3
    F1 = 4
    HIT_RATE = 5
    APLT = 6


EVALUATOR_MAX_K = 65536
EVALUATOR_MAX_KS = 64
EVAL_MAX_K, EVAL_MAX_KS = EVALUATOR_MAX_K, EVALUATOR_MAX_KS     # the 0.1 names


# ---- train.h
class TrainerParam(IntEnum):
    ENCODER = 1
    DIM = 2
    LAYERS = 3
    INIT = 4
    INIT_SCALE = 5
    LOSS = 6
    OPTIMIZER = 7
    SEED = 8
    PRIOR_RARITY = 9
    PRIOR_GOOD = 10
    PRIOR_POPULARITY = 11
    PRIOR_BAD = 12
    EPOCHS = 13
    EVAL_EVERY = 14


TrainParam = TrainerParam      # the 0.1 name (its members changed in 0.2)


class TrainerEvent(IntEnum):
    BATCH = 1
    EPOCH = 2
    EVALUATION = 3


# ---- synthetic.h
class SyntheticParam(IntEnum):
    NUM_USERS = 1
    NUM_ITEMS = 2
    DIM = 3
    MEAN_PREFERENCES = 4
    TEST_FRACTION = 5
    POPULARITY = 6
    SHARPNESS = 7
    FALSE_POSITIVES = 8
    FALSE_NEGATIVES = 9
    SEED = 10
    LABELS = 11
