/* The fused training path (vbpr_optim_step_tuples): per tuple (u, i_1..i_M,
 * j_1..j_N), the scores, the loss's score gradients and the row updates
 * happen in one pass while the rows are in cache, in place, with no batch
 * buffers, gradient tables or optimizer sweep: the way the fastest BPR
 * engines (LIBMF, implicit) train, for every loss kind.
 *
 * The score-level math is the loss's one row kernel (vbpr__loss_rows), fed
 * a few tuples at a time; the row updates are the optimizer's row-wise
 * update (vbpr__row_update). Threads split the tuples into contiguous
 * chunks and update shared rows without locks (Hogwild, as implicit does):
 * with one thread the result is a pure function of the inputs; with more,
 * two threads may update one row at once and results vary from run to run
 * (within the noise of training, as for any Hogwild trainer). A block
 * schedule (LIBMF's) was not used: exact negatives come from the whole item
 * table, so no partition of items can keep threads apart. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "loss/loss_inline.h"
#include "loss/loss_internal.h"
#include "optim/optim_internal.h"
#include "vbpr/loss.h"
#include "vbpr/optim.h"

/* Tuples per call of the row kernel: enough rows for its vector loops, few
 * enough that the group's rows stay in L1 between scoring and updating; a
 * tuple of more than GROUP_BYTES of rows is a group of its own (BPR at
 * d 128 is 1.5 KB; Variational BPR at M 2, N 16 about 10 KB). Measured on
 * Gowalla tables: groups of 4 take BPR from 490 to 420 ns per tuple; for
 * large tuples they gain nothing. The rows of the next group (or, for
 * large tuples, of the tuple PREFETCH_TUPLES ahead) are requested early:
 * about 10% for large tuples, nothing measurable for small ones. */
enum { GROUP = 4, GROUP_BYTES = 2048, PREFETCH_TUPLES = 2 };

/* Work (about one unit per multiply-add) per thread below which a call
 * stays on one thread: some 30 us, against about a microsecond to hand a
 * chunk to the library's worker pool. A batch of 1024 BPR tuples at d 64
 * (ml-100k) is worth two threads. */
#define MIN_WORK_PER_THREAD ((size_t)1 << 16)

typedef struct fused_job {
  const vbpr__loss_cfg *cfg;
  size_t dim, group;
  float *ut, *it; /* user and item tables */
  vbpr__row_opt uo, io;
  const int32_t *users, *pos, *neg;
  const float *lpp, *lpn; /* per-item log-priors [num_items], or NULL */
  double *ws;             /* per-thread workspace, ws_stride doubles each */
  size_t ws_stride;
  /* per thread: summed losses and count of the applied tuples, the first
   * skipped tuple (SIZE_MAX: none) and the number skipped */
  double loss[VBPR__LOSS_MAX_THREADS];
  size_t applied[VBPR__LOSS_MAX_THREADS];
  size_t first_bad[VBPR__LOSS_MAX_THREADS];
  size_t n_bad[VBPR__LOSS_MAX_THREADS];
} fused_job;

/* A thread's workspace, carved from its doubles. */
typedef struct fused_ws {
  double *scratch, *loss;
  float *ps, *ns, *lp, *ln, *gp, *gn, *gu;
  float *gi; /* [M + N] the items' step factors */
} fused_ws;

static size_t up8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Doubles of workspace one thread needs. */
static size_t ws_doubles(const vbpr__loss_cfg *cfg, size_t group, size_t dim)
{
  size_t G = group, M = cfg->M, N = cfg->N;
  size_t floats = 3 * up8(G * M) + 3 * up8(G * N) + up8(dim) + up8(M + N);
  return up8(vbpr__loss_scratch_per_thread(cfg)) + up8(G) + up8(floats) / 2 + 8;
}

static fused_ws carve(const fused_job *j, int tid)
{
  size_t G = j->group, M = j->cfg->M, N = j->cfg->N;
  double *d = j->ws + (size_t)tid * j->ws_stride;
  fused_ws w;
  w.scratch = d, d += up8(vbpr__loss_scratch_per_thread(j->cfg));
  w.loss = d, d += up8(G);
  float *f = (float *)d;
  w.ps = f, f += up8(G * M);
  w.lp = f, f += up8(G * M);
  w.gp = f, f += up8(G * M);
  w.ns = f, f += up8(G * N);
  w.ln = f, f += up8(G * N);
  w.gn = f, f += up8(G * N);
  w.gu = f, f += up8(j->dim);
  w.gi = f;
  return w;
}

/* ---- prefetching ---------------------------------------------------------- */

/* Into L2 (not L1, which a Variational BPR tuple's rows and optimizer
 * state, about 30 KB at N = 16, d = 128, would thrash). */
