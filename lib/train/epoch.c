#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "encoder/encoder_internal.h"
#include "train/train_internal.h"

void vbpr__trainer_release(vbpr_trainer *tr)
{
  vbpr_sampler_destroy(tr->sampler);
  vbpr_encoder_destroy(tr->enc);
  vbpr_loss_destroy(tr->loss);
  vbpr_optim_destroy(tr->opt);
  vbpr_eval_destroy(tr->ev);
  tr->sampler = NULL;
  tr->enc = NULL;
  tr->loss = NULL;
  tr->opt = NULL;
  tr->ev = NULL;
  void **bufs[] = {(void **)&tr->item_lp_pos, (void **)&tr->item_lp_neg,
                   (void **)&tr->users, (void **)&tr->pos, (void **)&tr->neg,
                   (void **)&tr->emb_user, (void **)&tr->emb_pos, (void **)&tr->emb_neg,
                   (void **)&tr->grad_user, (void **)&tr->grad_pos,
                   (void **)&tr->grad_neg, (void **)&tr->lp_pos, (void **)&tr->lp_neg};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
    vbpr__free(*bufs[i]);
    *bufs[i] = NULL;
  }
  tr->prepared = false;
  tr->evaluated = false;
}

static vbpr_status make_sampler(vbpr_trainer *tr)
{
  vbpr_status st = vbpr_sampler_create(tr->train, &tr->sampler);
  if (st == VBPR_OK) st = vbpr_sampler_set(tr->sampler, VBPR_SAMPLER_BATCH_SIZE, (double)tr->batch);
  if (st == VBPR_OK) st = vbpr_sampler_set(tr->sampler, VBPR_SAMPLER_NUM_POS, (double)tr->m);
  if (st == VBPR_OK) st = vbpr_sampler_set(tr->sampler, VBPR_SAMPLER_NUM_NEG, (double)tr->n);
  if (st == VBPR_OK) st = vbpr_sampler_set(tr->sampler, VBPR_SAMPLER_SEED, tr->param[VBPR_TRAIN_SEED]);
  if (st == VBPR_OK && tr->param[VBPR_TRAIN_NEG_POP_ALPHA] != 0)
    st = vbpr_sampler_set(tr->sampler, VBPR_SAMPLER_NEG_POP_EXPONENT,
                          tr->param[VBPR_TRAIN_NEG_POP_ALPHA]);
  return st;
}

static vbpr_status make_encoder(vbpr_trainer *tr)
{
  uint64_t seed = (uint64_t)tr->param[VBPR_TRAIN_SEED];
  int32_t dim = (int32_t)tr->dim;
  /* The registry builds any kind; kinds without layers ignore them. */
  vbpr_status st = vbpr__encoder_create_for((int)tr->param[VBPR_TRAIN_ENCODER], tr->train, dim,
                                            (int32_t)tr->param[VBPR_TRAIN_LAYERS], seed,
                                            &tr->enc);
  if (st != VBPR_OK) return st;
  /* Unless asked otherwise, keep each encoder's own default (that of its
   * reference code: MF Normal(0, 0.01), LightGCN Xavier normal). */
  if (!tr->param_set[VBPR_TRAIN_INIT] && !tr->param_set[VBPR_TRAIN_INIT_SCALE]) return VBPR_OK;
  double scale = tr->param[VBPR_TRAIN_INIT_SCALE];
  if (!tr->param_set[VBPR_TRAIN_INIT_SCALE] && (int)tr->param[VBPR_TRAIN_INIT] == VBPR_INIT_XAVIER_NORMAL)
    scale = 1.0; /* Xavier's gain */
  return vbpr_encoder_init_params(tr->enc, (vbpr_init)tr->param[VBPR_TRAIN_INIT], scale, seed);
}

