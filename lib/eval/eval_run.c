/* The evaluator's run (ranking, per-user counts) and its metric getters. */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "dataset/dataset_internal.h"
#include "eval/eval_internal.h"

/* ---- long tail ---------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Marks the floor(share * num_items) least popular items of [0, num_items)
 * (training counts; items beyond train's universe count 0), taking the
 * lower ids first among items with the count at the cut. */
static vbpr_status build_tail(vbpr_evaluator *ev, int32_t num_items, const char *func)
{
  if (ev->tail_items == num_items) return VBPR_OK;
  const int64_t *counts = NULL;
  vbpr_status st = vbpr_dataset_item_counts(ev->train, &counts);
  if (st != VBPR_OK) return st;
  int32_t n_train = vbpr_dataset_num_items(ev->train);
  ev->tail_items = 0;
  st = vbpr__reserve((void **)&ev->tail, &ev->tail_cap, (size_t)num_items, 1, func);
  int64_t *sorted = st == VBPR_OK ? vbpr__malloc_array((size_t)num_items, sizeof(int64_t))
                                  : NULL;
  if (st == VBPR_OK && sorted == NULL)
    st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot sort %d item counts",
                     (int)num_items);
  if (st != VBPR_OK) return st;

  for (int32_t i = 0; i < num_items; i++) sorted[i] = i < n_train ? counts[i] : 0;
  qsort(sorted, (size_t)num_items, sizeof sorted[0], cmp_i64);
  int64_t n_tail = (int64_t)floor(ev->tail_share * (double)num_items);
  if (n_tail > num_items) n_tail = num_items;
  int64_t cut = n_tail > 0 ? sorted[n_tail - 1] : -1; /* count at the cut */
  int64_t below = 0;                                  /* items strictly under it */
  while (below < n_tail && sorted[below] < cut) below++;
  vbpr__free(sorted);

  int64_t at_cut_left = n_tail - below;
  for (int32_t i = 0; i < num_items; i++) {
    int64_t c = i < n_train ? counts[i] : 0;
    int in_tail = c < cut || (c == cut && at_cut_left > 0);
    if (c == cut && in_tail) at_cut_left--;
    ev->tail[i] = (uint8_t)in_tail;
  }
  ev->tail_items = num_items;
  return VBPR_OK;
}

/* ---- per-user counts ----------------------------------------------------- */

/* Walks the list once, recording the counts at every K (the list may be
 * shorter than some K: those get the counts of the whole list). */
/* Where a ranking run's users go: users[first + idx] of the evaluator. */
typedef struct emit_ctx {
  vbpr_evaluator *ev;
  size_t first;
} emit_ctx;

static void eval_emit(void *vctx, size_t idx, int32_t user, const vbpr__scored *top,
                      int32_t len)
{
  const emit_ctx *c = vctx;
  vbpr_evaluator *ev = c->ev;
  idx += c->first;
  const int32_t *t = ev->test_items + ev->test_off[user];
  int64_t n = ev->test_off[user + 1] - ev->test_off[user];
  vbpr__user_rec *rec = ev->recs + idx * ev->nk, acc = {0.0, 0, 0};
  size_t j = 0;
  for (int32_t r = 0; r < len; r++) {
    if (vbpr__sorted_contains(t, n, top[r].item)) {
      acc.hits++;
      acc.dcg += ev->disc[r];
    }
    acc.tail += ev->tail[top[r].item];
    while (j < ev->nk && ev->ks[j] == r + 1) rec[j++] = acc;
  }
  while (j < ev->nk) rec[j++] = acc;
}

