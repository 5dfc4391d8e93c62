#include <math.h>
#include <string.h>

#include "core/core.h"
#include "dataset/dataset_internal.h"
#include "train/train_internal.h"
#include "vbpr/train.h"

/* Parameter table: default, valid range, integral or not. */
typedef struct param_spec {
  const char *name;
  double def, lo, hi;
  bool integral;
} param_spec;

static const param_spec specs[VBPR_TRAIN_NPARAMS] = {
  [VBPR_TRAIN_ENCODER] = {"encoder", VBPR_ENCODER_MF, 1, 2, true},
  [VBPR_TRAIN_DIM] = {"dim", 64, 1, VBPR_ENCODER_MAX_DIM, true},
  [VBPR_TRAIN_LAYERS] = {"layers", 1, 1, VBPR_LIGHTGCN_MAX_LAYERS, true},
  [VBPR_TRAIN_INIT_SCALE] = {"init_scale", 0.01, 0, 1e3, false},
  [VBPR_TRAIN_LOSS] = {"loss", VBPR_LOSS_VARIATIONAL, 1, 2, true},
  [VBPR_TRAIN_ESTIMATOR] = {"estimator", VBPR_EST_PROTOTYPE, 1, 3, true},
  [VBPR_TRAIN_NUM_POS] = {"num_pos", 2, 1, 1024, true},
  [VBPR_TRAIN_NUM_NEG] = {"num_neg", 4, 1, 1024, true},
  [VBPR_TRAIN_C_POS] = {"c_pos", 4, 1e-6, 1e6, false},
  [VBPR_TRAIN_C_NEG] = {"c_neg", 4, 1e-6, 1e6, false},
  [VBPR_TRAIN_NEG_ATTENTION] = {"neg_attention", VBPR_ATTEND_HARD, -1, 1, true},
  [VBPR_TRAIN_POS_HARDNESS] = {"pos_hardness", 0, 0, 1e6, false},
  [VBPR_TRAIN_NEG_HARDNESS] = {"neg_hardness", 0, 0, 1e6, false},
  [VBPR_TRAIN_HARDNESS_TAU] = {"hardness_tau", 0.5, 1e-6, 1e6, false},
  [VBPR_TRAIN_PRIOR_RARITY] = {"prior_rarity", 0, 0, 1e3, false},
  [VBPR_TRAIN_PRIOR_GOOD] = {"prior_good", 0, 0, 1e3, false},
  [VBPR_TRAIN_PRIOR_POPULARITY] = {"prior_popularity", 0, 0, 1e3, false},
  [VBPR_TRAIN_PRIOR_BAD] = {"prior_bad", 0, 0, 1e3, false},
  [VBPR_TRAIN_OPTIMIZER] = {"optimizer", VBPR_OPTIM_ADAM, 1, 3, true},
  [VBPR_TRAIN_LR] = {"lr", 1e-3, 0, 1e3, false},
  [VBPR_TRAIN_L2] = {"l2", 1e-5, 0, 1e3, false},
  [VBPR_TRAIN_BATCH] = {"batch", 1024, 1, 1 << 22, true},
  [VBPR_TRAIN_SEED] = {"seed", 42, 0, 9007199254740992.0, true},
  [VBPR_TRAIN_NEG_POP_ALPHA] = {"neg_pop_alpha", 0, 0, 16, false},
  [VBPR_TRAIN_INIT] = {"init", VBPR_INIT_NORMAL, 1, 2, true},
};

static bool valid_param(int p) { return p >= 1 && p < VBPR_TRAIN_NPARAMS && specs[p].name; }

vbpr_status vbpr_trainer_create(const vbpr_dataset *train, const vbpr_dataset *test,
                                vbpr_trainer **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  VBPR_CHECK_NULL(train);
  if (vbpr_dataset_num_interactions(train) < 1)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "train has no interaction");
  if (test != NULL && (vbpr_dataset_num_users(test) > vbpr_dataset_num_users(train) ||
                       vbpr_dataset_num_items(test) > vbpr_dataset_num_items(train)))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "test universe (%d users, %d items) exceeds train's (%d, %d); "
                     "load both with one universe",
                     (int)vbpr_dataset_num_users(test), (int)vbpr_dataset_num_items(test),
                     (int)vbpr_dataset_num_users(train), (int)vbpr_dataset_num_items(train));
  vbpr_trainer *tr = vbpr__calloc(1, sizeof *tr);
  if (tr == NULL) return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate the trainer");
  tr->train = vbpr__dataset_retain(train);
  tr->test = test ? vbpr__dataset_retain(test) : NULL;
  for (int p = 1; p < VBPR_TRAIN_NPARAMS; p++) tr->param[p] = specs[p].def;
  tr->ks[0] = 20;
  tr->nks = 1;
  *out = tr;
  return VBPR_OK;
}

