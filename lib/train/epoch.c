/* The trainer's pipeline: building the parts, one batch, one epoch, fit. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "encoder/encoder_internal.h"
#include "train/train_internal.h"

/* The reference code's L2 weight decay, set on the optimizer prepare builds. */
#define TRAINER_WEIGHT_DECAY 1e-5

static void free_buffers(vbpr__batch_bufs *b)
{
  void *bufs[] = {b->users, b->pos, b->neg, b->emb_user, b->emb_pos, b->emb_neg,
                  b->grad_user, b->grad_pos, b->grad_neg, b->lp_pos, b->lp_neg};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vbpr__free(bufs[i]);
  memset(b, 0, sizeof *b);
}

void vbpr__trainer_release(vbpr_trainer *tr)
{
  vbpr_sampler_destroy(tr->sampler);
  vbpr_encoder_destroy(tr->enc);
  vbpr_loss_destroy(tr->loss);
  vbpr_optim_destroy(tr->opt);
  vbpr_evaluator_destroy(tr->ev);
  tr->sampler = NULL;
  tr->enc = NULL;
  tr->loss = NULL;
  tr->opt = NULL;
  tr->ev = NULL;
  vbpr__free(tr->item_lp_pos);
  vbpr__free(tr->item_lp_neg);
  tr->item_lp_pos = tr->item_lp_neg = NULL;
  free_buffers(&tr->buf);
  tr->prepared = false;
  tr->evaluated = false;
}

/* ---- building the parts -------------------------------------------------- */

static vbpr_status make_encoder(vbpr_trainer *tr)
{
  uint64_t seed = (uint64_t)tr->param[VBPR_TRAINER_SEED];
  int32_t dim = (int32_t)tr->param[VBPR_TRAINER_DIM];
  /* The registry builds any kind; kinds without layers ignore them. */
  vbpr_status st = vbpr__encoder_create_for((int)tr->param[VBPR_TRAINER_ENCODER], tr->train,
                                            dim, (int32_t)tr->param[VBPR_TRAINER_LAYERS], seed,
                                            &tr->enc);
  if (st != VBPR_OK) return st;
  /* 0 keeps each encoder's own default (that of its reference code). */
  vbpr_init init = (vbpr_init)tr->param[VBPR_TRAINER_INIT];
  double scale = tr->param[VBPR_TRAINER_INIT_SCALE];
  if ((int)init == 0 && scale == 0) return VBPR_OK;
  const vbpr__encoder_kind_info *k = vbpr__encoder_kind_find((int)vbpr_encoder_get_kind(tr->enc));
  if ((int)init == 0) init = k->init;
  if (scale == 0) scale = init == k->init ? k->init_scale : init == VBPR_INIT_XAVIER_NORMAL ? 1.0 : 0.01;
  return vbpr_encoder_init_params(tr->enc, init, scale, seed);
}

static vbpr_status make_parts(vbpr_trainer *tr)
{
  vbpr_status st = vbpr_loss_create((vbpr_loss_kind)tr->param[VBPR_TRAINER_LOSS], &tr->loss);
  if (st == VBPR_OK) st = vbpr_sampler_create(tr->train, &tr->sampler);
  if (st == VBPR_OK)
    st = vbpr_sampler_set(tr->sampler, VBPR_SAMPLER_SEED, tr->param[VBPR_TRAINER_SEED]);
  if (st == VBPR_OK) st = make_encoder(tr);
  if (st == VBPR_OK)
    st = vbpr_optim_create((vbpr_optim_kind)tr->param[VBPR_TRAINER_OPTIMIZER], &tr->opt);
  if (st == VBPR_OK)
    st = vbpr_optim_set(tr->opt, VBPR_OPTIM_WEIGHT_DECAY, TRAINER_WEIGHT_DECAY);
  if (st == VBPR_OK) st = vbpr__trainer_dp_prepare(tr);
  if (st == VBPR_OK && tr->test != NULL)
    st = vbpr_evaluator_create(tr->train, tr->test, &tr->ev);
  if (st == VBPR_OK && tr->ev != NULL) st = vbpr_evaluator_set_ks(tr->ev, tr->nks, tr->ks);
  return st;
}

vbpr_status vbpr_trainer_prepare(vbpr_trainer *tr)
{
  VBPR_CHECK_NULL(tr);
  if (tr->prepared) return VBPR_OK;
  vbpr_status st = make_parts(tr);
  if (st == VBPR_OK) st = vbpr__trainer_sync(tr, __func__);
  if (st == VBPR_OK) st = vbpr__trainer_priors(tr, __func__);
  if (st != VBPR_OK) {
    vbpr__trainer_release(tr);
    return st;
  }
  tr->prepared = true;
  return VBPR_OK;
}

