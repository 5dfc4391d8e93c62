/* Data parallelism over the host's collectives: agreement on failures,
 * the gradient exchange (sparse for row-sparse gradients, dense
 * otherwise) and evaluation split by users. See vbpr/collective.h.
 *
 * Every decision that chooses which collective comes next is taken from
 * data all ranks hold after an exchange (never from local data alone), so
 * the ranks always make the same sequence of calls. */
#include <string.h>

#include "core/core.h"
#include "encoder/encoder_internal.h"
#include "eval/eval_internal.h"
#include "train/collective_internal.h"
#include "vbpr/error.h"

/* A message travels as this many int32 (its bytes, NUL-padded). */
#define MSG_IDS 64

vbpr_status vbpr_collective_init(vbpr_collective *c, unsigned version)
{
  VBPR_CHECK_NULL(c);
  if (version == 0 || version > VBPR_COLLECTIVE_VERSION)
    return VBPR_FAIL(version == 0 ? VBPR_ERR_INVALID_ARGUMENT : VBPR_ERR_UNSUPPORTED,
                     "version must be in [1, %d] (this library's), got %u",
                     VBPR_COLLECTIVE_VERSION, version);
  memset(c, 0, sizeof *c);
  c->version = version;
  c->size = 1;
  return VBPR_OK;
}

vbpr_status vbpr__collective_copy(const vbpr_collective *in, vbpr_collective *out,
                                  const char *func)
{
  if (in == NULL) return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "c must not be NULL");
  if (in->version == 0 || in->version > VBPR_COLLECTIVE_VERSION)
    return vbpr__error(in->version == 0 ? VBPR_ERR_INVALID_ARGUMENT : VBPR_ERR_UNSUPPORTED,
                       func, "c->version must be in [1, %d], got %u (fill the table with "
                       "vbpr_collective_init)", VBPR_COLLECTIVE_VERSION, in->version);
  if (in->size < 1 || in->size > VBPR_COLLECTIVE_MAX_RANKS || in->rank >= in->size)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "c->size must be in [1, %d] and c->rank below it, got rank %zu of %zu",
                       VBPR_COLLECTIVE_MAX_RANKS, in->rank, in->size);
  if (in->all_reduce_sum == NULL || in->all_gather_ids == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "c->%s must not be NULL",
                       in->all_reduce_sum == NULL ? "all_reduce_sum" : "all_gather_ids");
  /* version 1 is every field there is; a later version copies its own */
  *out = *in;
  return VBPR_OK;
}

void vbpr__dp_ws_free(vbpr__dp_ws *ws)
{
  vbpr__free(ws->send);
  vbpr__free(ws->recv);
  vbpr__free(ws->mark);
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) vbpr__free(ws->rows[t]);
  vbpr__free(ws->buf);
  memset(ws, 0, sizeof *ws);
}

/* ---- calling the host -------------------------------------------------- */

/* The ranks are out of step from here: the host is asked to end the job. */
static vbpr_status lost(const vbpr_collective *c, vbpr_status st)
{
  if (c->abort_job != NULL) c->abort_job(c->ctx, st, vbpr_last_error());
  return st;
}

static vbpr_status gather(const vbpr_collective *c, size_t n, const int32_t *send,
                          int32_t *recv, const char *func)
{
  int rc = c->all_gather_ids(c->ctx, n, send, recv);
  if (rc == 0) return VBPR_OK;
  return lost(c, vbpr__error(VBPR_ERR_IO, func,
                             "rank %zu: the host's all_gather_ids of %zu ids failed "
                             "(returned %d)", c->rank, n, rc));
}

static vbpr_status reduce(const vbpr_collective *c, size_t n, float *buf, const char *func)
{
  if (n == 0) return VBPR_OK; /* every rank knows n: every rank skips */
  int rc = c->all_reduce_sum(c->ctx, n, buf);
  if (rc == 0) return VBPR_OK;
  return lost(c, vbpr__error(VBPR_ERR_IO, func,
                             "rank %zu: the host's all_reduce_sum of %zu floats failed "
                             "(returned %d)", c->rank, n, rc));
}

