"""The C enums as IntEnums. Values are those of the headers (part of the ABI)."""
from enum import IntEnum

__all__ = [
    "Status", "Module", "LossKind", "LossParam", "Estimator", "Attention",
    "DatasetFormat", "Duplicates", "DatasetOption", "SamplerMode", "SamplerParam",
    "EncoderKind", "Init", "Table", "OptimKind", "OptimParam", "Metric",
    "TrainParam", "SyntheticParam",
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


class Module(IntEnum):
    MF = 1
    LIGHTGCN = 2


# ---- loss.h
class LossKind(IntEnum):
    BPR = 1
    VARIATIONAL = 2


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


class Estimator(IntEnum):
    PROTOTYPE = 1
    PROTOTYPE_DETACHED = 2
    ELBO = 3


class Attention(IntEnum):
    HARD = 1
    EASY = -1


LOSS_MAX_SAMPLES = 1048576


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


class DatasetOption(IntEnum):
    FORMAT = 1
    HEADER = 2
    DUPLICATES = 3
    NUM_USERS = 4
    NUM_ITEMS = 5
    MIN_USERS = 6
    MIN_ITEMS = 7
    REMAP_IDS = 8


DATASET_INFER = -1


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


EVAL_MAX_K = 65536
EVAL_MAX_KS = 64


# ---- train.h
class TrainParam(IntEnum):
    ENCODER = 1
    DIM = 2
    LAYERS = 3
    INIT_SCALE = 4
    LOSS = 5
    ESTIMATOR = 6
    NUM_POS = 7
    NUM_NEG = 8
    C_POS = 9
    C_NEG = 10
    NEG_ATTENTION = 11
    POS_HARDNESS = 12
    NEG_HARDNESS = 13
    HARDNESS_TAU = 14
    PRIOR_RARITY = 15
    PRIOR_GOOD = 16
    PRIOR_POPULARITY = 17
    PRIOR_BAD = 18
    OPTIMIZER = 19
    LR = 20
    L2 = 21
    BATCH = 22
    SEED = 23
    NEG_POP_ALPHA = 24
    INIT = 25


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
