/*
 * libvbpr: the trainer, one object that runs the whole pipeline
 * (sampler -> encoder -> loss -> optimizer, with periodic evaluation) so
 * that C, C++, Python and the vbpr-train program share one implementation.
 *
 * Ownership: the trainer holds a reference to its train and test datasets
 * (datasets are reference counted and immutable), so the caller may
 * destroy its own handles at any time after vbpr_trainer_create(). Everything
 * else (sampler,
 * encoder, loss, optimizer, evaluator) is owned by the trainer, built by
 * the first vbpr_trainer_epoch() (or vbpr_trainer_prepare()) from the
 * parameters set before it. Borrowed pointers it returns (the encoder) stay
 * valid until the trainer is destroyed.
 *
 * Threads: one trainer is driven by one thread at a time; it uses the
 * library's worker threads (vbpr_set_num_threads) inside its calls.
 */
#ifndef VBPR_TRAIN_H
#define VBPR_TRAIN_H

#include "vbpr/common.h"
#include "vbpr/dataset.h"
#include "vbpr/encoder.h"
#include "vbpr/eval.h"
#include "vbpr/loss.h"
#include "vbpr/optim.h"

VBPR_BEGIN_DECLS

typedef struct vbpr_trainer vbpr_trainer;

/**
 * Trainer parameters, set with vbpr_trainer_set() before the first epoch.
 * Values are explicit and never renumbered. Integral parameters take
 * integral values.
 */
typedef enum vbpr_train_param {
  VBPR_TRAIN_ENCODER = 1,       /**< a vbpr_encoder_kind, default VBPR_ENCODER_MF */
  VBPR_TRAIN_DIM = 2,           /**< embedding size, default 64 */
  VBPR_TRAIN_LAYERS = 3,        /**< LightGCN layers K >= 1, default 1 */
  VBPR_TRAIN_INIT_SCALE = 4,    /**< init scale (see vbpr_init); 0.01 for NORMAL, 1 (gain) for XAVIER */
  VBPR_TRAIN_LOSS = 5,          /**< vbpr_loss_kind, default VARIATIONAL */
  VBPR_TRAIN_ESTIMATOR = 6,     /**< vbpr_estimator, default PROTOTYPE */
  VBPR_TRAIN_NUM_POS = 7,       /**< M, default 2 */
  VBPR_TRAIN_NUM_NEG = 8,       /**< N, default 4 */
  VBPR_TRAIN_C_POS = 9,         /**< default 4 */
  VBPR_TRAIN_C_NEG = 10,        /**< default 4 */
  VBPR_TRAIN_NEG_ATTENTION = 11,/**< VBPR_ATTEND_HARD (1) or VBPR_ATTEND_EASY (-1) */
  VBPR_TRAIN_POS_HARDNESS = 12, /**< a3: lambda_pos of the loss, default 0 */
  VBPR_TRAIN_NEG_HARDNESS = 13, /**< b3: lambda_neg of the loss, default 0 */
  VBPR_TRAIN_HARDNESS_TAU = 14, /**< default 0.5 */
  VBPR_TRAIN_PRIOR_RARITY = 15, /**< a1: weight of log rarity in lp+, default 0 */
  VBPR_TRAIN_PRIOR_GOOD = 16,   /**< a2: weight of log good in lp+, default 0 */
  VBPR_TRAIN_PRIOR_POPULARITY = 17, /**< b1: weight of log popularity in lp-, default 0 */
  VBPR_TRAIN_PRIOR_BAD = 18,    /**< b2: weight of log bad in lp-, default 0 */
  VBPR_TRAIN_OPTIMIZER = 19,    /**< a vbpr_optim_kind, default VBPR_OPTIM_ADAM */
  VBPR_TRAIN_LR = 20,           /**< learning rate, default 1e-3 */
  VBPR_TRAIN_L2 = 21,           /**< weight decay, default 1e-5 */
  VBPR_TRAIN_BATCH = 22,        /**< rows per batch, default 1024 */
  VBPR_TRAIN_SEED = 23,         /**< seed of initialisation and sampling, default 42 */
  VBPR_TRAIN_NEG_POP_ALPHA = 24,/**< negatives ~ (count + 1)^alpha, alpha in [0, 16]; default 0 (uniform) */
  VBPR_TRAIN_INIT = 25          /**< a vbpr_init. Unless INIT or INIT_SCALE is set, each
                                     encoder keeps its default: MF Normal(0, 0.01),
                                     LightGCN Xavier normal */
} vbpr_train_param;

