/* The trainer's data-parallel path (vbpr_trainer_set_collective): each
 * rank trains its share of every global batch, the ranks sum their
 * gradients (lib/train/collective.c), and every rank applies the same
 * optimizer step. Every call that may be followed by a collective on one
 * rank agrees with the others first, so that a failure or a stop on one
 * rank is seen by all at the same point. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "encoder/encoder_internal.h"
#include "train/collective_internal.h"
#include "train/train_internal.h"

vbpr_status vbpr_trainer_set_collective(vbpr_trainer *tr, const vbpr_collective *c)
{
  VBPR_CHECK_NULL(tr);
  if (tr->prepared)
    return VBPR_FAIL(VBPR_ERR_STATE, "the collective is fixed by vbpr_trainer_prepare(); "
                     "set it before");
  if (c == NULL) {
    vbpr__trainer_dp_free(tr);
    return VBPR_OK;
  }
  vbpr_collective copy;
  vbpr_status st = vbpr__collective_copy(c, &copy, __func__);
  if (st != VBPR_OK) return st;
  if (tr->dp == NULL) {
    tr->dp = vbpr__calloc(1, sizeof *tr->dp);
    if (tr->dp == NULL) return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate the state");
  }
  tr->dp->coll = copy;
  return VBPR_OK;
}

void vbpr__trainer_dp_free(vbpr_trainer *tr)
{
  if (tr->dp == NULL) return;
  vbpr__dp_ws_free(&tr->dp->ws);
  vbpr__free(tr->dp);
  tr->dp = NULL;
}

vbpr_status vbpr__trainer_dp_prepare(vbpr_trainer *tr)
{
  if (tr->dp == NULL) return VBPR_OK;
  /* an encoder kind that cannot take summed gradients is refused now,
   * not in the middle of the first exchange (no row: nothing changes) */
  vbpr_status st = vbpr__encoder_touch_rows(tr->enc, VBPR_TABLE_USERS, 0, NULL,
                                            "vbpr_trainer_prepare");
  if (st == VBPR_OK)
    st = vbpr_sampler_set(tr->sampler, VBPR_SAMPLER_WORLD_SIZE, (double)tr->dp->coll.size);
  if (st == VBPR_OK)
    st = vbpr_sampler_set(tr->sampler, VBPR_SAMPLER_RANK, (double)tr->dp->coll.rank);
  return st;
}

/* ---- agreement on what keeps the ranks in step --------------------------- */

enum { FP_BATCH, FP_M, FP_N, FP_ROWS_LO, FP_ROWS_HI, FP_EPOCH, FP_POS_LO, FP_POS_HI,
       FP_USERS, FP_ITEMS, FP_DIM, FP_ENCODER, FP_LOSS, FP_OPTIM, FP_SEED, FP_COUNT };
static const char *const fp_names[FP_COUNT] = {
  "the batch size", "num_pos", "num_neg", "the rows per epoch", "the rows per epoch",
  "the sampler's epoch", "the sampler's position", "the sampler's position",
  "the number of users", "the number of items", "dim", "the encoder kind", "the loss kind",
  "the optimizer kind", "the seed"};

static int32_t low31(double v) { return (int32_t)fmod(v, 2147483648.0); }
static int32_t high31(double v) { return (int32_t)floor(v / 2147483648.0); }

static void fingerprint(vbpr_trainer *tr, int32_t *fp)
{
  double b = 0, m = 0, n = 0, seed = 0;
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_BATCH_SIZE, &b);
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_NUM_POS, &m);
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_NUM_NEG, &n);
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_SEED, &seed);
  double rows = (double)vbpr_sampler_rows_per_epoch(tr->sampler);
  double pos = (double)vbpr_sampler_position(tr->sampler);
  int32_t v[FP_COUNT] = {
    (int32_t)b, (int32_t)m, (int32_t)n, low31(rows), high31(rows),
    low31((double)vbpr_sampler_epoch(tr->sampler)), low31(pos), high31(pos),
    (int32_t)vbpr_encoder_num_users(tr->enc), (int32_t)vbpr_encoder_num_items(tr->enc),
    (int32_t)vbpr_encoder_dim(tr->enc), (int32_t)vbpr_encoder_get_kind(tr->enc),
    (int32_t)vbpr_loss_get_kind(tr->loss), (int32_t)vbpr_optim_get_kind(tr->opt),
    low31(seed)};
  memcpy(fp, v, sizeof v);
}

/* At the start of an epoch: the ranks agree that they are fine and that
 * they will draw the same batches. */
static vbpr_status check_in_step(vbpr_trainer *tr, vbpr_status local, const char *func)
{
  int32_t fp[FP_COUNT] = {0};
  if (local == VBPR_OK) fingerprint(tr, fp);
  const vbpr_collective *c = &tr->dp->coll;
  const int32_t *all = NULL;
  vbpr_status st = vbpr__collective_agree(c, &tr->dp->ws, local, FP_COUNT, fp, &all, func);
  if (st != VBPR_OK) return st;
  for (size_t r = 1; r < c->size; r++)
    for (int f = 0; f < FP_COUNT; f++) {
      int32_t a = all[1 + f], x = all[r * (1 + FP_COUNT) + 1 + (size_t)f];
      if (a != x)
        return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                           "the ranks are not in step: %s differs between rank 0 (%d) "
                           "and rank %zu (%d); give every rank the same data, seed and "
                           "parameters", fp_names[f], (int)a, r, (int)x);
    }
  return VBPR_OK;
}

