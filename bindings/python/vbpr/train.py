"""The trainer: sampler -> encoder -> loss -> optimizer with evaluation, the
pipeline vbpr-train runs (vbpr/train.h).

As in C, the trainer composes its parts instead of mirroring their
parameters: its own parameters (encoder kind, dim, layers, init, loss kind,
optimizer kind, seed, item-prior weights, epochs, eval_every) are set on it;
after prepare() it lends its parts (trainer.loss, .sampler, .optimizer,
.encoder, .evaluator) and their parameters are set on them. For
convenience the constructor's keywords, set() and get() route a name to the
object that owns it, by the library's name lookup: the trainer's own
parameters first, then the loss's, the optimizer's and the sampler's
(so num_pos and num_neg are the loss's, the one source of M and N, and seed
is the trainer's, which gives it to the sampler)."""
import ctypes
import weakref

from ._enums import (EncoderKind, Init, LossKind, Metric, OptimKind, TrainerEvent,
                     TrainerParam)
from ._errors import InterruptedError_, StateError
from ._handle import Handle
from ._lib import PROGRESS_FN, Trainer as _TrainerP, lib
from ._params import ParamSpace, UnknownParameterError, configurable

__all__ = ["Trainer", "TRAINER_PARAMS", "ALIASES"]

#: The trainer's own parameters, as the library names and bounds them.
TRAINER_PARAMS = ParamSpace("trainer", TrainerParam,
                            values={TrainerParam.ENCODER: EncoderKind,
                                    TrainerParam.INIT: Init,
                                    TrainerParam.LOSS: LossKind,
                                    TrainerParam.OPTIMIZER: OptimKind})

#: Keyword names of the 0.1 Trainer whose parameter moved to a part under
#: another name in 0.2; still accepted (documented in doc/python.md).
ALIASES = {"l2": ("optimizer", "weight_decay"),
           "batch": ("sampler", "batch_size"),
           "neg_pop_alpha": ("sampler", "neg_pop_exponent")}

_PART_ORDER = ("loss", "optimizer", "sampler")


def _spaces():
    from .loss import LOSS_PARAMS
    from .optim import OPTIM_PARAMS
    from .sampler import SAMPLER_PARAMS
    return {"trainer": TRAINER_PARAMS, "loss": LOSS_PARAMS, "optimizer": OPTIM_PARAMS,
            "sampler": SAMPLER_PARAMS}


def route(name):
    """(owner, parameter member) for a parameter name: "trainer", "loss",
    "optimizer" or "sampler" and the member of its enum. "part.name"
    addresses a part explicitly ("sampler.seed"); ALIASES are accepted. An
    unknown name raises UnknownParameterError (a TypeError) listing the
    known names of every part."""
    spaces = _spaces()
    if "." in name:
        owner, _, key = name.partition(".")
        if owner not in spaces:
            raise UnknownParameterError(
                f"unknown trainer part '{owner}' in '{name}'; parts: "
                f"{', '.join(spaces)}", -1)
        return owner, spaces[owner].lookup(key)
    if name.lower().replace("-", "_") in ALIASES:
        owner, key = ALIASES[name.lower().replace("-", "_")]
        return owner, spaces[owner].lookup(key)
    for owner in ("trainer",) + _PART_ORDER:
        try:
            return owner, spaces[owner].lookup(name)
        except UnknownParameterError:
            continue
    known = "; ".join(f"{owner}: {', '.join(space.members())}"
                      for owner, space in spaces.items())
    raise UnknownParameterError(f"unknown Trainer parameter '{name}'; known: {known}; "
                                f"aliases: {', '.join(ALIASES)}", -1)