/* ---- keeping the parts consistent ---------------------------------------- */

/* Grows the batch buffers to rows x (1 + m + n) tuples of dim floats; the
 * old buffers stay on failure. */
static vbpr_status grow_buffers(vbpr__batch_bufs *b, size_t rows, size_t m, size_t n,
                                size_t dim, const char *func)
{
  if (rows <= b->rows && m <= b->m && n <= b->n && dim <= b->dim) return VBPR_OK;
  size_t bm, bn, bd, bmd, bnd;
  if (!vbpr__mul_ok(rows, m, &bm) || !vbpr__mul_ok(rows, n, &bn) ||
      !vbpr__mul_ok(rows, dim, &bd) || !vbpr__mul_ok(bm, dim, &bmd) ||
      !vbpr__mul_ok(bn, dim, &bnd))
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                       "batch %zu x (M %zu + N %zu) x dim %zu overflows", rows, m, n, dim);
  vbpr__batch_bufs g = {rows, m, n, dim,
    vbpr__malloc_array(rows, sizeof(int32_t)), vbpr__malloc_array(bm, sizeof(int32_t)),
    vbpr__malloc_array(bn, sizeof(int32_t)), vbpr__aligned_array(bd, sizeof(float)),
    vbpr__aligned_array(bmd, sizeof(float)), vbpr__aligned_array(bnd, sizeof(float)),
    vbpr__aligned_array(bd, sizeof(float)), vbpr__aligned_array(bmd, sizeof(float)),
    vbpr__aligned_array(bnd, sizeof(float)), vbpr__malloc_array(bm, sizeof(float)),
    vbpr__malloc_array(bn, sizeof(float))};
  if (!g.users || !g.pos || !g.neg || !g.emb_user || !g.emb_pos || !g.emb_neg ||
      !g.grad_user || !g.grad_pos || !g.grad_neg || !g.lp_pos || !g.lp_neg) {
    free_buffers(&g);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                       "cannot allocate batch buffers (batch %zu, M %zu, N %zu, dim %zu)",
                       rows, m, n, dim);
  }
  free_buffers(b);
  *b = g;
  return VBPR_OK;
}

static vbpr_status sync_sampler(vbpr_trainer *tr, vbpr_sampler_param sp, vbpr_loss_param lp)
{
  double want, have;
  vbpr_status st = vbpr_loss_get(tr->loss, lp, &want);
  if (st == VBPR_OK) st = vbpr_sampler_get(tr->sampler, sp, &have);
  if (st == VBPR_OK && want != have) st = vbpr_sampler_set(tr->sampler, sp, want);
  return st;
}

vbpr_status vbpr__trainer_sync(vbpr_trainer *tr, const char *func)
{
  vbpr_status st = sync_sampler(tr, VBPR_SAMPLER_NUM_POS, VBPR_LOSS_NUM_POS);
  if (st == VBPR_OK) st = sync_sampler(tr, VBPR_SAMPLER_NUM_NEG, VBPR_LOSS_NUM_NEG);
  double rows = 0, m = 0, n = 0;
  if (st == VBPR_OK) st = vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_BATCH_SIZE, &rows);
  if (st == VBPR_OK) st = vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_NUM_POS, &m);
  if (st == VBPR_OK) st = vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_NUM_NEG, &n);
  if (st != VBPR_OK) return st;
  st = grow_buffers(&tr->buf, (size_t)rows, (size_t)m, (size_t)n,
                    (size_t)vbpr_encoder_dim(tr->enc), func);
  if (st == VBPR_OK) st = vbpr__trainer_noise_sync(tr, (size_t)rows, (size_t)m, func);
  return st;
}

/* ---- one batch, one epoch ------------------------------------------------ */

static void gather_priors(const float *item_lp, const int32_t *ids, size_t n, float *out)
{
  for (size_t i = 0; i < n; i++) out[i] = item_lp[ids[i]];
}

/* One batch of `rows` tuples of m positives and n negatives already in the
 * buffers. */
