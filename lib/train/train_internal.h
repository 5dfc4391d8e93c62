/* The trainer's state, shared by its files. Internal. */
#ifndef VBPR_LIB_TRAIN_INTERNAL_H
#define VBPR_LIB_TRAIN_INTERNAL_H

#include <stdbool.h>

#include "vbpr/train.h"
#include "vbpr/error.h"
#include "vbpr/sampler.h"

#define VBPR_TRAIN_NPARAMS 26 /* one past the largest vbpr_train_param */
#define VBPR_TRAIN_MAX_KS VBPR_EVAL_MAX_KS

struct vbpr_trainer {
  const vbpr_dataset *train, *test;
  double param[VBPR_TRAIN_NPARAMS];
  bool param_set[VBPR_TRAIN_NPARAMS]; /* set explicitly by the caller */
  int32_t ks[VBPR_TRAIN_MAX_KS];
  size_t nks;
  vbpr_train_progress_fn progress;
  void *progress_data;

  bool prepared, evaluated;
  int32_t epochs_done;
  size_t batch, m, n, dim;

  vbpr_sampler *sampler;
  vbpr_encoder *enc;
  vbpr_loss *loss;
  vbpr_optim *opt;
  vbpr_evaluator *ev;

  /* per-item log-priors [num_items], NULL when all weights are 0 */
  float *item_lp_pos, *item_lp_neg;
  /* batch buffers, sized once by prepare */
  int32_t *users, *pos, *neg;
  float *emb_user, *emb_pos, *emb_neg;
  float *grad_user, *grad_pos, *grad_neg;
  float *lp_pos, *lp_neg;
};

/* Frees everything prepare built; the trainer can be prepared again. */
void vbpr__trainer_release(vbpr_trainer *tr);

/* Fills the per-item priors (see vbpr_train_param PRIOR_*, and
 * vbpr_dataset_item_log_priors()). */
vbpr_status vbpr__trainer_priors(vbpr_trainer *tr);

#endif
