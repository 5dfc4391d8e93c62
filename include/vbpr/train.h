/*
 * libvbpr: the trainer, one object that runs the whole pipeline
 * (sampler -> encoder -> loss -> optimizer, with periodic evaluation) so
 * that C, C++, Python and the vbpr-train program share one implementation.
 *
 * The trainer composes the library's objects; it does not mirror their
 * parameters. Its own parameters (vbpr_trainer_param) choose what to build
 * (encoder kind and size, loss kind, optimizer kind, seed), the item
 * priors it computes from the training data, and the schedule of
 * vbpr_trainer_fit(). vbpr_trainer_prepare() builds the parts; from then on
 * vbpr_trainer_loss(), _sampler(), _optim(), _encoder() and _evaluator()
 * lend them out, and their own parameters are set on them with their own
 * setters (vbpr_loss_set(vbpr_trainer_loss(tr), VBPR_LOSS_C_POS, 8)).
 *
 * What prepare sets on the parts it builds: the sampler's SEED is the
 * trainer's SEED; the optimizer's WEIGHT_DECAY is 1e-5 (the reference
 * code's L2); everything else keeps the part's own default. The loss is the
 * one source of M and N: at the start of every epoch the trainer gives the
 * sampler the loss's NUM_POS and NUM_NEG (which restarts the sampler's
 * current epoch when they changed) and grows its batch buffers to the
 * sampler's BATCH_SIZE.
 *
 * Ownership: the trainer holds a reference to its train and test datasets
 * (datasets are reference counted and immutable), so the caller may destroy
 * its own handles at any time after vbpr_trainer_create(). Everything else
 * is owned by the trainer; the parts it lends are borrowed: valid until the
 * trainer is destroyed, never to be destroyed by the caller.
 *
 * Threads: one trainer (with its parts) is driven by one thread at a time;
 * it uses the library's worker threads (vbpr_set_num_threads) inside its
 * calls.
 */
#ifndef VBPR_TRAIN_H
#define VBPR_TRAIN_H

#include "vbpr/common.h"
#include "vbpr/dataset.h"
#include "vbpr/encoder.h"
#include "vbpr/eval.h"
#include "vbpr/loss.h"
#include "vbpr/optim.h"
#include "vbpr/sampler.h"

VBPR_BEGIN_DECLS

typedef struct vbpr_trainer vbpr_trainer;

/**
 * The trainer's own parameters, set with vbpr_trainer_set(). Values are
 * explicit and never renumbered. Bounds and defaults:
 * vbpr_trainer_param_bounds(); names in parentheses. The ones marked
 * "structural" choose what vbpr_trainer_prepare() builds and are
 * VBPR_ERR_STATE after it; the others may change at any time.
 */
