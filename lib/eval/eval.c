/* The evaluator: full ranking against a test set, metrics at several K. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "dataset/dataset_internal.h"
#include "eval/eval_internal.h"

#define DEFAULT_K 20
#define DEFAULT_TAIL_SHARE 0.85

/* ---- create / destroy / settings --------------------------------------- */

static vbpr_status list_test_users(vbpr_evaluator *ev, const char *func)
{
  vbpr_status st = vbpr_dataset_csr(ev->test, &ev->test_off, &ev->test_items, NULL);
  if (st != VBPR_OK) return st;
  const int64_t *off = ev->test_off;
  int32_t n = vbpr_dataset_num_users(ev->test), count = 0;
  for (int32_t u = 0; u < n; u++) count += off[u + 1] > off[u];
  if (count == 0)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "test has no user with test items (%d users, 0 interactions)",
                       (int)n);
  ev->users = vbpr__malloc_array((size_t)count, sizeof(int32_t));
  if (ev->users == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %d user ids",
                       (int)count);
  ev->n_users = 0;
  for (int32_t u = 0; u < n; u++)
    if (off[u + 1] > off[u]) ev->users[ev->n_users++] = u;
  return VBPR_OK;
}

/* Discount tables up to ev->ks[nk-1]. */
static vbpr_status build_discounts(vbpr_evaluator *ev, const char *func)
{
  size_t kmax = (size_t)ev->ks[ev->nk - 1];
  vbpr_status st = vbpr__reserve((void **)&ev->disc, &ev->disc_cap, kmax, sizeof(double),
                                 func);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&ev->idcg, &ev->idcg_cap, kmax + 1, sizeof(double), func);
  if (st != VBPR_OK) return st;
  ev->idcg[0] = 0.0;
  for (size_t r = 0; r < kmax; r++) {
    ev->disc[r] = 1.0 / log2((double)r + 2.0);
    ev->idcg[r + 1] = ev->idcg[r] + ev->disc[r];
  }
  return VBPR_OK;
}

vbpr_status vbpr_evaluator_create(const vbpr_dataset *train, const vbpr_dataset *test,
                                  vbpr_evaluator **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  VBPR_CHECK_NULL(train);
  VBPR_CHECK_NULL(test);
  vbpr_evaluator *ev = vbpr__calloc(1, sizeof *ev);
  if (ev == NULL)
    return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate the evaluator");
  ev->train = vbpr__dataset_retain(train);
  ev->test = vbpr__dataset_retain(test);
  ev->ks[0] = DEFAULT_K;
  ev->nk = 1;
  ev->tail_share = DEFAULT_TAIL_SHARE;
  vbpr_status st = list_test_users(ev, __func__);
  if (st == VBPR_OK) st = build_discounts(ev, __func__);
  if (st != VBPR_OK) {
    vbpr_evaluator_destroy(ev);
    return st;
  }
  *out = ev;
  return VBPR_OK;
}

void vbpr_evaluator_destroy(vbpr_evaluator *ev)
{
  if (ev == NULL) return;
  vbpr__rank_pool_free(&ev->pool);
  vbpr__free(ev->users);
  vbpr__free(ev->disc);
  vbpr__free(ev->idcg);
  vbpr__free(ev->tail);
  vbpr__free(ev->recs);
  vbpr__dataset_release(ev->train);
  vbpr__dataset_release(ev->test);
  vbpr__free(ev);
}

static int cmp_i32(const void *a, const void *b)
{
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

vbpr_status vbpr_evaluator_set_ks(vbpr_evaluator *ev, size_t n, const size_t *ks)
{
  VBPR_CHECK_NULL(ev);
  VBPR_CHECK_NULL(ks);
  if (n < 1 || n > VBPR_EVALUATOR_MAX_KS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "n must be in [1, %d], got %zu",
                     VBPR_EVALUATOR_MAX_KS, n);
  int32_t sorted[VBPR_EVALUATOR_MAX_KS];
  for (size_t i = 0; i < n; i++) {
    if (ks[i] < 1 || ks[i] > VBPR_EVALUATOR_MAX_K)
      return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "ks[%zu] must be in [1, %d], got %zu", i,
                       VBPR_EVALUATOR_MAX_K, ks[i]);
    for (size_t j = 0; j < i; j++)
      if (ks[j] == ks[i])
        return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "ks[%zu] = %zu repeats ks[%zu]", i,
                         ks[i], j);
    sorted[i] = (int32_t)ks[i];
  }
  qsort(sorted, n, sizeof sorted[0], cmp_i32);
  /* Grow the discount tables before committing, so a failure keeps the
   * old K set intact. */
  int32_t old[VBPR_EVALUATOR_MAX_KS];
  size_t old_n = ev->nk;
  memcpy(old, ev->ks, sizeof old);
  memcpy(ev->ks, sorted, n * sizeof sorted[0]);
  ev->nk = n;
  vbpr_status st = build_discounts(ev, __func__);
  if (st != VBPR_OK) {
    /* A grown table lost its contents: refill it for the old set (no
     * allocation needed, the tables are at least that large). */
    memcpy(ev->ks, old, sizeof old);
    ev->nk = old_n;
    (void)build_discounts(ev, __func__);
    return st;
  }
  ev->have_results = 0;
  return VBPR_OK;
}

vbpr_status vbpr_evaluator_set_long_tail_share(vbpr_evaluator *ev, double share)
{
  VBPR_CHECK_NULL(ev);
  if (!(share > 0.0 && share <= 1.0))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "share must be in (0, 1], got %g", share);
  if (share != ev->tail_share) ev->tail_items = 0; /* rebuild the mask */
  ev->tail_share = share;
  ev->have_results = 0;
  return VBPR_OK;
}

size_t vbpr_evaluator_num_users_evaluated(const vbpr_evaluator *ev)
{
  return ev == NULL ? 0 : (size_t)ev->n_users;
}