@configurable(TRAINER_PARAMS)
class Trainer(Handle):
    """Trains an encoder with (Variational) BPR (vbpr_trainer).

    Trainer(train, test=None, ks=(20,), prepare=True, **params). params are
    names of the trainer's own parameters (encoder, dim, layers, init,
    init_scale, loss, optimizer, seed, prior_rarity, prior_good,
    prior_popularity, prior_bad, epochs, eval_every) or of its parts'
    (the loss's c_pos, estimator, ..., the optimizer's lr, weight_decay, ...,
    the sampler's batch_size, ...), each routed to its owner (see route());
    the 0.1 names l2, batch and neg_pop_alpha are aliases of the optimizer's
    weight_decay and the sampler's batch_size and neg_pop_exponent. Values
    may be given by name ("lightgcn", "elbo", "exact", "lazy_adam").
    Defaults are the library's (Trainer.describe()); prepare() sets some
    on the parts it builds (see vbpr/train.h).

    With prepare=True (default) the parts are built at once and part
    parameters set on them; with prepare=False the trainer's own
    structural parameters may still be changed, and part parameters given
    here wait for prepare() (called by the first epoch(), fit() or
    evaluate()).

    trainer.loss, .sampler, .optimizer, .encoder and .evaluator are the
    parts (None before prepare()), borrowed: each keeps the trainer alive.
    The trainer's own parameters are properties (trainer.dim, .epochs, ...)
    except encoder, loss and optimizer, whose names are the parts: read
    their kinds with trainer.get("encoder") and so on. The library keeps
    the datasets alive (closing them first is safe).
    """

    _kind = "Trainer"

    def __init__(self, train, test=None, ks=(20,), prepare=True, **params):
        ptr = _TrainerP()
        lib.vbpr_trainer_create(train._ptr, None if test is None else test._ptr,
                                ctypes.byref(ptr))
        super().__init__(ptr, lib.vbpr_trainer_destroy)   # the library holds the datasets
        self._has_test = test is not None
        self._pending = []          # (owner, member, value) waiting for prepare()
        self._parts = {}
        self._ks, self._ks_log = (), []
        self._progress = None       # (fn, events)
        self._callback_ref = None   # the ctypes callback (the C side keeps only a pointer)
        self._callback_error = None
        self._fit = None            # (history, callback, pending record) during fit()
        try:
            self.set_params(**params)
            self.set_ks(ks)
            if prepare:
                self.prepare()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def describe():
        """The trainer's own parameters: names, defaults and ranges."""
        return TRAINER_PARAMS.describe()

    # ---- parameters, routed to their owner -----------------------------------

    @property
    def prepared(self):
        """True once prepare() has built the parts."""
        return bool(lib.vbpr_trainer_loss(self._ptr))

    def set_params(self, **params):
        """set() for each keyword, the trainer's own parameters first (in
        the order of the C enum), then the parts'."""
        routed = [(route(k), k, v) for k, v in params.items() if v is not None]
        for (owner, member), key, value in sorted(
                routed, key=lambda r: (r[0][0] != "trainer", int(r[0][1]))):
            self.set(key, value)
        return self

    def set(self, param, value):
        """Sets a parameter of the trainer or of the part that owns it (see
        route()); a part parameter set before prepare() waits for it."""
        if not isinstance(param, str):
            return self._param_set(param, value)
        owner, member = route(param)
        if owner == "trainer":
            return self._param_set(member, value)
        part = self._part(owner)
        if part is None:
            self._pending.append((owner, member, value))
        else:
            part.set(member, value)
        return self

    def get(self, param):
        """Reads a parameter of the trainer or of the part that owns it; a
        part parameter before prepare() is StateError unless one was given
        (then the given value)."""
        if not isinstance(param, str):
            return self._param_get(param)
        owner, member = route(param)
        if owner == "trainer":
            return self._param_get(member)
        part = self._part(owner)
        if part is not None:
            return part.get(member)
        for o, m, v in reversed(self._pending):
            if (o, m) == (owner, member):
                return v
        raise StateError(f"the trainer's {owner} does not exist before prepare(): "
                         f"call trainer.prepare() to read its parameters", -6)

    def __getattr__(self, name):
        # Only for names that are not attributes: a part's parameter
        # (trainer.lr is trainer.optimizer.lr, trainer.c_pos the loss's).
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            route(name)
        except UnknownParameterError:
            raise AttributeError(f"'Trainer' object has no attribute '{name}'") from None
        return self.get(name)

    def __setattr__(self, name, value):
        if not name.startswith("_") and not hasattr(type(self), name):
            try:
                route(name)
            except UnknownParameterError:
                pass
            else:
                self.set(name, value)
                return
        super().__setattr__(name, value)

    # ---- parts ---------------------------------------------------------------

    def prepare(self):
        """Builds the encoder, loss, optimizer, sampler and evaluator
        (vbpr_trainer_prepare) and sets the part parameters given so far.
        After it the structural parameters are fixed. Idempotent."""
        lib.vbpr_trainer_prepare(self._ptr)
        pending, self._pending = self._pending, []
        for owner, member, value in pending:
            self._part(owner).set(member, value)
        return self

    def _part(self, owner):
        """The part named owner, wrapped once (None before prepare())."""
        if owner in self._parts:
            return self._parts[owner]
        from .encoder import Encoder
        from .evaluation import Evaluator
        from .loss import Loss
        from .optim import Optimizer
        from .sampler import Sampler
        getter, cls = {"loss": (lib.vbpr_trainer_loss, Loss),
                       "sampler": (lib.vbpr_trainer_sampler, Sampler),
                       "optimizer": (lib.vbpr_trainer_optim, Optimizer),
                       "encoder": (lib.vbpr_trainer_encoder, Encoder),
                       "evaluator": (lib.vbpr_trainer_evaluator, Evaluator)}[owner]
        ptr = getter(self._ptr)
        if not ptr:
            return None
        if owner == "evaluator":
            part = cls._wrap(ptr, self, self._ks)
        else:
            part = cls._wrap(ptr, self)
        self._parts[owner] = part
        return part

    @property
    def loss(self):
        """The trainer's Loss (vbpr_trainer_loss), or None before prepare()."""
        return self._part("loss")

    @property
    def sampler(self):
        """The trainer's Sampler, or None before prepare()."""
        return self._part("sampler")

    @property
    def optimizer(self):
        """The trainer's Optimizer (vbpr_trainer_optim), or None before
        prepare()."""
        return self._part("optimizer")

    @property
    def encoder(self):
        """The trainer's Encoder, or None before prepare()."""
        return self._part("encoder")

    @property
    def evaluator(self):
        """The trainer's Evaluator, or None before prepare() or without a
        test set. Its K set is the trainer's (set it with set_ks())."""
        return self._part("evaluator")

    # ---- evaluation settings and history -------------------------------------

    @property
    def ks(self):
        return self._ks

    def set_ks(self, ks):
        """Cut-offs K evaluated (the library checks them)."""
        from .evaluation import ks_array
        arr = ks_array(ks)
        lib.vbpr_trainer_set_ks(self._ptr, arr.shape[0], arr)
        self._ks = tuple(int(k) for k in arr)
        self._ks_log.append((self.evaluation_count, self._ks))
        ev = self._parts.get("evaluator")
        if ev is not None:
            ev._ks = self._ks

    def metric(self, metric, k):
        """A metric of the last evaluation at cut-off k."""
        out = ctypes.c_double()
        lib.vbpr_trainer_metric(self._ptr, int(_metric(metric)), int(k), ctypes.byref(out))
        return out.value

    def results(self):
        """{metric name: {k: value}} of the last evaluation."""
        return {m.name.lower(): {k: self.metric(m, k) for k in self._ks} for m in Metric}

    @property
    def evaluation_count(self):
        """Evaluations made so far (vbpr_trainer_evaluation_count)."""
        return lib.vbpr_trainer_evaluation_count(self._ptr)

    def evaluation(self, index, metric, k):
        """(epochs done, value) of metric at k in evaluation index of the
        history (vbpr_trainer_evaluation)."""
        epoch, value = ctypes.c_int64(), ctypes.c_double()
        lib.vbpr_trainer_evaluation(self._ptr, int(index), int(_metric(metric)), int(k),
                                    ctypes.byref(epoch), ctypes.byref(value))
        return epoch.value, value.value

    def evaluations(self):
        """The evaluation history: [{"epoch": e, metric: {k: value}}], each
        with the Ks set at the time."""
        out = []
        for i in range(self.evaluation_count):
            ks = [ks for start, ks in self._ks_log if start <= i][-1]
            rec = {"epoch": self.evaluation(i, Metric.RECALL, ks[0])[0]}
            for m in Metric:
                rec[m.name.lower()] = {k: self.evaluation(i, m, k)[1] for k in ks}
            out.append(rec)
        return out

    # ---- training ------------------------------------------------------------

    def set_progress(self, fn, events=False):
        """Installs fn as the progress callback; None removes it.
        events=False: fn(epoch, batch, num_batches, mean_loss) after every
        batch; events=True: fn(event, epoch, batch, num_batches, mean_loss)
        for every TrainerEvent (BATCH, EPOCH, EVALUATION). Epochs are
        numbered from 1. A true result stops training (epoch() or fit() then
        raise vbpr.InterruptedError); an exception raised by fn stops it too
        and is re-raised by them."""
        self._progress = None if fn is None else (fn, bool(events))
        self._install()

    def _install(self):
        """Installs the trampoline when anything listens, else nothing."""
        if self._progress is None and self._fit is None:
            lib.vbpr_trainer_set_progress(self._ptr, PROGRESS_FN(), None)
            self._callback_ref = None
            return
        if self._callback_ref is None:
            me = weakref.ref(self)      # no reference cycle through the callback

            def trampoline(_data, event, epoch, batch, num_batches, mean_loss):
                tr = me()
                return 0 if tr is None else tr._on_event(event, epoch, batch, num_batches,
                                                          mean_loss)
            self._callback_ref = PROGRESS_FN(trampoline)
            lib.vbpr_trainer_set_progress(self._ptr, self._callback_ref, None)

    def _on_event(self, event, epoch, batch, num_batches, mean_loss):
        try:
            stop = False
            if self._fit is not None:
                self._record(event, epoch, mean_loss)
            if self._progress is not None:
                fn, events = self._progress
                if events:
                    stop = fn(TrainerEvent(event), epoch, batch, num_batches, mean_loss)
                elif event == TrainerEvent.BATCH:
                    stop = fn(epoch, batch, num_batches, mean_loss)
            return 1 if stop else 0
        except BaseException as exc:    # re-raised by epoch() or fit()
            self._callback_error = exc
            return 1

    def _record(self, event, epoch, mean_loss):
        """fit()'s history: one record per epoch, completed by its
        evaluation when there is one; the callback gets each record once it
        is complete (at its evaluation, or at the next event)."""
        history, callback, pending = self._fit
        if event == TrainerEvent.EVALUATION and pending is not None:
            pending.update(self.results())
        if pending is not None and event != TrainerEvent.EPOCH:
            self._fit = (history, callback, None)
            if callback is not None:
                callback(pending)
        if event == TrainerEvent.EPOCH:
            record = {"epoch": epoch, "loss": mean_loss}
            history.append(record)
            self._fit = (history, callback, record)

    def _run(self, fn, *args):
        self._callback_error = None
        try:
            fn(self._ptr, *args)
        except InterruptedError_:
            err, self._callback_error = self._callback_error, None
            if err is not None:
                raise err
            raise

    def epoch(self):
        """Trains one epoch (vbpr_trainer_epoch); returns the mean batch loss."""
        self.prepare()
        out = ctypes.c_double()
        self._run(lib.vbpr_trainer_epoch, ctypes.byref(out))
        return out.value

    def fit(self, epochs=None, eval_every=None, callback=None):
        """Trains until `epochs` epochs are done in all (the EPOCHS
        parameter, counted from the start; None keeps it), evaluating every
        eval_every epochs and after the last (EVAL_EVERY; 0 never), as
        vbpr_trainer_fit. Returns this call's history: [{"epoch", "loss",
        and the results() when evaluated}]; callback(record) gets each record
        when it is complete. Interrupted (a progress callback), calling it
        again continues."""
        if epochs is not None:
            self._param_set(TrainerParam.EPOCHS, epochs)
        if eval_every is not None:
            self._param_set(TrainerParam.EVAL_EVERY, eval_every)
        self.prepare()
        history = []
        self._fit = (history, callback, None)
        self._install()
        try:
            self._run(lib.vbpr_trainer_fit)
        finally:
            _, _, pending = self._fit
            self._fit = None
            self._install()
        if pending is not None and callback is not None:
            callback(pending)
        return history

    @property
    def epochs_done(self):
        return lib.vbpr_trainer_epochs_done(self._ptr)

    def evaluate(self):
        """Evaluates the model on the test set; returns results()."""
        self.prepare()
        lib.vbpr_trainer_evaluate(self._ptr)
        return self.results()

    def close(self):
        """Releases the trainer; parts still held by the caller keep it alive
        until they go."""
        self._parts = {}
        super().close()

    def _describe(self):
        return f"{self.epochs_done} epochs done"


def _metric(m):
    return Metric[m.upper()] if isinstance(m, str) else Metric(m)