typedef enum vbpr_trainer_param {
  /** ("encoder") structural: a vbpr_encoder_kind ("mf", "lightgcn",
   * "xsimgcl"), default VBPR_ENCODER_MF. XSimGCL's own parameters are set
   * on vbpr_trainer_encoder() after prepare (vbpr_encoder_set()), and its
   * contrastive term joins every batch's loss. */
  VBPR_TRAINER_ENCODER = 1,
  /** ("dim") structural: embedding size, 1..VBPR_ENCODER_MAX_DIM, default 64 */
  VBPR_TRAINER_DIM = 2,
  /** ("layers") structural: LightGCN and XSimGCL layers K,
   * 1..VBPR_LIGHTGCN_MAX_LAYERS, default 1 (XSimGCL's paper uses 2) */
  VBPR_TRAINER_LAYERS = 3,
  /** ("init") structural: 0 ("default") keeps the encoder's own
   * initialisation (MF Normal(0, 0.01), LightGCN and XSimGCL Xavier
   * normal), else a vbpr_init ("normal", "xavier") */
  VBPR_TRAINER_INIT = 4,
  /** ("init_scale") structural: the scale of INIT (see vbpr_init), in
   * [0, 1000]; 0 (default) is the init's usual one: 0.01 for NORMAL, gain 1
   * for XAVIER_NORMAL */
  VBPR_TRAINER_INIT_SCALE = 5,
  /** ("loss") structural: a vbpr_loss_kind ("bpr", "variational",
   * "infonce"), default VBPR_LOSS_VARIATIONAL */
  VBPR_TRAINER_LOSS = 6,
  /** ("optimizer") structural: a vbpr_optim_kind ("sgd", "adam",
   * "lazy_adam", "adagrad", "sparse_adam"), default VBPR_OPTIM_ADAM */
  VBPR_TRAINER_OPTIMIZER = 7,
  /** ("seed") structural: seed of the initialisation and of the sampler,
   * an integer in [0, 2^53], default 42 */
  VBPR_TRAINER_SEED = 8,
  /** ("prior_rarity") a1: weight of log rarity in the positive log-prior,
   * in [0, 1000], default 0 (see vbpr_dataset_item_log_priors()) */
  VBPR_TRAINER_PRIOR_RARITY = 9,
  /** ("prior_good") a2: weight of log good in the positive log-prior */
  VBPR_TRAINER_PRIOR_GOOD = 10,
  /** ("prior_popularity") b1: weight of log popularity in the negative
   * log-prior */
  VBPR_TRAINER_PRIOR_POPULARITY = 11,
  /** ("prior_bad") b2: weight of log bad in the negative log-prior */
  VBPR_TRAINER_PRIOR_BAD = 12,
  /** ("epochs") epochs vbpr_trainer_fit() trains up to, counted from the
   * start, in [0, 2^31-1]; default 100 */
  VBPR_TRAINER_EPOCHS = 13,
  /** ("eval_every") vbpr_trainer_fit() evaluates after every this many
   * epochs and after the last; 0 never. In [0, 2^31-1], default 5 */
  VBPR_TRAINER_EVAL_EVERY = 14,
  /** ("fused") 1 ("on") trains each batch on the fused path
   * (vbpr_optim_step_tuples: per tuple, in place, threads lock-free), 0
   * ("off", default) on the batched path (encoder forward, loss, encoder
   * backward, optimizer step). The fused path needs the MF encoder and a
   * row-wise optimizer (sgd, adagrad, sparse_adam), else an epoch fails with
   * VBPR_ERR_UNSUPPORTED; the learning rate then applies to each tuple's
   * gradient, not to a batch mean. May change between epochs. */
  VBPR_TRAINER_FUSED = 15,
  /** ("noise_track") 1: keep per-interaction noise statistics while
   * training (see "Noise diagnosis" below); 0 (default): off. May change
   * at any time; statistics gathered so far are kept. */
  VBPR_TRAINER_NOISE_TRACK = 16,
  /** ("noise_momentum") m of the statistics' running averages: at each
   * visit avg = m * avg + (1 - m) * value (the first visit sets it), in
   * [0, 1); default 0.9, about the last 10 visits (5 epochs at M = 2) */
  VBPR_TRAINER_NOISE_MOMENTUM = 17,
  /** ("checkpoint_every") with a checkpoint file set
   * (vbpr_trainer_set_checkpoint()), vbpr_trainer_fit() writes it after
   * every this many epochs (after that epoch's evaluation), after the last,
   * and when stopped by the progress callback; 0: only those two. In
   * [0, 2^31-1], default 1 */
  VBPR_TRAINER_CHECKPOINT_EVERY = 18
} vbpr_trainer_param;

/** Bounds and default of @p p (see vbpr_param_bounds). */
VBPR_API vbpr_status vbpr_trainer_param_bounds(vbpr_trainer_param p,
                                               vbpr_param_bounds *bounds);
/** The name of @p p ("eval_every"), static; NULL if unknown. */
VBPR_API const char *vbpr_trainer_param_name(vbpr_trainer_param p);
/** The parameter named @p name (case-insensitive, '-' matches '_'). */
VBPR_API vbpr_status vbpr_trainer_param_from_name(const char *name, vbpr_trainer_param *p);
/** A value of @p p given as text (a number, or a name such as "lightgcn"),
 * validated against the bounds. */
VBPR_API vbpr_status vbpr_trainer_param_parse(vbpr_trainer_param p, const char *text,
                                              double *value);