/* Grows a buffer after the ranks agreed: a failure leaves them out of step. */
static vbpr_status grow(const vbpr_collective *c, void **buf, size_t *cap, size_t n,
                        size_t size, const char *func)
{
  vbpr_status st = vbpr__reserve(buf, cap, n ? n : 1, size, func);
  return st == VBPR_OK ? st : lost(c, st);
}

/* ---- agreement --------------------------------------------------------- */

/* Every rank learns the lowest failing rank's message. */
static vbpr_status share_failure(const vbpr_collective *c, vbpr__dp_ws *ws, size_t failed,
                                 vbpr_status status, vbpr_status local, const char *func)
{
  char text[MSG_IDS * sizeof(int32_t)];
  memset(text, 0, sizeof text);
  if (local != VBPR_OK) strncpy(text, vbpr_last_error(), sizeof text - 1);
  size_t all;
  if (!vbpr__mul_ok(c->size, MSG_IDS, &all))
    return lost(c, vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "too many ranks"));
  vbpr_status st = grow(c, (void **)&ws->send, &ws->send_cap, MSG_IDS, sizeof(int32_t), func);
  if (st == VBPR_OK) st = grow(c, (void **)&ws->recv, &ws->recv_cap, all, sizeof(int32_t), func);
  if (st != VBPR_OK) return st;
  memcpy(ws->send, text, sizeof text);
  st = gather(c, MSG_IDS, ws->send, ws->recv, func);
  if (st != VBPR_OK) return st;
  memcpy(text, ws->recv + failed * MSG_IDS, sizeof text);
  text[sizeof text - 1] = '\0';
  return vbpr__error(status, func, "rank %zu: %s", failed, text);
}

vbpr_status vbpr__collective_agree(const vbpr_collective *c, vbpr__dp_ws *ws,
                                   vbpr_status local, size_t n, const int32_t *ids,
                                   const int32_t **all, const char *func)
{
  size_t per = 1 + n, total;
  if (!vbpr__mul_ok(c->size, per, &total))
    return lost(c, vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "too many ranks"));
  vbpr_status st = grow(c, (void **)&ws->send, &ws->send_cap, per, sizeof(int32_t), func);
  if (st == VBPR_OK) st = grow(c, (void **)&ws->recv, &ws->recv_cap, total, sizeof(int32_t), func);
  if (st != VBPR_OK) return st;
  ws->send[0] = (int32_t)local;
  if (n > 0) memcpy(ws->send + 1, ids, n * sizeof(int32_t));
  st = gather(c, per, ws->send, ws->recv, func);
  if (st != VBPR_OK) return st;
  for (size_t r = 0; r < c->size; r++) {
    int32_t s = ws->recv[r * per];
    if (s != VBPR_OK) {
      vbpr_status status = s < 0 && s >= VBPR_STATUS_MIN ? (vbpr_status)s : VBPR_ERR_STATE;
      return share_failure(c, ws, r, status, local, func);
    }
  }
  *all = ws->recv;
  return VBPR_OK;
}

/* ---- the gradient exchange --------------------------------------------- */

typedef struct table_plan {
  float *grad;    /* [rows x dim] */
  size_t rows;
  bool dense;     /* some rank touched every row: the whole table is summed */
  size_t n_union; /* sparse: rows in ws->rows[t] */
} table_plan;

/* The union, over the ranks, of the rows they touched in each sparse table,
 * in rank order (the same lists on every rank): one all-gather of every
 * rank's lists, each padded to the longest of its table. */