static vbpr_status train_batch(vbpr_trainer *tr, size_t rows, size_t m, size_t n,
                               float *loss_out)
{
  vbpr__batch_bufs *b = &tr->buf;
  vbpr_status st = vbpr_encoder_zero_grad(tr->enc);
  if (st == VBPR_OK)
    st = vbpr_encoder_forward(tr->enc, rows, m, n, b->users, b->pos, b->neg, b->emb_user,
                              b->emb_pos, b->emb_neg);
  if (st != VBPR_OK) return st;
  const float *lpp = NULL, *lpn = NULL;
  if (tr->item_lp_pos != NULL) {
    gather_priors(tr->item_lp_pos, b->pos, rows * m, b->lp_pos);
    gather_priors(tr->item_lp_neg, b->neg, rows * n, b->lp_neg);
    lpp = b->lp_pos;
    lpn = b->lp_neg;
  }
  st = vbpr_loss_forward_backward(tr->loss, rows, (size_t)vbpr_encoder_dim(tr->enc),
                                  b->emb_user, b->emb_pos, b->emb_neg, lpp, lpn, 1.0f,
                                  loss_out, b->grad_user, b->grad_pos, b->grad_neg);
  if (st == VBPR_OK) st = vbpr__trainer_noise_record(tr, rows, m, "vbpr_trainer_epoch");
  /* The encoder's own term (XSimGCL's contrastive loss): its gradient joins
   * the batch's in the backward below. */
  double extra = 0;
  if (st == VBPR_OK) st = vbpr__encoder_extra_loss(tr->enc, &extra, "vbpr_trainer_epoch");
  if (st == VBPR_OK) *loss_out += (float)extra;
  if (st == VBPR_OK)
    st = vbpr_encoder_backward(tr->enc, b->grad_user, b->grad_pos, b->grad_neg);
  if (st == VBPR_OK) st = vbpr_optim_step_encoder(tr->opt, tr->enc);
  return st;
}

/* The same batch on the fused path: the sampled tuples go straight to the
 * MF tables, each tuple's gradients applied in place (vbpr/optim.h). */
static vbpr_status train_batch_fused(vbpr_trainer *tr, size_t rows, float *loss_out)
{
  vbpr__batch_bufs *b = &tr->buf;
  float *ut = NULL, *it = NULL;
  size_t nu = 0, ni = 0, dim = 0;
  vbpr_status st = vbpr_encoder_table(tr->enc, VBPR_TABLE_USERS, &ut, NULL, &nu, &dim);
  if (st == VBPR_OK) st = vbpr_encoder_table(tr->enc, VBPR_TABLE_ITEMS, &it, NULL, &ni, NULL);
  double mean = 0;
  if (st == VBPR_OK)
    st = vbpr_optim_step_tuples(tr->opt, tr->loss, 0, nu, ni, dim, ut, it, rows, b->users,
                                b->pos, b->neg, tr->item_lp_pos, tr->item_lp_neg, &mean);
  *loss_out = (float)mean;
  return st;
}

/* The fused path updates table rows in place: the rows must be the
 * embeddings (MF) and the optimizer must update a row on its own. */
static vbpr_status check_fused(const vbpr_trainer *tr, const char *func)
{
  if (vbpr_encoder_get_kind(tr->enc) != VBPR_ENCODER_MF)
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "the fused path trains the MF encoder only (its rows are the "
                       "embeddings); set fused to 0 for %s",
                       vbpr__encoder_kind_name((int)vbpr_encoder_get_kind(tr->enc)));
  vbpr_optim_kind k = vbpr_optim_get_kind(tr->opt);
  if (k != VBPR_OPTIM_SGD && k != VBPR_OPTIM_ADAGRAD && k != VBPR_OPTIM_SPARSE_ADAM)
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "the fused path needs a row-wise optimizer (sgd, adagrad or "
                       "sparse_adam); %s is not one",
                       k == VBPR_OPTIM_ADAM ? "adam" : "lazy_adam");
  if (tr->param[VBPR_TRAINER_NOISE_TRACK] != 0) /* it keeps no attention to record */
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "noise diagnosis needs the batched path; set fused to 0 or "
                       "noise_track to 0");
  return VBPR_OK;
}

static bool report(vbpr_trainer *tr, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                   size_t nbatches, double loss)
{
  return tr->progress != NULL &&
         tr->progress(tr->progress_data, ev, epoch, batch, nbatches, loss) != 0;
}

static vbpr_status numeric_failure(vbpr_status st, int64_t epoch, size_t batch,
                                   const char *func)
{
  char why[256];
  snprintf(why, sizeof why, "%s", st == VBPR_OK ? "the loss is not finite" : vbpr_last_error());
  return vbpr__error(VBPR_ERR_NUMERIC, func,
                     "non-finite values at epoch %lld, batch %zu (a lower learning rate may "
                     "help): %s", (long long)epoch, batch, why);
}