static inline void prefetch_bytes(const void *p, size_t bytes)
{
#if defined(__GNUC__) || defined(__clang__)
  for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)p + b, 1, 2);
#else
  (void)p, (void)bytes;
#endif
}

/* The state of one row of a row-wise optimizer. */
static inline void prefetch_state(const vbpr__row_opt *o, size_t row)
{
  if (o->acc != NULL) prefetch_bytes(o->acc + row, sizeof(float));
  if (o->m != NULL) {
    prefetch_bytes(o->m + row * o->width, o->width * sizeof(float));
    prefetch_bytes(o->v + row * o->width, o->width * sizeof(float));
    prefetch_bytes(o->pw + 2 * row, 2 * sizeof(double));
  }
}

/* Every row tuple t touches: memory latency, not arithmetic, bounds a
 * tuple's cost, so the next group's rows are requested while this group is
 * computed. */
static void prefetch_tuple(const fused_job *j, size_t t)
{
  size_t M = j->cfg->M, N = j->cfg->N, rb = j->dim * sizeof(float);
  size_t u = (size_t)j->users[t];
  prefetch_bytes(j->ut + u * j->dim, rb);
  prefetch_state(&j->uo, u);
  for (size_t k = 0; k < M + N; k++) {
    size_t i = (size_t)(k < M ? j->pos[t * M + k] : j->neg[t * N + (k - M)]);
    prefetch_bytes(j->it + i * j->dim, rb);
    prefetch_state(&j->io, i);
  }
}

/* ---- one group of tuples -------------------------------------------------- */

/* Scores (and gathered log-priors) of tuples [t0, t0 + B) into w. */
VBPR_LOSS_CLONES
static void score_group(const fused_job *j, size_t t0, size_t B, const fused_ws *w)
{
  size_t M = j->cfg->M, N = j->cfg->N, d = j->dim;
  for (size_t b = 0; b < B; b++) {
    size_t t = t0 + b;
    const float *u = j->ut + (size_t)j->users[t] * d;
    for (size_t m = 0; m < M; m++)
      w->ps[b * M + m] = vbpr__dot(u, j->it + (size_t)j->pos[t * M + m] * d, d);
    for (size_t n = 0; n < N; n++)
      w->ns[b * N + n] = vbpr__dot(u, j->it + (size_t)j->neg[t * N + n] * d, d);
    if (j->lpp != NULL)
      for (size_t m = 0; m < M; m++) w->lp[b * M + m] = j->lpp[j->pos[t * M + m]];
    if (j->lpn != NULL)
      for (size_t n = 0; n < N; n++) w->ln[b * N + n] = j->lpn[j->neg[t * N + n]];
  }
}

/* Applies tuple t, whose score gradients are gp [M], gn [N]: the user's
 * gradient is summed from the items before they move (positives then
 * negatives, as on the batched path), in the same pass over each item row
 * as its Adagrad factor (vbpr__row_scale: all of them before any item
 * moves, so that their square roots and divisions overlap, and an item that
 * occurs twice in a tuple accumulates both gradients, computed from its row
 * as the tuple found it); then each item is updated with c * u, and the user
 * last. One pass fewer over each item row took Variational BPR (M 2, N 16,
 * d 128) on Gowalla tables from 2.75 to 2.4 us per tuple. */
VBPR_LOSS_CLONES
static void apply_tuple(const fused_job *j, size_t t, const float *gp, const float *gn,
                        const fused_ws *w)
{
  size_t M = j->cfg->M, N = j->cfg->N, d = j->dim;
  size_t uid = (size_t)j->users[t];
  float *restrict u = j->ut + uid * d, *restrict gu = w->gu, *restrict sc = w->gi;
  for (size_t x = 0; x < d; x++) gu[x] = 0.0f;
  for (size_t k = 0; k < M + N; k++) { /* one pass over each item row */
    size_t iid = (size_t)(k < M ? j->pos[t * M + k] : j->neg[t * N + (k - M)]);
    const float *restrict row = j->it + iid * d;
    float c = k < M ? gp[k] : gn[k - M];
    for (size_t x = 0; x < d; x++) gu[x] += c * row[x];
    sc[k] = vbpr__row_scale(&j->io, iid, row, c, u);
  }
  for (size_t k = 0; k < M + N; k++) {
    size_t iid = (size_t)(k < M ? j->pos[t * M + k] : j->neg[t * N + (k - M)]);
    vbpr__row_apply(&j->io, iid, j->it + iid * d, k < M ? gp[k] : gn[k - M], u, sc[k]);
  }
  vbpr__row_update(&j->uo, uid, u, 1.0f, gu);
}