static vbpr_status union_rows(const vbpr_collective *c, vbpr__dp_ws *ws, vbpr_encoder *enc,
                              const size_t *longest, vbpr_status local, table_plan *p,
                              const char *func)
{
  size_t per = 0, all;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    p[t].n_union = 0;
    if (!p[t].dense) per += longest[t];
  }
  if (per == 0) return VBPR_OK; /* every rank knows: no rank touched a row */
  if (!vbpr__mul_ok(c->size, per, &all))
    return lost(c, vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "too many rows"));
  vbpr_status st = grow(c, (void **)&ws->send, &ws->send_cap, per, sizeof(int32_t), func);
  if (st == VBPR_OK) st = grow(c, (void **)&ws->recv, &ws->recv_cap, all, sizeof(int32_t), func);
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES && st == VBPR_OK; t++)
    if (!p[t].dense)
      st = grow(c, (void **)&ws->rows[t], &ws->rows_cap[t], p[t].rows, sizeof(int32_t), func);
  if (st != VBPR_OK) return st;
  int32_t *at = ws->send;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    if (p[t].dense) continue;
    const int32_t *mine = NULL;
    size_t count = 0;
    if (local == VBPR_OK) vbpr_encoder_touched_rows(enc, (vbpr_table)t, &mine, &count);
    for (size_t i = 0; i < longest[t]; i++) *at++ = i < count ? mine[i] : -1;
  }
  st = gather(c, per, ws->send, ws->recv, func);
  if (st != VBPR_OK) return st;
  /* table by table (the mark array serves one table at a time), rank by
   * rank; rank r's list of table t starts at r * per + first */
  size_t first = 0;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    if (p[t].dense) continue;
    for (size_t r = 0; r < c->size; r++) {
      const int32_t *list = ws->recv + r * per + first;
      for (size_t i = 0; i < longest[t]; i++) {
        int32_t row = list[i];
        if (row < 0 || ws->mark[row]) continue;
        ws->mark[row] = 1;
        ws->rows[t][p[t].n_union++] = row;
      }
    }
    for (size_t i = 0; i < p[t].n_union; i++) ws->mark[ws->rows[t][i]] = 0;
    first += longest[t];
  }
  return VBPR_OK;
}

/* Sums, over the ranks, the listed rows of the sparse tables and the
 * caller's values, in one buffer; the dense tables in place. */
static vbpr_status sum_tables(const vbpr_collective *c, vbpr__dp_ws *ws, table_plan *p,
                              size_t dim, size_t n, float *sums, const char *func)
{
  size_t floats = n;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    vbpr_status st = p[t].dense ? reduce(c, p[t].rows * dim, p[t].grad, func) : VBPR_OK;
    if (st != VBPR_OK) return st;
    if (!p[t].dense) floats += p[t].n_union * dim;
  }
  vbpr_status st = grow(c, (void **)&ws->buf, &ws->buf_cap, floats, sizeof(float), func);
  if (st != VBPR_OK) return st;
  float *at = ws->buf;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++)
    for (size_t i = 0; !p[t].dense && i < p[t].n_union; i++, at += dim)
      memcpy(at, p[t].grad + (size_t)ws->rows[t][i] * dim, dim * sizeof(float));
  if (n > 0) memcpy(at, sums, n * sizeof(float));
  st = reduce(c, floats, ws->buf, func);
  if (st != VBPR_OK) return st;
  at = ws->buf;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++)
    for (size_t i = 0; !p[t].dense && i < p[t].n_union; i++, at += dim)
      memcpy(p[t].grad + (size_t)ws->rows[t][i] * dim, at, dim * sizeof(float));
  if (n > 0) memcpy(sums, at, n * sizeof(float));
  return VBPR_OK;
}

/* Checks what can be checked locally; a failure joins the agreement. */
static vbpr_status check_reduce(vbpr_encoder *enc, size_t n, const float *sums,
                                const char *func)
{
  if (enc == NULL || (n > 0 && sums == NULL))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must not be NULL",
                       enc == NULL ? "enc" : "sums");
  return VBPR_OK;
}

/* This rank's table sizes and touched counts, and the mark array (for the
 * larger table) reserved before the ranks agree. */