/**
 * Creates a trainer over @p train (required, with >= 1 interaction) and
 * @p test (may be NULL: no evaluation), taking a reference to each. The
 * test set must not have more users or items than the train set (load both
 * with one universe, e.g. vbpr_dataset_load_pair()).
 * @param[out] out  the new trainer, the caller's to destroy; set to NULL on
 *                  entry.
 */
VBPR_API vbpr_status vbpr_trainer_create(const vbpr_dataset *train,
                                         const vbpr_dataset *test,
                                         vbpr_trainer **out);
/** Frees the trainer and its parts (the datasets when it held the last
 * reference). NULL is a no-op. */
VBPR_API void vbpr_trainer_destroy(vbpr_trainer *tr);

/**
 * Sets one of the trainer's own parameters.
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (unknown parameter, value out
 *   of bounds); VBPR_ERR_STATE (a structural parameter after prepare).
 */
VBPR_API vbpr_status vbpr_trainer_set(vbpr_trainer *tr, vbpr_trainer_param p,
                                      double value);
/** Reads one of the trainer's own parameters into *value. */
VBPR_API vbpr_status vbpr_trainer_get(const vbpr_trainer *tr, vbpr_trainer_param p,
                                      double *value);

/** The cut-offs K evaluated, copied (default {20}); 1 <= n <=
 * VBPR_EVALUATOR_MAX_KS, each K in [1, VBPR_EVALUATOR_MAX_K], distinct. */
VBPR_API vbpr_status vbpr_trainer_set_ks(vbpr_trainer *tr, size_t n, const size_t *ks);

/** What a progress callback is told about. Values are explicit and never
 * renumbered. */
typedef enum vbpr_trainer_event {
  /** After each batch: batch of num_batches of the epoch in progress;
   * mean_loss is the mean batch loss of the epoch so far. */
  VBPR_TRAINER_EVENT_BATCH = 1,
  /** After each epoch completed by vbpr_trainer_fit(): mean_loss is the
   * epoch's mean batch loss. */
  VBPR_TRAINER_EVENT_EPOCH = 2,
  /** After each evaluation made by vbpr_trainer_fit(): read its results
   * with vbpr_trainer_metric(). */
  VBPR_TRAINER_EVENT_EVALUATION = 3
} vbpr_trainer_event;

/**
 * A progress callback. @p epoch is the 1-based number of the epoch in
 * progress (BATCH) or just completed (EPOCH, EVALUATION). Returning
 * non-zero stops training: after a BATCH event the epoch stops after that
 * batch (the model is updated up to it, and the next vbpr_trainer_epoch()
 * or fit continues the sampler's epoch where it stopped); the call that
 * made the event returns VBPR_ERR_INTERRUPTED. It runs on the thread that
 * called the trainer and must not call back into this trainer, except
 * vbpr_trainer_metric(), the getters and the parts' getters.
 */
typedef int (*vbpr_trainer_progress_fn)(void *user_data, vbpr_trainer_event event,
                                        int64_t epoch, size_t batch, size_t num_batches,
                                        double mean_loss);

/** Installs (or with NULL removes) the progress callback. */
VBPR_API vbpr_status vbpr_trainer_set_progress(vbpr_trainer *tr,
                                               vbpr_trainer_progress_fn fn,
                                               void *user_data);

/** Builds the encoder, loss, optimizer, sampler and evaluator from the
 * trainer's parameters; called by the first epoch (or fit, or evaluate) if
 * not before. After it, the structural parameters are fixed. */
VBPR_API vbpr_status vbpr_trainer_prepare(vbpr_trainer *tr);

/** The trainer's loss (borrowed); NULL before vbpr_trainer_prepare(). */
VBPR_API vbpr_loss *vbpr_trainer_loss(vbpr_trainer *tr);
/** The trainer's sampler (borrowed); NULL before vbpr_trainer_prepare(). */
VBPR_API vbpr_sampler *vbpr_trainer_sampler(vbpr_trainer *tr);
/** The trainer's optimizer (borrowed); NULL before vbpr_trainer_prepare(). */
VBPR_API vbpr_optim *vbpr_trainer_optim(vbpr_trainer *tr);
/** The trainer's encoder (borrowed); NULL before vbpr_trainer_prepare(). */
VBPR_API vbpr_encoder *vbpr_trainer_encoder(vbpr_trainer *tr);
/** The trainer's evaluator (borrowed); NULL before vbpr_trainer_prepare()
 * or without a test set. Its K set is the trainer's (set it with
 * vbpr_trainer_set_ks(), so that the history records it). */