static vbpr_status make_loss(vbpr_trainer *tr)
{
  vbpr_loss_kind kind = (vbpr_loss_kind)tr->param[VBPR_TRAIN_LOSS];
  vbpr_status st = vbpr_loss_create(kind, &tr->loss);
  if (st != VBPR_OK || kind == VBPR_LOSS_BPR) return st;
  static const struct { vbpr_train_param from; vbpr_loss_param to; } map[] = {
    {VBPR_TRAIN_NUM_POS, VBPR_LOSS_NUM_POS},
    {VBPR_TRAIN_NUM_NEG, VBPR_LOSS_NUM_NEG},
    {VBPR_TRAIN_C_POS, VBPR_LOSS_C_POS},
    {VBPR_TRAIN_C_NEG, VBPR_LOSS_C_NEG},
    {VBPR_TRAIN_ESTIMATOR, VBPR_LOSS_ESTIMATOR},
    {VBPR_TRAIN_NEG_ATTENTION, VBPR_LOSS_NEG_ATTENTION},
    {VBPR_TRAIN_POS_HARDNESS, VBPR_LOSS_POS_HARDNESS},
    {VBPR_TRAIN_NEG_HARDNESS, VBPR_LOSS_NEG_HARDNESS},
    {VBPR_TRAIN_HARDNESS_TAU, VBPR_LOSS_HARDNESS_TAU},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0] && st == VBPR_OK; i++)
    st = vbpr_loss_set(tr->loss, map[i].to, tr->param[map[i].from]);
  return st;
}

static vbpr_status make_optim(vbpr_trainer *tr)
{
  vbpr_status st = vbpr_optim_create((vbpr_optim_kind)tr->param[VBPR_TRAIN_OPTIMIZER], &tr->opt);
  if (st == VBPR_OK) st = vbpr_optim_set(tr->opt, VBPR_OPTIM_LR, tr->param[VBPR_TRAIN_LR]);
  if (st == VBPR_OK)
    st = vbpr_optim_set(tr->opt, VBPR_OPTIM_WEIGHT_DECAY, tr->param[VBPR_TRAIN_L2]);
  return st;
}

static vbpr_status make_buffers(vbpr_trainer *tr)
{
  size_t bm, bn, bd, bmd, bnd;
  if (!vbpr__mul_ok(tr->batch, tr->m, &bm) || !vbpr__mul_ok(tr->batch, tr->n, &bn) ||
      !vbpr__mul_ok(tr->batch, tr->dim, &bd) || !vbpr__mul_ok(bm, tr->dim, &bmd) ||
      !vbpr__mul_ok(bn, tr->dim, &bnd))
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, "vbpr_trainer_prepare",
                       "batch %zu x (M %zu + N %zu) x dim %zu overflows", tr->batch,
                       tr->m, tr->n, tr->dim);
  tr->users = vbpr__malloc_array(tr->batch, sizeof(int32_t));
  tr->pos = vbpr__malloc_array(bm, sizeof(int32_t));
  tr->neg = vbpr__malloc_array(bn, sizeof(int32_t));
  tr->emb_user = vbpr__aligned_array(bd, sizeof(float));
  tr->emb_pos = vbpr__aligned_array(bmd, sizeof(float));
  tr->emb_neg = vbpr__aligned_array(bnd, sizeof(float));
  tr->grad_user = vbpr__aligned_array(bd, sizeof(float));
  tr->grad_pos = vbpr__aligned_array(bmd, sizeof(float));
  tr->grad_neg = vbpr__aligned_array(bnd, sizeof(float));
  tr->lp_pos = vbpr__malloc_array(bm, sizeof(float));
  tr->lp_neg = vbpr__malloc_array(bn, sizeof(float));
  if (!tr->users || !tr->pos || !tr->neg || !tr->emb_user || !tr->emb_pos ||
      !tr->emb_neg || !tr->grad_user || !tr->grad_pos || !tr->grad_neg || !tr->lp_pos ||
      !tr->lp_neg)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, "vbpr_trainer_prepare",
                       "cannot allocate batch buffers (batch %zu, dim %zu)", tr->batch,
                       tr->dim);
  return VBPR_OK;
}

vbpr_status vbpr_trainer_prepare(vbpr_trainer *tr)
{
  VBPR_CHECK_NULL(tr);
  if (tr->prepared) return VBPR_OK;
  bool bpr = (int)tr->param[VBPR_TRAIN_LOSS] == VBPR_LOSS_BPR;
  tr->batch = (size_t)tr->param[VBPR_TRAIN_BATCH];
  tr->m = bpr ? 1 : (size_t)tr->param[VBPR_TRAIN_NUM_POS];
  tr->n = bpr ? 1 : (size_t)tr->param[VBPR_TRAIN_NUM_NEG];
  tr->dim = (size_t)tr->param[VBPR_TRAIN_DIM];
  vbpr_status st = make_sampler(tr);
  if (st == VBPR_OK) st = make_encoder(tr);
  if (st == VBPR_OK) st = make_loss(tr);
  if (st == VBPR_OK) st = make_optim(tr);
  if (st == VBPR_OK && tr->test != NULL) st = vbpr_eval_create(tr->train, tr->test, &tr->ev);
  if (st == VBPR_OK && tr->ev != NULL) st = vbpr_eval_set_ks(tr->ev, tr->ks, tr->nks);
  if (st == VBPR_OK) st = vbpr__trainer_priors(tr);
  if (st == VBPR_OK) st = make_buffers(tr);
  if (st != VBPR_OK) {
    vbpr__trainer_release(tr);
    return st;
  }
  tr->prepared = true;
  return VBPR_OK;
}