/* What a thread accumulates, in its own variables (not in the shared job:
 * the threads would bounce its cache line at every tuple). */
typedef struct fused_tally {
  double loss;
  size_t applied, first_bad, n_bad;
} fused_tally;

/* Runs the row kernel on tuples [t0, t0 + B) and applies those whose
 * inputs and results are finite; a tuple that is not is skipped and
 * recorded (the kernel stops at it, so the rest is run again after it). */
static void run_group(const fused_job *j, size_t t0, size_t B, const fused_ws *w,
                      fused_tally *tally)
{
  size_t M = j->cfg->M, N = j->cfg->N;
  score_group(j, t0, B, w);
  for (size_t r = 0; r < B;) {
    vbpr__rows_in in = {.sp = w->ps + r * M, .sn = w->ns + r * N,
                        .lpp = j->lpp ? w->lp + r * M : NULL,
                        .lpn = j->lpn ? w->ln + r * N : NULL};
    vbpr__rows_out out = {.loss = w->loss + r, .gp = w->gp + r * M, .gn = w->gn + r * N};
    bool over;
    size_t good = r + vbpr__loss_rows(j->cfg, B - r, &in, w->scratch, &out, &over);
    for (; r < good; r++) {
      apply_tuple(j, t0 + r, w->gp + r * M, w->gn + r * N, w);
      tally->loss += w->loss[r];
      tally->applied++;
    }
    if (r < B) { /* tuple t0 + r has a non-finite score, prior or result */
      if (tally->first_bad == SIZE_MAX) tally->first_bad = t0 + r;
      tally->n_bad++;
      r++;
    }
  }
}

static void fused_range(void *ctx, size_t begin, size_t end, int tid)
{
  fused_job *j = ctx;
  fused_ws w = carve(j, tid);
  size_t G = j->group, ahead = G > 1 ? G : PREFETCH_TUPLES;
  fused_tally tally = {0.0, 0, SIZE_MAX, 0};
  for (size_t t = begin; t < begin + ahead && t < end; t++) prefetch_tuple(j, t);
  for (size_t t0 = begin; t0 < end; t0 += G) {
    size_t B = end - t0 < G ? end - t0 : G;
    for (size_t t = t0 + ahead; t < t0 + ahead + B && t < end; t++) prefetch_tuple(j, t);
    run_group(j, t0, B, &w, &tally);
  }
  j->loss[tid] = tally.loss;
  j->applied[tid] = tally.applied;
  j->first_bad[tid] = tally.first_bad;
  j->n_bad[tid] = tally.n_bad;
}

/* ---- the public call ------------------------------------------------------ */

static vbpr_status check_ids(const char *func, const char *name, const int32_t *ids,
                             size_t n, size_t limit)
{
  for (size_t i = 0; i < n; i++)
    if (ids[i] < 0 || (size_t)ids[i] >= limit)
      return vbpr__error(VBPR_ERR_OUT_OF_RANGE, func,
                         "%s[%zu] = %d is out of range [0, %zu); nothing was updated", name,
                         i, (int)ids[i], limit);
  return VBPR_OK;
}

static vbpr_status check_tables(const char *func, size_t num_users, size_t num_items,
                                size_t dim)
{
  size_t n;
  if (num_users == 0 || num_items == 0 || dim == 0 || num_users > INT32_MAX ||
      num_items > INT32_MAX || !vbpr__mul_ok(num_users, dim, &n) ||
      !vbpr__mul_ok(n, sizeof(float), &n) || !vbpr__mul_ok(num_items, dim, &n) ||
      !vbpr__mul_ok(n, sizeof(float), &n))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "tables must have 1 to 2^31-1 rows of dim >= 1 floats that fit in "
                       "memory, got %zu users, %zu items, dim %zu", num_users, num_items,
                       dim);
  return VBPR_OK;
}

static vbpr_status check_tuples(const char *func, const vbpr__loss_cfg *cfg, size_t count,
                                size_t num_users, size_t num_items, const int32_t *users,
                                const int32_t *pos, const int32_t *neg)
{
  size_t nm, nn;
  if (!vbpr__mul_ok(count, cfg->M, &nm) || !vbpr__mul_ok(count, cfg->N, &nn) ||
      !vbpr__mul_ok(nm, sizeof(int32_t), &nm) || !vbpr__mul_ok(nn, sizeof(int32_t), &nn))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "count (%zu) x M (%zu) or x N (%zu) ids overflow size_t", count,
                       cfg->M, cfg->N);
  vbpr_status st = check_ids(func, "users", users, count, num_users);
  if (st == VBPR_OK) st = check_ids(func, "pos", pos, count * cfg->M, num_items);
  if (st == VBPR_OK) st = check_ids(func, "neg", neg, count * cfg->N, num_items);
  return st;
}