vbpr_status vbpr__trainer_dp_agree_stop(vbpr_trainer *tr, vbpr_status local, bool *stop,
                                        const char *func)
{
  const vbpr_collective *c = &tr->dp->coll;
  int32_t mine = *stop ? 1 : 0;
  const int32_t *all = NULL;
  vbpr_status st = vbpr__collective_agree(c, &tr->dp->ws, local, 1, &mine, &all, func);
  if (st != VBPR_OK) return st;
  for (size_t r = 0; r < c->size; r++) *stop = *stop || all[2 * r + 1] != 0;
  return VBPR_OK;
}

/* ---- one batch ----------------------------------------------------------- */

/* This rank's rows of a global batch of n rows: the gradient of its share
 * of the global batch's mean loss (grad_output rows / n); *loss_sum gets
 * its loss times its rows. */
static vbpr_status local_step(vbpr_trainer *tr, size_t rows, size_t n, size_t m, size_t nn,
                              float *loss_sum)
{
  vbpr__batch_bufs *b = &tr->buf;
  vbpr_status st = vbpr_encoder_forward(tr->enc, rows, m, nn, b->users, b->pos, b->neg,
                                        b->emb_user, b->emb_pos, b->emb_neg);
  if (st != VBPR_OK) return st;
  const float *lpp = NULL, *lpn = NULL;
  if (tr->item_lp_pos != NULL) {
    for (size_t i = 0; i < rows * m; i++) b->lp_pos[i] = tr->item_lp_pos[b->pos[i]];
    for (size_t i = 0; i < rows * nn; i++) b->lp_neg[i] = tr->item_lp_neg[b->neg[i]];
    lpp = b->lp_pos;
    lpn = b->lp_neg;
  }
  float loss = 0;
  st = vbpr_loss_forward_backward(tr->loss, rows, vbpr_encoder_dim(tr->enc), b->emb_user,
                                  b->emb_pos, b->emb_neg, lpp, lpn, (float)rows / (float)n,
                                  &loss, b->grad_user, b->grad_pos, b->grad_neg);
  if (st == VBPR_OK && !isfinite(loss))
    st = VBPR_FAIL(VBPR_ERR_NUMERIC, "the loss of this rank's rows is not finite");
  if (st == VBPR_OK) st = vbpr_encoder_backward(tr->enc, b->grad_user, b->grad_pos, b->grad_neg);
  *loss_sum = loss * (float)rows;
  return st;
}

/* Rows of the next global batch, from the sampler's position: known to
 * every rank whatever happened to its own sampler. */
static size_t next_batch_rows(const vbpr_sampler *s, size_t batch)
{
  size_t per = vbpr_sampler_rows_per_epoch(s), at = vbpr_sampler_position(s);
  size_t left = per > at ? per - at : 0;
  return left < batch ? left : batch;
}

static vbpr_status train_batch(vbpr_trainer *tr, size_t n, size_t m, size_t nn,
                               double *loss, const char *func)
{
  size_t rows = 0, global = 0;
  float sums[1] = {0};
  vbpr_status local = vbpr_encoder_zero_grad(tr->enc);
  if (local == VBPR_OK)
    local = vbpr_sampler_next_shard(tr->sampler, tr->buf.users, tr->buf.pos, tr->buf.neg,
                                    &rows, &global);
  if (local == VBPR_OK && global != n)
    local = vbpr__error(VBPR_ERR_STATE, func, "expected a batch of %zu rows, got %zu", n,
                        global);
  if (local == VBPR_OK && rows > 0) local = local_step(tr, rows, n, m, nn, &sums[0]);
  vbpr_status st = vbpr__collective_reduce(&tr->dp->coll, &tr->dp->ws, tr->enc, local, 1,
                                           sums, func);
  if (st != VBPR_OK) return st;
  *loss = (double)sums[0] / (double)n;
  if (!isfinite(*loss)) /* the same sum on every rank: every rank stops */
    return vbpr__error(VBPR_ERR_NUMERIC, func, "the loss of the global batch is not finite");
  return VBPR_OK;
}

/* ---- one epoch ----------------------------------------------------------- */

/* The agreed message ("rank R: ...") with the epoch and batch. */
static vbpr_status numeric_failure(int64_t epoch, size_t batch, const char *func)
{
  char why[512];
  const char *msg = vbpr_last_error();
  size_t len = strlen(func);
  if (strncmp(msg, func, len) == 0 && strncmp(msg + len, ": ", 2) == 0) msg += len + 2;
  snprintf(why, sizeof why, "%s", msg);
  return vbpr__error(VBPR_ERR_NUMERIC, func,
                     "non-finite values at epoch %lld, batch %zu (a lower learning rate may "
                     "help): %s", (long long)epoch, batch, why);
}