static vbpr_status local_counts(vbpr__dp_ws *ws, vbpr_encoder *enc, size_t *rows,
                                int32_t *counts, const char *func)
{
  vbpr_status st = VBPR_OK;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES && st == VBPR_OK; t++) {
    const int32_t *ids;
    size_t count = 0;
    st = vbpr_encoder_table(enc, (vbpr_table)t, NULL, NULL, &rows[t], NULL);
    if (st == VBPR_OK) st = vbpr_encoder_touched_rows(enc, (vbpr_table)t, &ids, &count);
    counts[t] = (int32_t)count;
  }
  size_t old = ws->mark_cap, need = rows[0] > rows[1] ? rows[0] : rows[1];
  if (st == VBPR_OK) st = vbpr__reserve((void **)&ws->mark, &ws->mark_cap, need, 1, func);
  if (st == VBPR_OK && ws->mark_cap != old) memset(ws->mark, 0, ws->mark_cap);
  return st;
}

/* Records the union (every row for a dense table) as touched, so that the
 * optimizer step and zero_grad cover the rows summed from other ranks. */
static vbpr_status touch_union(const vbpr_collective *c, vbpr__dp_ws *ws, vbpr_encoder *enc,
                               table_plan *p, const char *func)
{
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    if (p[t].dense) {
      vbpr_status st = grow(c, (void **)&ws->rows[t], &ws->rows_cap[t], p[t].rows,
                            sizeof(int32_t), func);
      if (st != VBPR_OK) return st;
      for (size_t i = 0; i < p[t].rows; i++) ws->rows[t][i] = (int32_t)i;
      p[t].n_union = p[t].rows;
    }
    vbpr_status st = vbpr__encoder_touch_rows(enc, (vbpr_table)t, p[t].n_union, ws->rows[t],
                                              func);
    if (st != VBPR_OK) return lost(c, st);
  }
  return VBPR_OK;
}

vbpr_status vbpr__collective_reduce(const vbpr_collective *c, vbpr__dp_ws *ws,
                                    vbpr_encoder *enc, vbpr_status local, size_t n,
                                    float *sums, const char *func)
{
  size_t rows[VBPR_ENCODER_NUM_TABLES] = {0};
  int32_t counts[VBPR_ENCODER_NUM_TABLES] = {0};
  if (local == VBPR_OK) local = check_reduce(enc, n, sums, func);
  if (local == VBPR_OK) local = local_counts(ws, enc, rows, counts, func);
  const int32_t *all = NULL;
  vbpr_status st = vbpr__collective_agree(c, ws, local, VBPR_ENCODER_NUM_TABLES, counts, &all,
                                          func);
  if (st != VBPR_OK) return st;
  /* every rank is OK, so every rank has the same table sizes (the caller
   * promised identical encoders): the plans are the same everywhere */
  table_plan plan[VBPR_ENCODER_NUM_TABLES];
  size_t longest[VBPR_ENCODER_NUM_TABLES] = {0};
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    for (size_t r = 0; r < c->size; r++) {
      size_t k = (size_t)all[r * (1 + VBPR_ENCODER_NUM_TABLES) + 1 + (size_t)t];
      if (k > longest[t]) longest[t] = k;
    }
    plan[t] = (table_plan){vbpr__encoder_grad_table(enc, (vbpr_table)t), rows[t],
                           longest[t] == rows[t], 0};
  }
  st = union_rows(c, ws, enc, longest, local, plan, func);
  if (st == VBPR_OK) st = sum_tables(c, ws, plan, vbpr_encoder_dim(enc), n, sums, func);
  if (st == VBPR_OK) st = touch_union(c, ws, enc, plan, func);
  return st;
}