VBPR_API vbpr_evaluator *vbpr_trainer_evaluator(vbpr_trainer *tr);

/**
 * Trains one epoch (no evaluation). @p mean_loss (may be NULL) gets the
 * mean batch loss. A non-finite loss or gradient stops with
 * VBPR_ERR_NUMERIC naming the epoch and batch.
 */
VBPR_API vbpr_status vbpr_trainer_epoch(vbpr_trainer *tr, double *mean_loss);

/**
 * Trains until EPOCHS epochs are done, evaluating after every EVAL_EVERY-th
 * epoch and after the last (when there is a test set and EVAL_EVERY > 0),
 * and calling the progress callback on the way. Stopped by the callback it
 * returns VBPR_ERR_INTERRUPTED; calling it again continues. With EPOCHS
 * already done it does nothing.
 */
VBPR_API vbpr_status vbpr_trainer_fit(vbpr_trainer *tr);

/** Epochs completed so far (0 for NULL). */
VBPR_API int64_t vbpr_trainer_epochs_done(const vbpr_trainer *tr);

/**
 * Evaluates the current model on the test set (VBPR_ERR_STATE without one)
 * and appends the results to the history. Read them with
 * vbpr_trainer_metric().
 */
VBPR_API vbpr_status vbpr_trainer_evaluate(vbpr_trainer *tr);

/** A metric of the last evaluation at cut-off @p k (one of the set Ks). */
VBPR_API vbpr_status vbpr_trainer_metric(const vbpr_trainer *tr, vbpr_metric metric,
                                         size_t k, double *value);

/** Number of evaluations made so far (the history's length; 0 for NULL). */
VBPR_API size_t vbpr_trainer_evaluation_count(const vbpr_trainer *tr);

/**
 * Evaluation @p index of the history (0 is the first): the number of epochs
 * done when it was made into *epoch, and @p metric at cut-off @p k (one of
 * the Ks set at that time) into *value. Either output may be NULL.
 * @return VBPR_OK or VBPR_ERR_INVALID_ARGUMENT (index out of range, unknown
 *   metric, k not evaluated then).
 */
VBPR_API vbpr_status vbpr_trainer_evaluation(const vbpr_trainer *tr, size_t index,
                                             vbpr_metric metric, size_t k, int64_t *epoch,
                                             double *value);

/*
 * Noise diagnosis. Variational BPR's positive attention gives less weight
 * to positives that look like noise (paper, section 4). With NOISE_TRACK
 * on, every training batch updates, for each training interaction that is
 * one of the batch's positives, the running average (NOISE_MOMENTUM) of
 *  - its relative attention weight M * alpha (1: an even share of the row;
 *    below 1: the model doubts it; always 1 with M = 1, e.g. BPR), and
 *  - the loss of the row that held it (loss_b of vbpr_loss_row_losses(),
 *    plus nothing of an encoder's own term),
 * and counts its visits. The statistics are part of a checkpoint.
 * Interactions are numbered in the order of the training set's CSR
 * (vbpr_dataset_csr()): interaction e belongs to the user u with
 * offsets[u] <= e < offsets[u + 1] and is item items[e].
 * Cost: 12 bytes per training interaction, and per batch one binary search
 * per positive in its user's items.
 */

/** What vbpr_trainer_noise_ranking() ranks by. Values are explicit and
 * never renumbered. */
typedef enum vbpr_noise_rank {
  /** Lowest average relative attention first (ties: highest loss first):
   * for Variational BPR with M >= 2. */
  VBPR_NOISE_RANK_WEIGHT = 1,
  /** Highest average loss first (ties: lowest weight first): also for BPR. */
  VBPR_NOISE_RANK_LOSS = 2,
  /** WEIGHT when the loss has M >= 2 positives per row, else LOSS. */
  VBPR_NOISE_RANK_AUTO = 3
} vbpr_noise_rank;