static double user_value(const vbpr_evaluator *ev, vbpr_metric m, size_t j,
                         const vbpr__user_rec *rec, int64_t n_test)
{
  double k = (double)ev->ks[j], h = (double)rec->hits, n = (double)n_test;
  switch (m) {
  case VBPR_METRIC_PRECISION: return h / k;
  case VBPR_METRIC_RECALL: return h / n;
  case VBPR_METRIC_NDCG:
    return rec->dcg / ev->idcg[n_test < ev->ks[j] ? n_test : ev->ks[j]];
  case VBPR_METRIC_F1: return 2.0 * h / (k + n); /* = 2PR/(P+R), 0 when h = 0 */
  case VBPR_METRIC_HIT_RATE: return rec->hits > 0 ? 1.0 : 0.0;
  case VBPR_METRIC_APLT: return (double)rec->tail / k;
  }
  return NAN;
}

static int64_t test_count(const vbpr_evaluator *ev, int32_t user)
{
  return ev->test_off[user + 1] - ev->test_off[user];
}

/* Averages in user order: the same sums whatever the thread count. */
static void average(vbpr_evaluator *ev)
{
  for (int m = 1; m <= VBPR__N_METRICS; m++)
    for (size_t j = 0; j < ev->nk; j++) {
      double sum = 0.0;
      for (int32_t i = 0; i < ev->n_users; i++)
        sum += user_value(ev, (vbpr_metric)m, j, ev->recs + (size_t)i * ev->nk + j,
                          test_count(ev, ev->users[i]));
      ev->avg[m - 1][j] = sum / (double)ev->n_users;
    }
}

/* ---- run ----------------------------------------------------------------- */

static vbpr_status check_sizes(const vbpr_evaluator *ev, size_t num_users,
                               size_t num_items, size_t dim, const char *func)
{
  size_t need_users = vbpr_dataset_num_users(ev->test);
  size_t need_items = vbpr_dataset_num_items(ev->train);
  const char *item_src = "train";
  if (vbpr_dataset_num_items(ev->test) > need_items) {
    need_items = vbpr_dataset_num_items(ev->test);
    item_src = "test";
  }
  if (dim < 1)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "dim must be >= 1, got %zu", dim);
  if (num_users < 1 || num_users < need_users)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "num_users must be >= the test set's %zu users, got %zu",
                       need_users, num_users);
  if (num_items < 1 || num_items < need_items)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "num_items must be >= the %s set's %zu items, got %zu", item_src,
                       need_items, num_items);
  return vbpr__check_table_sizes(num_users, num_items, dim, func);
}

vbpr_status vbpr__evaluator_rank_users(vbpr_evaluator *ev, size_t first, size_t count,
                                       size_t num_users, size_t num_items, size_t dim,
                                       const float *user_emb, const float *item_emb,
                                       const char *func)
{
  ev->have_results = 0;
  vbpr_status st = check_sizes(ev, num_users, num_items, dim, func);
  if (st == VBPR_OK)
    st = vbpr__check_finite_rows(user_emb, ev->users + first, count, dim, "user_emb", func);
  if (st == VBPR_OK)
    st = vbpr__check_finite_rows(item_emb, NULL, (size_t)num_items, dim, "item_emb", func);
  if (st == VBPR_OK) st = build_tail(ev, num_items, func);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&ev->recs, &ev->recs_cap, (size_t)ev->n_users * ev->nk,
                       sizeof(vbpr__user_rec), func);
  if (st != VBPR_OK || count == 0) return st;

  emit_ctx ctx = {ev, first};
  vbpr__ranker r = {.user_emb = user_emb, .item_emb = item_emb, .dim = dim,
                    .num_items = (int32_t)num_items,
                    .mask_users = (int32_t)vbpr_dataset_num_users(ev->train),
                    .users = ev->users + first, .n_users = count,
                    .k = ev->ks[ev->nk - 1], .emit = eval_emit, .emit_ctx = &ctx};
  st = vbpr_dataset_csr(ev->train, &r.mask_offsets, &r.mask_items, NULL);
  if (st == VBPR_OK) st = vbpr__rank_run(&r, &ev->pool, func);
  return st;
}