/**
 * Creates a trainer over @p train (required, with >= 1 interaction) and
 * @p test (may be NULL: no evaluation), taking a reference to each. The
 * test set must not have more users or items than the train set (load both
 * with one universe, e.g. vbpr_dataset_load_pair()).
 * @param[out] out  the new trainer, the caller's to destroy; NULL on failure.
 */
VBPR_API vbpr_status vbpr_trainer_create(const vbpr_dataset *train,
                                         const vbpr_dataset *test,
                                         vbpr_trainer **out);
VBPR_API void vbpr_trainer_destroy(vbpr_trainer *tr);

/** Sets a parameter; STATE once training has started. */
VBPR_API vbpr_status vbpr_trainer_set(vbpr_trainer *tr, vbpr_train_param p,
                                      double value);
VBPR_API vbpr_status vbpr_trainer_get(const vbpr_trainer *tr,
                                      vbpr_train_param p, double *value);

/** The cut-offs K evaluated, copied (default {20}); 1 <= n <= VBPR_EVAL_MAX_KS,
 * each K in [1, VBPR_EVAL_MAX_K]. */
VBPR_API vbpr_status vbpr_trainer_set_ks(vbpr_trainer *tr, const int32_t *ks,
                                         size_t n);

/**
 * Called after every batch with the epoch (0-based), the batch index, the
 * number of batches in the epoch and the mean loss of the epoch so far.
 * Returning non-zero stops the epoch after this batch: vbpr_trainer_epoch()
 * then returns VBPR_ERR_INTERRUPTED with the model updated up to there.
 * The callback runs on the thread that called vbpr_trainer_epoch().
 */
typedef int (*vbpr_train_progress_fn)(void *user_data, int32_t epoch,
                                      int64_t batch, int64_t num_batches,
                                      double mean_loss);
VBPR_API vbpr_status vbpr_trainer_set_progress(vbpr_trainer *tr,
                                               vbpr_train_progress_fn fn,
                                               void *user_data);

/** Builds the encoder, loss, optimizer and sampler from the parameters;
 * called by the first epoch if not before. */
VBPR_API vbpr_status vbpr_trainer_prepare(vbpr_trainer *tr);

/**
 * Trains one epoch. @p mean_loss (may be NULL) gets the mean batch loss.
 * A non-finite loss stops with VBPR_ERR_NUMERIC naming the epoch and batch.
 */
VBPR_API vbpr_status vbpr_trainer_epoch(vbpr_trainer *tr, double *mean_loss);

/** Epochs completed so far. */
VBPR_API int32_t vbpr_trainer_epochs_done(const vbpr_trainer *tr);

/**
 * Evaluates the current model on the test set (STATE without one). Read
 * results with vbpr_trainer_metric().
 */
VBPR_API vbpr_status vbpr_trainer_evaluate(vbpr_trainer *tr);

/** A metric of the last evaluation at cut-off @p k (one of the set Ks). */
VBPR_API vbpr_status vbpr_trainer_metric(const vbpr_trainer *tr,
                                         vbpr_metric metric, int32_t k,
                                         double *value);

/** The trainer's encoder (borrowed; NULL before vbpr_trainer_prepare()). */
VBPR_API vbpr_encoder *vbpr_trainer_encoder(vbpr_trainer *tr);

VBPR_END_DECLS

#endif /* VBPR_TRAIN_H */