/**
 * The statistics of every training interaction, in CSR order: weight[e],
 * loss[e] (running averages, 0 before the first visit) and visits[e].
 * Each output may be NULL if not wanted; @p len must be >=
 * vbpr_dataset_num_interactions(train).
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL trainer, len too small);
 *   VBPR_ERR_STATE (NOISE_TRACK was never on during training).
 */
VBPR_API vbpr_status vbpr_trainer_noise_stats(const vbpr_trainer *tr, size_t len,
                                              float *weight, float *loss,
                                              uint32_t *visits);

/**
 * The @p n most suspicious training interactions (CSR indices), most
 * suspicious first, by @p by; interactions never visited come last; ties
 * keep CSR order. n may be below the number of interactions.
 * @return as vbpr_trainer_noise_stats(); VBPR_ERR_INVALID_ARGUMENT also for
 *   an unknown @p by; VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_trainer_noise_ranking(const vbpr_trainer *tr, vbpr_noise_rank by,
                                                size_t n, size_t *interactions);

/**
 * Writes the ranking as a tab-separated text file (doc/train.md, "Noise
 * diagnosis"): '#' comment lines, then a header line
 * "rank user item rating weight loss visits" and one line per interaction,
 * most suspicious first; users and items by their ids in the data files
 * (raw ids when the data was loaded with REMAP_IDS); rating empty when the
 * data has none. @p top limits the lines (0: every interaction). Written
 * atomically like model files.
 * @return as vbpr_trainer_noise_ranking(); VBPR_ERR_IO.
 */
VBPR_API vbpr_status vbpr_trainer_noise_report(const vbpr_trainer *tr, vbpr_noise_rank by,
                                               size_t top, const char *path);

/*
 * Checkpoints. A checkpoint holds everything a run needs to continue
 * exactly as if it had not stopped: the trainer's parameters, K set,
 * epochs done, the loss of the epoch in progress and the evaluation
 * history; the parameters of the loss, sampler, optimizer and encoder; the
 * sampler's epoch and position (its draws are a pure function of the seed,
 * the epoch and the row); the optimizer's moments and step counts; the
 * encoder's tables and own state (XSimGCL's noise stream); the noise
 * statistics. Resuming from it gives bit for bit the parameters and
 * history of an uninterrupted run (any thread count). Not saved: the
 * progress callback and the evaluator's long-tail share (set them again),
 * and the training data: a checkpoint records a fingerprint of the train
 * and test sets and is refused for other data.
 *
 * Files are written atomically (as model files) in a checksummed, versioned
 * format (doc/checkpoint-format.md); a file from a newer library is
 * refused with VBPR_ERR_UNSUPPORTED naming the version.
 */

/**
 * The file vbpr_trainer_fit() writes checkpoints to (copied; NULL stops
 * writing them), when due by CHECKPOINT_EVERY, after the last epoch, and
 * when the progress callback stops it (then mid-epoch, where it stopped).
 * A failed write stops fit with its error (VBPR_ERR_IO naming the path).
 */
VBPR_API vbpr_status vbpr_trainer_set_checkpoint(vbpr_trainer *tr, const char *path);

/**
 * Writes a checkpoint of @p tr now (preparing it first if needed), between
 * calls: not from the progress callback.
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT; VBPR_ERR_IO;
 *   VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_trainer_save_checkpoint(vbpr_trainer *tr, const char *path);

/**
 * Replaces the whole state of @p tr by the checkpoint's: its parameters
 * (the structural ones too: the parts are rebuilt), the parts' parameters
 * and state, epochs, history and noise statistics. @p tr must have been
 * created over the same train and test data; it may be prepared or not.
 * Its progress callback and checkpoint file are kept. The file is read and
 * checked completely before @p tr changes: on any error @p tr is as it was.
 * @return VBPR_OK; VBPR_ERR_IO (cannot open or read); VBPR_ERR_PARSE (not
 *   a checkpoint, truncated, corrupted, inconsistent content);
 *   VBPR_ERR_UNSUPPORTED (written by a newer format or section version);
 *   VBPR_ERR_INVALID_ARGUMENT (NULL, or other training data: the message
 *   gives both sizes); VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_trainer_load_checkpoint(vbpr_trainer *tr, const char *path);

VBPR_END_DECLS

#endif /* VBPR_TRAIN_H */