static void gather_priors(const float *item_lp, const int32_t *ids, size_t n, float *out)
{
  for (size_t i = 0; i < n; i++) out[i] = item_lp[ids[i]];
}

/* One batch of `rows` tuples already in tr->users/pos/neg. */
static vbpr_status train_batch(vbpr_trainer *tr, size_t rows, float *loss_out)
{
  vbpr_status st = vbpr_encoder_zero_grad(tr->enc);
  if (st == VBPR_OK)
    st = vbpr_encoder_forward(tr->enc, tr->users, tr->pos, tr->neg, rows, tr->m, tr->n,
                              tr->emb_user, tr->emb_pos, tr->emb_neg);
  if (st != VBPR_OK) return st;
  const float *lpp = NULL, *lpn = NULL;
  if (tr->item_lp_pos != NULL) {
    gather_priors(tr->item_lp_pos, tr->pos, rows * tr->m, tr->lp_pos);
    gather_priors(tr->item_lp_neg, tr->neg, rows * tr->n, tr->lp_neg);
    lpp = tr->lp_pos;
    lpn = tr->lp_neg;
  }
  st = vbpr_loss_forward_backward(tr->loss, rows, tr->dim, tr->emb_user, tr->emb_pos,
                                  tr->emb_neg, lpp, lpn, 1.0f, loss_out, tr->grad_user,
                                  tr->grad_pos, tr->grad_neg);
  if (st == VBPR_OK) st = vbpr_encoder_backward(tr->enc, tr->grad_user, tr->grad_pos, tr->grad_neg);
  if (st == VBPR_OK) st = vbpr_optim_step_encoder(tr->opt, tr->enc);
  return st;
}

vbpr_status vbpr_trainer_epoch(vbpr_trainer *tr, double *mean_loss)
{
  VBPR_CHECK_NULL(tr);
  vbpr_status st = vbpr_trainer_prepare(tr);
  if (st != VBPR_OK) return st;
  int64_t per_epoch = vbpr_sampler_rows_per_epoch(tr->sampler);
  int64_t nbatches = (per_epoch + (int64_t)tr->batch - 1) / (int64_t)tr->batch;
  int32_t epoch = tr->epochs_done;
  double sum = 0;
  int64_t b = 0;
  bool boundary_seen = false;
  for (;;) {
    size_t rows = 0;
    st = vbpr_sampler_next(tr->sampler, tr->users, tr->pos, tr->neg, &rows);
    if (st != VBPR_OK) return st;
    if (rows == 0 && b == 0 && !boundary_seen) {
      /* an epoch stopped after its last batch: this 0 ends it and starts ours */
      boundary_seen = true;
      continue;
    }
    if (rows == 0) break;
    float loss = 0;
    st = train_batch(tr, rows, &loss);
    if (st == VBPR_ERR_NUMERIC || (st == VBPR_OK && !isfinite(loss))) {
      char why[256];
      snprintf(why, sizeof why, "%s", st == VBPR_OK ? "the loss is not finite" : vbpr_last_error());
      return VBPR_FAIL(VBPR_ERR_NUMERIC, "non-finite values at epoch %d, batch %lld "
                       "(a lower learning rate may help): %s", (int)epoch, (long long)b, why);
    }
    if (st != VBPR_OK) return st;
    sum += loss;
    b++;
    tr->evaluated = false;
    if (tr->progress != NULL && tr->progress(tr->progress_data, epoch, b, nbatches, sum / (double)b)) {
      if (mean_loss != NULL) *mean_loss = sum / (double)b;
      return VBPR_FAIL(VBPR_ERR_INTERRUPTED, "stopped at epoch %d, batch %lld",
                       (int)epoch, (long long)b);
    }
  }
  tr->epochs_done++;
  if (mean_loss != NULL) *mean_loss = b > 0 ? sum / (double)b : 0.0;
  return VBPR_OK;
}