vbpr_status vbpr_collective_reduce_encoder(const vbpr_collective *c, vbpr_encoder *enc,
                                           vbpr_status local, size_t n, float *sums)
{
  vbpr_collective cc;
  vbpr_status st = vbpr__collective_copy(c, &cc, __func__);
  if (st != VBPR_OK) return st;
  vbpr__dp_ws ws;
  memset(&ws, 0, sizeof ws);
  st = vbpr__collective_reduce(&cc, &ws, enc, local, n, sums, __func__);
  vbpr__dp_ws_free(&ws);
  return st;
}

/* ---- evaluation split by users ----------------------------------------- */

/* A user's record travels as 4 int32 (its bytes: a double and two int32). */
enum { REC_IDS = sizeof(vbpr__user_rec) / sizeof(int32_t) };
_Static_assert(sizeof(vbpr__user_rec) == REC_IDS * sizeof(int32_t), "record as int32s");

vbpr_status vbpr__collective_evaluate(const vbpr_collective *c, vbpr__dp_ws *ws,
                                      vbpr_evaluator *ev, size_t num_users,
                                      size_t num_items, size_t dim, const float *user_emb,
                                      const float *item_emb, const char *func)
{
  vbpr_status local = VBPR_OK;
  if (ev == NULL || user_emb == NULL || item_emb == NULL)
    local = vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must not be NULL",
                        ev == NULL ? "ev" : user_emb == NULL ? "user_emb" : "item_emb");
  size_t n = ev ? (size_t)ev->n_users : 0, w = c->size, r = c->rank;
  size_t lo = r * n / w, hi = (r + 1) * n / w, widest = (n + w - 1) / w;
  size_t per = widest * (ev ? ev->nk : 0) * REC_IDS, all = 0;
  if (local == VBPR_OK && !vbpr__mul_ok(per, w, &all))
    local = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "%zu users x %zu ranks overflow", n, w);
  if (local == VBPR_OK)
    local = vbpr__evaluator_rank_users(ev, lo, hi - lo, num_users, num_items, dim, user_emb,
                                       item_emb, func);
  /* the exchange's buffers too, before agreeing */
  if (local == VBPR_OK) local = vbpr__reserve((void **)&ws->buf, &ws->buf_cap, per ? per : 1,
                                             sizeof(int32_t), func);
  if (local == VBPR_OK) local = vbpr__reserve((void **)&ws->recv, &ws->recv_cap,
                                             all ? all : 1, sizeof(int32_t), func);
  const int32_t *agreed;
  vbpr_status st = vbpr__collective_agree(c, ws, local, 0, NULL, &agreed, func);
  if (st != VBPR_OK) return st;
  /* ws->buf serves as the int32 send buffer (agree used ws->send) */
  int32_t *send = (int32_t *)(void *)ws->buf;
  memset(send, 0, per * sizeof(int32_t));
  memcpy(send, ev->recs + lo * ev->nk, (hi - lo) * ev->nk * sizeof(vbpr__user_rec));
  st = all > 0 ? gather(c, per, send, ws->recv, func) : VBPR_OK;
  if (st != VBPR_OK) return st;
  for (size_t k = 0; k < w; k++) {
    size_t a = k * n / w, b = (k + 1) * n / w;
    memcpy(ev->recs + a * ev->nk, ws->recv + k * per, (b - a) * ev->nk * sizeof(vbpr__user_rec));
  }
  vbpr__evaluator_finish(ev, num_users);
  return VBPR_OK;
}

vbpr_status vbpr_collective_evaluate(const vbpr_collective *c, vbpr_evaluator *ev,
                                     size_t num_users, size_t num_items, size_t dim,
                                     const float *user_emb, const float *item_emb)
{
  vbpr_collective cc;
  vbpr_status st = vbpr__collective_copy(c, &cc, __func__);
  if (st != VBPR_OK) return st;
  vbpr__dp_ws ws;
  memset(&ws, 0, sizeof ws);
  st = vbpr__collective_evaluate(&cc, &ws, ev, num_users, num_items, dim, user_emb, item_emb,
                                 __func__);
  vbpr__dp_ws_free(&ws);
  return st;
}