static bool report(vbpr_trainer *tr, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                   size_t nbatches, double loss)
{
  return tr->progress != NULL &&
         tr->progress(tr->progress_data, ev, epoch, batch, nbatches, loss) != 0;
}

/* What works in one process only. */
static vbpr_status refuse_single_process(const vbpr_trainer *tr, const char *func)
{
  if (tr->param[VBPR_TRAINER_FUSED] != 0)
    /* Hogwild updates rows in place; ranks would drift apart with no sum */
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "the fused path runs in one process; set fused to 0 to train with "
                       "a collective");
  if (tr->param[VBPR_TRAINER_NOISE_TRACK] != 0)
    /* each rank sees only its shard of every interaction's visits */
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "noise diagnosis runs in one process; set noise_track to 0 to "
                       "train with a collective");
  return VBPR_OK;
}

vbpr_status vbpr__trainer_dp_epoch(vbpr_trainer *tr, vbpr_status local, double *mean_loss,
                                   const char *func)
{
  if (local == VBPR_OK) local = vbpr__trainer_sync(tr, func);
  if (local == VBPR_OK) local = vbpr__trainer_priors(tr, func);
  if (local == VBPR_OK) local = refuse_single_process(tr, func);
  vbpr_status st = check_in_step(tr, local, func);
  if (st != VBPR_OK) return st;
  double brows = 0, dm = 0, dn = 0;
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_BATCH_SIZE, &brows);
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_NUM_POS, &dm);
  vbpr_sampler_get(tr->sampler, VBPR_SAMPLER_NUM_NEG, &dn);
  size_t B = (size_t)brows, per_epoch = vbpr_sampler_rows_per_epoch(tr->sampler);
  size_t nbatches = (per_epoch + B - 1) / B;
  int64_t epoch = tr->epochs_done + 1;
  double sum = 0;
  size_t b = 0;
  bool boundary_seen = false;
  for (;;) {
    size_t n = next_batch_rows(tr->sampler, B);
    if (n == 0) {
      size_t rows = 0, global = 0; /* ends the sampler's epoch: cannot fail */
      vbpr_sampler_next_shard(tr->sampler, tr->buf.users, tr->buf.pos, tr->buf.neg, &rows,
                              &global);
      if (b == 0 && !boundary_seen) { /* an epoch stopped after its last batch */
        boundary_seen = true;
        continue;
      }
      break;
    }
    double loss = 0;
    st = train_batch(tr, n, (size_t)dm, (size_t)dn, &loss, func);
    if (st == VBPR_ERR_NUMERIC) /* as the single-process path says it */
      return numeric_failure(epoch, b, func);
    if (st != VBPR_OK) return st;
    vbpr_status step = vbpr_optim_step_encoder(tr->opt, tr->enc);
    sum += loss;
    b++;
    tr->evaluated = false;
    bool stop = step == VBPR_OK && report(tr, VBPR_TRAINER_EVENT_BATCH, epoch, b, nbatches,
                                          sum / (double)b);
    st = vbpr__trainer_dp_agree_stop(tr, step, &stop, func);
    if (st != VBPR_OK) return st;
    if (stop) {
      if (mean_loss != NULL) *mean_loss = sum / (double)b;
      return vbpr__error(VBPR_ERR_INTERRUPTED, func, "stopped at epoch %lld, batch %zu",
                         (long long)epoch, b);
    }
  }
  tr->epochs_done++;
  if (mean_loss != NULL) *mean_loss = b > 0 ? sum / (double)b : 0.0;
  return VBPR_OK;
}

/* ---- evaluation ---------------------------------------------------------- */

vbpr_status vbpr__trainer_dp_evaluate(vbpr_trainer *tr, vbpr_status local, const char *func)
{
  const float *users = NULL, *items = NULL;
  if (local == VBPR_OK) local = vbpr_encoder_embeddings(tr->enc, &users, &items);
  /* a failure before the exchange joins its agreement (NULL tables say so) */
  vbpr_evaluator *ev = local == VBPR_OK ? tr->ev : NULL;
  size_t dim = tr->enc ? vbpr_encoder_dim(tr->enc) : 1;
  if (local != VBPR_OK) {
    /* keep this rank's message: the agreement shares it */
    vbpr_status st = vbpr__collective_agree(&tr->dp->coll, &tr->dp->ws, local, 0, NULL,
                                            &(const int32_t *){NULL}, func);
    return st != VBPR_OK ? st : local;
  }
  return vbpr__collective_evaluate(&tr->dp->coll, &tr->dp->ws, ev,
                                   vbpr_dataset_num_users(tr->train),
                                   vbpr_dataset_num_items(tr->train), dim, users, items, func);
}

vbpr_status vbpr__trainer_dp_lost(vbpr_trainer *tr, vbpr_status st)
{
  const vbpr_collective *c = &tr->dp->coll;
  if (st != VBPR_OK && c->abort_job != NULL) c->abort_job(c->ctx, st, vbpr_last_error());
  return st;
}