static vbpr_status run_epoch(vbpr_trainer *tr, double *mean_loss, const char *func)
{
  if (tr->dp != NULL) return vbpr__trainer_dp_epoch(tr, VBPR_OK, mean_loss, func);
  vbpr_status st = vbpr__trainer_sync(tr, func);
  if (st == VBPR_OK) st = vbpr__trainer_priors(tr, func);
  bool fused = tr->param[VBPR_TRAINER_FUSED] != 0;
  if (st == VBPR_OK && fused) st = check_fused(tr, func);
  if (st != VBPR_OK) return st;
  /* sync made the sampler's M and N the loss's and sized the buffers */
  double brows = 0, dm = 0, dn = 0;
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_BATCH_SIZE, &brows);
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_NUM_POS, &dm);
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_NUM_NEG, &dn);
  size_t m = (size_t)dm, n = (size_t)dn;
  size_t per_epoch = vbpr_sampler_rows_per_epoch(tr->sampler);
  size_t nbatches = (per_epoch + (size_t)brows - 1) / (size_t)brows;
  int64_t epoch = tr->epochs_done + 1;
  /* A stopped epoch continues: its loss so far is kept in the trainer. */
  double sum = tr->epoch_loss_sum;
  size_t b = tr->epoch_batches;
  bool boundary_seen = false;
  for (;;) {
    size_t rows = 0;
    st = vbpr_sampler_next(tr->sampler, tr->buf.users, tr->buf.pos, tr->buf.neg, &rows);
    if (st != VBPR_OK) return st;
    if (rows == 0 && b == 0 && !boundary_seen) {
      /* an epoch stopped after its last batch: this 0 ends it and starts ours */
      boundary_seen = true;
      continue;
    }
    if (rows == 0) break;
    float loss = 0;
    st = fused ? train_batch_fused(tr, rows, &loss) : train_batch(tr, rows, m, n, &loss);
    if (st == VBPR_ERR_NUMERIC || (st == VBPR_OK && !isfinite(loss)))
      return numeric_failure(st, epoch, b, func);
    if (st != VBPR_OK) return st;
    sum += loss;
    b++;
    tr->epoch_loss_sum = sum;
    tr->epoch_batches = b;
    tr->evaluated = false;
    if (report(tr, VBPR_TRAINER_EVENT_BATCH, epoch, b, nbatches, sum / (double)b)) {
      if (mean_loss != NULL) *mean_loss = sum / (double)b;
      return vbpr__error(VBPR_ERR_INTERRUPTED, func, "stopped at epoch %lld, batch %zu",
                         (long long)epoch, b);
    }
  }
  tr->epochs_done++;
  tr->epoch_loss_sum = 0;
  tr->epoch_batches = 0;
  if (mean_loss != NULL) *mean_loss = b > 0 ? sum / (double)b : 0.0;
  return VBPR_OK;
}

vbpr_status vbpr_trainer_epoch(vbpr_trainer *tr, double *mean_loss)
{
  VBPR_CHECK_NULL(tr);
  vbpr_status st = vbpr_trainer_prepare(tr);
  if (tr->dp != NULL && st != VBPR_OK) return vbpr__trainer_dp_epoch(tr, st, NULL, __func__);
  if (st != VBPR_OK) return st;
  return run_epoch(tr, mean_loss, __func__);
}

vbpr_status vbpr_trainer_fit(vbpr_trainer *tr)
{
  VBPR_CHECK_NULL(tr);
  vbpr_status st = vbpr_trainer_prepare(tr);
  if (st == VBPR_OK) st = vbpr__trainer_checkpoint_usable(tr, __func__);
  if (tr->dp != NULL && st != VBPR_OK) return vbpr__trainer_dp_epoch(tr, st, NULL, __func__);
  if (st != VBPR_OK) return st;
  int64_t epochs = (int64_t)tr->param[VBPR_TRAINER_EPOCHS];
  int64_t every = (int64_t)tr->param[VBPR_TRAINER_EVAL_EVERY];
  while (tr->epochs_done < epochs) {
    double loss = 0;
    st = run_epoch(tr, &loss, __func__);
    if (st == VBPR_ERR_INTERRUPTED) {
      vbpr_status saved = vbpr__trainer_autosave(tr, true, __func__);
      return saved != VBPR_OK ? saved : st;
    }
    if (st != VBPR_OK) return st;
    int64_t e = tr->epochs_done;
    bool stop = report(tr, VBPR_TRAINER_EVENT_EPOCH, e, 0, 0, loss);
    if (tr->test != NULL && every > 0 && (e % every == 0 || e == epochs)) {
      st = vbpr_trainer_evaluate(tr);
      if (st != VBPR_OK) return st;
      stop = report(tr, VBPR_TRAINER_EVENT_EVALUATION, e, 0, 0, loss) || stop;
    }
    if (tr->dp != NULL) { /* every rank stops when one asks */
      st = vbpr__trainer_dp_agree_stop(tr, VBPR_OK, &stop, __func__);
      if (st != VBPR_OK) return st;
    }
    st = vbpr__trainer_autosave(tr, stop, __func__);
    if (st != VBPR_OK) return st;
    if (stop)
      return VBPR_FAIL(VBPR_ERR_INTERRUPTED, "stopped after epoch %lld", (long long)e);
  }
  return VBPR_OK;
}