void vbpr__evaluator_finish(vbpr_evaluator *ev, size_t num_users)
{
  average(ev);
  ev->run_num_users = (int32_t)num_users;
  ev->have_results = 1;
}

vbpr_status vbpr_evaluator_run(vbpr_evaluator *ev, size_t num_users, size_t num_items,
                               size_t dim, const float *user_emb, const float *item_emb)
{
  VBPR_CHECK_NULL(ev);
  ev->have_results = 0;
  VBPR_CHECK_NULL(user_emb);
  VBPR_CHECK_NULL(item_emb);
  vbpr_status st = vbpr__evaluator_rank_users(ev, 0, (size_t)ev->n_users, num_users,
                                              num_items, dim, user_emb, item_emb, __func__);
  if (st != VBPR_OK) return st;
  vbpr__evaluator_finish(ev, num_users);
  return VBPR_OK;
}

/* ---- getters ------------------------------------------------------------- */

/* Index of k in the K set into *j, after checking the query and the state. */
static vbpr_status find_k(const vbpr_evaluator *ev, vbpr_metric metric, size_t k,
                          size_t *j, const char *func)
{
  if ((int)metric < 1 || (int)metric > VBPR__N_METRICS)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "metric must be a vbpr_metric in [1, %d], got %d", VBPR__N_METRICS,
                       (int)metric);
  for (*j = 0; *j < ev->nk; (*j)++)
    if ((size_t)ev->ks[*j] == k) break;
  if (*j == ev->nk)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "k = %zu is not one of the %zu K values set (largest %d)", k,
                       ev->nk, (int)ev->ks[ev->nk - 1]);
  if (!ev->have_results)
    return vbpr__error(VBPR_ERR_STATE, func,
                       "no results: call vbpr_evaluator_run() first (after any setting change)");
  return VBPR_OK;
}

vbpr_status vbpr_evaluator_metric(const vbpr_evaluator *ev, vbpr_metric metric, size_t k,
                                  double *value)
{
  VBPR_CHECK_NULL(ev);
  VBPR_CHECK_NULL(value);
  size_t j = 0;
  vbpr_status st = find_k(ev, metric, k, &j, __func__);
  if (st != VBPR_OK) return st;
  *value = ev->avg[metric - 1][j];
  return VBPR_OK;
}

vbpr_status vbpr_evaluator_user_metric(const vbpr_evaluator *ev, vbpr_metric metric,
                                       size_t k, size_t len, double *values)
{
  VBPR_CHECK_NULL(ev);
  VBPR_CHECK_NULL(values);
  size_t j = 0;
  vbpr_status st = find_k(ev, metric, k, &j, __func__);
  if (st != VBPR_OK) return st;
  if (len < (size_t)ev->run_num_users)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "len must be >= the %d users of the last run, got %zu",
                     (int)ev->run_num_users, len);
  for (int32_t u = 0; u < ev->run_num_users; u++) values[u] = NAN;
  for (int32_t i = 0; i < ev->n_users; i++)
    values[ev->users[i]] = user_value(ev, metric, j, ev->recs + (size_t)i * ev->nk + j,
                                      test_count(ev, ev->users[i]));
  return VBPR_OK;
}

vbpr_status vbpr__check_table_sizes(size_t num_users, size_t num_items, size_t dim,
                                    const char *func)
{
  size_t cells;
  if (num_users > (size_t)INT32_MAX || num_items > (size_t)INT32_MAX)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "num_users and num_items must be <= 2^31-1 (ids are int32_t), "
                       "got %zu and %zu", num_users, num_items);
  if (!vbpr__mul_ok(num_users, dim, &cells) || !vbpr__mul_ok(num_items, dim, &cells) ||
      !vbpr__mul_ok(cells, sizeof(float), &cells))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "table size overflows: %zu or %zu rows x dim %zu", num_users,
                       num_items, dim);
  return VBPR_OK;
}
