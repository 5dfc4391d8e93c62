/* The trainer's state, shared by its files. Internal. */
#ifndef VBPR_LIB_TRAIN_INTERNAL_H
#define VBPR_LIB_TRAIN_INTERNAL_H

#include <stdbool.h>

#include "vbpr/error.h"
#include "vbpr/sampler.h"
#include "vbpr/train.h"

#define VBPR__TRAIN_LAST_PARAM VBPR_TRAINER_CHECKPOINT_EVERY
#define VBPR__TRAIN_NPARAMS (VBPR__TRAIN_LAST_PARAM + 1)
#define VBPR__N_METRICS_TRAIN 6 /* VBPR_METRIC_PRECISION .. VBPR_METRIC_APLT */

/* Noise diagnosis (noise.c): running averages per training interaction,
 * in CSR order; arrays NULL until tracking first starts. */
typedef struct vbpr__noise_stats {
  float *weight, *loss;
  uint32_t *visits;
  size_t n;              /* training interactions */
  float *alpha, *row_loss; /* per-batch buffers: [rows * M], [rows] */
  size_t alpha_cap, row_cap;
} vbpr__noise_stats;

/* One evaluation of the history: every metric at the Ks set then. */
typedef struct vbpr__eval_record {
  int64_t epoch;
  size_t nks;
  size_t ks[VBPR_EVALUATOR_MAX_KS];
  double value[VBPR__N_METRICS_TRAIN][VBPR_EVALUATOR_MAX_KS];
} vbpr__eval_record;

/* Batch buffers, grown to the sampler's batch and the loss's M and N. */
typedef struct vbpr__batch_bufs {
  size_t rows, m, n, dim; /* capacity: what the buffers hold */
  int32_t *users, *pos, *neg;
  float *emb_user, *emb_pos, *emb_neg;
  float *grad_user, *grad_pos, *grad_neg;
  float *lp_pos, *lp_neg;
} vbpr__batch_bufs;

struct vbpr_trainer {
  const vbpr_dataset *train, *test;
  double param[VBPR__TRAIN_NPARAMS];
  size_t ks[VBPR_EVALUATOR_MAX_KS];
  size_t nks;
  vbpr_trainer_progress_fn progress;
  void *progress_data;

  bool prepared, evaluated;
  int64_t epochs_done;

  vbpr_sampler *sampler;
  vbpr_encoder *enc;
  vbpr_loss *loss;
  vbpr_optim *opt;
  vbpr_evaluator *ev;

  /* per-item log-priors [num_items], NULL when all weights are 0; the
   * weights they were computed with, to recompute after a change */
  float *item_lp_pos, *item_lp_neg;
  double prior_weights[4];
  vbpr__batch_bufs buf;

  vbpr__eval_record *history;
  size_t n_history, history_cap;

  /* data parallelism (dp.c); NULL when training in one process */
  struct vbpr__trainer_dp *dp;
  vbpr__noise_stats noise; /* noise.c */

  /* The epoch in progress (a stopped epoch continues its mean loss). */
  double epoch_loss_sum;
  size_t epoch_batches;
  /* checkpoint.c: the file fit() writes (owned copy, or NULL), and the
   * fingerprints of the data, computed at the first checkpoint. */
  char *checkpoint_path;
  uint64_t data_print[2];
  bool have_print;
};

/* Frees everything prepare built; the trainer can be prepared again. */
void vbpr__trainer_release(vbpr_trainer *tr);

/* Brings the per-item priors up to date with the PRIOR_* weights (see
 * vbpr_dataset_item_log_priors()). */
vbpr_status vbpr__trainer_priors(vbpr_trainer *tr, const char *func);

/* Makes the sampler's M and N the loss's and grows the batch buffers to
 * the sampler's batch size; called at the start of every epoch. */
vbpr_status vbpr__trainer_sync(vbpr_trainer *tr, const char *func);

/* Appends the evaluator's current results to the history. */
vbpr_status vbpr__trainer_record(vbpr_trainer *tr, const char *func);

/* Data parallelism (dp.c). `local` is this rank's status so far: a
 * failure still joins the ranks' agreement, so that every rank fails. */
void vbpr__trainer_dp_free(vbpr_trainer *tr);
vbpr_status vbpr__trainer_dp_prepare(vbpr_trainer *tr);
vbpr_status vbpr__trainer_dp_epoch(vbpr_trainer *tr, vbpr_status local, double *mean_loss,
                                   const char *func);
vbpr_status vbpr__trainer_dp_evaluate(vbpr_trainer *tr, vbpr_status local, const char *func);
/* The ranks agree on `local` and on stopping (*stop: any rank's wish). */
vbpr_status vbpr__trainer_dp_agree_stop(vbpr_trainer *tr, vbpr_status local, bool *stop,
                                        const char *func);
/* A failure the other ranks cannot know of: asks the host to end the job. */
vbpr_status vbpr__trainer_dp_lost(vbpr_trainer *tr, vbpr_status st);
/* Noise diagnosis: with NOISE_TRACK on, allocates the statistics (once)
 * and grows the batch buffers to rows x m; called at the start of every
 * epoch, so that batches allocate nothing. */
vbpr_status vbpr__trainer_noise_sync(vbpr_trainer *tr, size_t rows, size_t m,
                                     const char *func);
/* Folds the loss's last forward (attention, row losses) into the
 * statistics of the batch's positives; a no-op unless tracking. */
vbpr_status vbpr__trainer_noise_record(vbpr_trainer *tr, size_t rows, size_t m,
                                       const char *func);
void vbpr__trainer_noise_free(vbpr__noise_stats *ns);

/* Checkpoint (checkpoint.c): fit() writes one after an epoch (when due)
 * and when stopped; VBPR_OK when no file is set. `last` is the epoch that
 * ends the schedule. */
vbpr_status vbpr__trainer_autosave(vbpr_trainer *tr, bool stopped, const char *func);
/* VBPR_ERR_UNSUPPORTED when a checkpoint file is set on a data-parallel
 * trainer (fit checks it before the first epoch, with the other ranks). */
vbpr_status vbpr__trainer_checkpoint_usable(const vbpr_trainer *tr, const char *func);

#endif