void vbpr_trainer_destroy(vbpr_trainer *tr)
{
  if (tr == NULL) return;
  vbpr__trainer_release(tr);
  vbpr__dataset_release(tr->train);
  if (tr->test != NULL) vbpr__dataset_release(tr->test);
  vbpr__free(tr);
}

vbpr_status vbpr_trainer_set(vbpr_trainer *tr, vbpr_train_param p, double value)
{
  VBPR_CHECK_NULL(tr);
  if (!valid_param((int)p))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "unknown parameter %d", (int)p);
  const param_spec *sp = &specs[p];
  if (!isfinite(value) || value < sp->lo || value > sp->hi)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "%s must be in [%g, %g], got %g",
                     sp->name, sp->lo, sp->hi, value);
  if (sp->integral && value != floor(value))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "%s must be an integer, got %g",
                     sp->name, value);
  if (p == VBPR_TRAIN_NEG_ATTENTION && value == 0)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "neg_attention must be 1 (hard) or -1 (easy), got 0");
  if (tr->prepared)
    return VBPR_FAIL(VBPR_ERR_STATE, "cannot set %s after training has started",
                     sp->name);
  tr->param[p] = value;
  tr->param_set[p] = true;
  return VBPR_OK;
}

vbpr_status vbpr_trainer_get(const vbpr_trainer *tr, vbpr_train_param p, double *value)
{
  VBPR_CHECK_NULL(tr);
  VBPR_CHECK_NULL(value);
  if (!valid_param((int)p))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "unknown parameter %d", (int)p);
  *value = tr->param[p];
  return VBPR_OK;
}

vbpr_status vbpr_trainer_set_ks(vbpr_trainer *tr, const int32_t *ks, size_t n)
{
  VBPR_CHECK_NULL(tr);
  VBPR_CHECK_NULL(ks);
  if (n < 1 || n > VBPR_TRAIN_MAX_KS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "n must be in [1, %d], got %zu",
                     VBPR_TRAIN_MAX_KS, n);
  for (size_t i = 0; i < n; i++)
    if (ks[i] < 1 || ks[i] > VBPR_EVAL_MAX_K)
      return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "ks[%zu] must be in [1, %d], got %d", i,
                       VBPR_EVAL_MAX_K, (int)ks[i]);
  if (tr->ev != NULL) {
    vbpr_status st = vbpr_eval_set_ks(tr->ev, ks, n);
    if (st != VBPR_OK) return st;
  }
  memcpy(tr->ks, ks, n * sizeof *ks);
  tr->nks = n;
  tr->evaluated = false;
  return VBPR_OK;
}

vbpr_status vbpr_trainer_set_progress(vbpr_trainer *tr, vbpr_train_progress_fn fn,
                                      void *user_data)
{
  VBPR_CHECK_NULL(tr);
  tr->progress = fn;
  tr->progress_data = user_data;
  return VBPR_OK;
}

int32_t vbpr_trainer_epochs_done(const vbpr_trainer *tr) { return tr ? tr->epochs_done : 0; }

vbpr_encoder *vbpr_trainer_encoder(vbpr_trainer *tr) { return tr ? tr->enc : NULL; }

vbpr_status vbpr_trainer_evaluate(vbpr_trainer *tr)
{
  VBPR_CHECK_NULL(tr);
  if (tr->test == NULL)
    return VBPR_FAIL(VBPR_ERR_STATE, "the trainer was created without a test set");
  vbpr_status st = vbpr_trainer_prepare(tr);
  if (st != VBPR_OK) return st;
  const float *users, *items;
  st = vbpr_encoder_embeddings(tr->enc, &users, &items);
  if (st != VBPR_OK) return st;
  tr->evaluated = false;
  st = vbpr_eval_run(tr->ev, users, items, vbpr_dataset_num_users(tr->train),
                     vbpr_dataset_num_items(tr->train), (size_t)tr->param[VBPR_TRAIN_DIM]);
  if (st != VBPR_OK) return st;
  tr->evaluated = true;
  return VBPR_OK;
}

vbpr_status vbpr_trainer_metric(const vbpr_trainer *tr, vbpr_metric metric, int32_t k,
                                double *value)
{
  VBPR_CHECK_NULL(tr);
  VBPR_CHECK_NULL(value);
  if (!tr->evaluated)
    return VBPR_FAIL(VBPR_ERR_STATE, "no evaluation yet: call vbpr_trainer_evaluate()");
  return vbpr_eval_metric(tr->ev, metric, k, value);
}