/* The threads of a call: Hogwild needs no more than work to share. Under
 * ThreadSanitizer one, since the races are by design. */
static int threads_for(const vbpr__loss_cfg *cfg, size_t count, size_t dim)
{
#if defined(__SANITIZE_THREAD__)
  (void)cfg, (void)count, (void)dim;
  return 1;
#else
  size_t work;
  if (!vbpr__mul_ok(count, (1 + cfg->M + cfg->N) * (dim + 8), &work)) work = SIZE_MAX;
  if (work < 2 * MIN_WORK_PER_THREAD) return 1;
  int nt = vbpr__threads_for(work, MIN_WORK_PER_THREAD);
  return nt > VBPR__LOSS_MAX_THREADS ? VBPR__LOSS_MAX_THREADS : nt;
#endif
}

/* The first skipped tuple over all threads (each saw its chunk in order),
 * the totals, and the error that reports the skipped ones. */
static vbpr_status finish(const fused_job *j, int nt, size_t count, double *mean_loss,
                          const char *func)
{
  double sum = 0;
  size_t applied = 0, bad = 0, first = SIZE_MAX;
  for (int t = 0; t < nt; t++) {
    sum += j->loss[t];
    applied += j->applied[t];
    bad += j->n_bad[t];
    if (j->first_bad[t] < first) first = j->first_bad[t];
  }
  if (mean_loss != NULL) *mean_loss = applied > 0 ? sum / (double)applied : 0.0;
  if (bad == 0) return VBPR_OK;
  return vbpr__error(VBPR_ERR_NUMERIC, func,
                     "%zu of %zu tuples were skipped, the first tuple %zu (user %d): a "
                     "score, log-prior or gradient is not finite (a lower learning rate "
                     "may help); the other tuples were applied",
                     bad, count, first, (int)j->users[first]);
}

vbpr_status vbpr_optim_step_tuples(vbpr_optim *opt, vbpr_loss *loss, int32_t slot,
                                   size_t num_users, size_t num_items, size_t dim,
                                   float *user_table, float *item_table, size_t count,
                                   const int32_t *users, const int32_t *pos,
                                   const int32_t *neg, const float *item_log_prior_pos,
                                   const float *item_log_prior_neg, double *mean_loss)
{
  const char *func = __func__;
  VBPR_CHECK_NULL(opt);
  VBPR_CHECK_NULL(loss);
  VBPR_CHECK_NULL(user_table);
  VBPR_CHECK_NULL(item_table);
  if (count > 0) {
    VBPR_CHECK_NULL(users);
    VBPR_CHECK_NULL(pos);
    VBPR_CHECK_NULL(neg);
  }
  if (slot < 0 || slot >= VBPR_OPTIM_MAX_SLOTS - 1)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "slot must be in [0, %d) (the items use slot + 1), got %d",
                     VBPR_OPTIM_MAX_SLOTS - 1, (int)slot);
  const vbpr__loss_cfg *cfg = &loss->cfg;
  fused_job j;
  memset(&j, 0, offsetof(fused_job, loss));
  vbpr_status st = check_tables(func, num_users, num_items, dim);
  if (st == VBPR_OK)
    st = check_tuples(func, cfg, count, num_users, num_items, users, pos, neg);
  if (st == VBPR_OK) st = vbpr__optim_rows_begin(opt, slot, num_users, dim, &j.uo, func);
  if (st == VBPR_OK) st = vbpr__optim_rows_begin(opt, slot + 1, num_items, dim, &j.io, func);
  int nt = threads_for(cfg, count, dim);
  j.group = (1 + cfg->M + cfg->N) * dim * sizeof(float) > GROUP_BYTES ? 1 : GROUP;
  if (vbpr__loss_block_rows(cfg) < j.group) j.group = vbpr__loss_block_rows(cfg);
  j.ws_stride = ws_doubles(cfg, j.group, dim);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&loss->scratch, &loss->scratch_cap,
                       (size_t)nt * j.ws_stride, sizeof(double), func);
  if (st != VBPR_OK) return st;
  if (mean_loss != NULL) *mean_loss = 0.0;
  if (count == 0) return VBPR_OK;
  vbpr__optim_count_step(opt, slot);
  vbpr__optim_count_step(opt, slot + 1);
  j.cfg = cfg, j.dim = dim, j.ut = user_table, j.it = item_table;
  j.users = users, j.pos = pos, j.neg = neg;
  j.lpp = item_log_prior_pos, j.lpn = item_log_prior_neg;
  j.ws = loss->scratch;
  vbpr__parallel_for(count, nt, fused_range, &j);
  return finish(&j, nt, count, mean_loss, func);
}
