"""The trainer: sampler -> encoder -> loss -> optimizer with evaluation, the
pipeline vbpr-train runs (vbpr/train.h)."""
import ctypes

import numpy as np

from ._enums import (Attention, EncoderKind, Estimator, Init, LossKind, Metric,
                     OptimKind, TrainParam)
from ._errors import InterruptedError_
from ._handle import Handle
from ._lib import PROGRESS_FN, Trainer as _TrainerP, lib
from ._params import with_params

__all__ = ["Trainer"]

_TYPES = {"ENCODER": EncoderKind, "DIM": int, "LAYERS": int, "LOSS": LossKind,
          "ESTIMATOR": Estimator, "NUM_POS": int, "NUM_NEG": int,
          "NEG_ATTENTION": Attention, "OPTIMIZER": OptimKind, "BATCH": int, "SEED": int,
          "INIT": Init}


@with_params(TrainParam, "vbpr_trainer_set", "vbpr_trainer_get", types=_TYPES)
class Trainer(Handle):
    """Trains an encoder with (Variational) BPR (vbpr_trainer).

    Trainer(train, test=None, ks=None, **params): params are the lower-case
    TrainParam names (encoder, dim, layers, init_scale, loss, estimator,
    num_pos, num_neg, c_pos, c_neg, neg_attention, pos_hardness,
    neg_hardness, hardness_tau, prior_rarity, prior_good, prior_popularity,
    prior_bad, optimizer, lr, l2, batch, seed, neg_pop_alpha, init); enum
    values may be given by name ("lightgcn", "elbo", "lazy_adam"). C
    defaults: MF, dim 64, Variational BPR M=2 N=4 c=4, Adam lr 1e-3,
    l2 1e-5, batch 1024, seed 42. The library keeps the datasets alive
    (closing them first is safe). The TrainParam ENCODER is read with get(TrainParam.ENCODER);
    the attribute .encoder is the trainer's Encoder.
    """

    _kind = "Trainer"

    def __init__(self, train, test=None, ks=None, **params):
        ptr = _TrainerP()
        lib.vbpr_trainer_create(train._ptr, None if test is None else test._ptr,
                                ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_trainer_destroy)   # the library holds the datasets
        self._ks = (20,)
        self._callback = None
        self._callback_error = None
        try:
            self.set_params(**params)
            if ks is not None:
                self.set_ks(ks)
        except BaseException:
            self.close()
            raise

    @property
    def ks(self):
        return self._ks

    def set_ks(self, ks):
        """Cut-offs K evaluated (at most 64 values, each in [1, 65536])."""
        if isinstance(ks, (int, np.integer)):
            ks = [ks]
        arr = np.array([int(k) for k in ks], dtype=np.int32)
        lib.vbpr_trainer_set_ks(self._ptr, arr, arr.shape[0])
        self._ks = tuple(int(k) for k in arr)

    def set_progress(self, fn):
        """fn(epoch, batch, num_batches, mean_loss) is called after every batch;
        a true result stops the epoch (epoch() then raises
        vbpr.InterruptedError). An exception raised by fn also stops it and
        is re-raised by epoch(). None removes the callback."""
        if fn is None:
            lib.vbpr_trainer_set_progress(self._ptr, PROGRESS_FN(), None)
            self._callback = None
            return

        def trampoline(_data, epoch, batch, num_batches, mean_loss):
            try:
                return 1 if fn(epoch, batch, num_batches, mean_loss) else 0
            except BaseException as exc:  # reported by epoch()
                self._callback_error = exc
                return 1
        cb = PROGRESS_FN(trampoline)
        lib.vbpr_trainer_set_progress(self._ptr, cb, None)
        self._callback = cb   # the C side holds only the function pointer

    def prepare(self):
        """Builds the encoder, loss, optimizer and sampler (else done by the
        first epoch); parameters are fixed from then on."""
        lib.vbpr_trainer_prepare(self._ptr)

    def epoch(self):
        """Trains one epoch; returns the mean batch loss."""
        out = ctypes.c_double()
        self._callback_error = None
        try:
            lib.vbpr_trainer_epoch(self._ptr, ctypes.byref(out))
        except InterruptedError_:
            err, self._callback_error = self._callback_error, None
            if err is not None:
                raise err
            raise
        return out.value

    @property
    def epochs_done(self):
        return lib.vbpr_trainer_epochs_done(self._ptr)

    def evaluate(self):
        """Evaluates the model on the test set; returns results()."""
        lib.vbpr_trainer_evaluate(self._ptr)
        return self.results()

    def metric(self, metric, k):
        """A metric of the last evaluation at cut-off k."""
        if isinstance(metric, str):
            metric = Metric[metric.upper()]
        out = ctypes.c_double()
        lib.vbpr_trainer_metric(self._ptr, int(metric), int(k), ctypes.byref(out))
        return out.value

    def results(self):
        """{metric name: {k: value}} of the last evaluation."""
        return {m.name.lower(): {k: self.metric(m, k) for k in self._ks} for m in Metric}

    @property
    def encoder(self):
        """The trainer's encoder (borrowed: it keeps the trainer alive), or
        None before prepare()."""
        ptr = lib.vbpr_trainer_encoder(self._ptr)
        if not ptr:
            return None
        from .encoder import Encoder
        return Encoder._wrap(ptr, self)

    def fit(self, epochs, eval_every=0, callback=None):
        """Trains epochs epochs, evaluating every eval_every epochs (and after
        the last when eval_every > 0). Returns a list of
        {"epoch", "loss", and the results() when evaluated}; callback(record)
        is called after each epoch."""
        history = []
        for e in range(int(epochs)):
            rec = {"epoch": self.epochs_done + 1, "loss": self.epoch()}
            if eval_every > 0 and ((e + 1) % eval_every == 0 or e + 1 == epochs):
                rec.update(self.evaluate())
            history.append(rec)
            if callback is not None:
                callback(rec)
        return history

    def _describe(self):
        return f"{self.epochs_done} epochs done"
