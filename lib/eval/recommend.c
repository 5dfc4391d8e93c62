/* Top-K recommendation for a batch of users (no handle, reentrant). */
#include <math.h>

#include "core/core.h"
#include "eval/eval_internal.h"
#include "eval/rank.h"
#include "vbpr/eval.h"

typedef struct rec_ctx {
  vbpr__scored *out; /* [n_users * k] */
  int32_t k;
} rec_ctx;

static void rec_emit(void *vctx, size_t idx, int32_t user, const vbpr__scored *top,
                     int32_t len)
{
  (void)user;
  rec_ctx *c = vctx;
  vbpr__scored *row = c->out + idx * (size_t)c->k;
  for (int32_t r = 0; r < len; r++) row[r] = top[r];
  for (int32_t r = len; r < c->k; r++) row[r] = (vbpr__scored){-INFINITY, -1};
}

static vbpr_status check_args(const vbpr_dataset *train, size_t num_users,
                              size_t num_items, size_t dim, const int32_t *users,
                              size_t n_users, size_t k, const char *func)
{
  if (num_users < 1)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "num_users must be >= 1, got 0");
  if (num_items < 1 || num_items < vbpr_dataset_num_items(train))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "num_items must be >= 1 and >= train's %zu items, got %zu",
                       vbpr_dataset_num_items(train), num_items);
  if (dim < 1)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "dim must be >= 1, got %zu", dim);
  vbpr_status st = vbpr__check_table_sizes(num_users, num_items, dim, func);
  if (st != VBPR_OK) return st;
  if (n_users < 1)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "n_users must be >= 1, got 0");
  if (k < 1 || k > VBPR_EVALUATOR_MAX_K)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "k must be in [1, %d], got %zu",
                       VBPR_EVALUATOR_MAX_K, k);
  size_t cells;
  if (!vbpr__mul_ok(n_users, k, &cells) ||
      !vbpr__mul_ok(cells, sizeof(vbpr__scored), &cells))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "n_users * k overflows: %zu x %zu", n_users, k);
  for (size_t b = 0; b < n_users; b++)
    if (users[b] < 0 || (size_t)users[b] >= num_users)
      return vbpr__error(VBPR_ERR_OUT_OF_RANGE, func,
                         "users[%zu] must be in [0, %zu), got %d", b, num_users,
                         (int)users[b]);
  return VBPR_OK;
}

vbpr_status vbpr_recommend(const vbpr_dataset *train, size_t num_users, size_t num_items,
                           size_t dim, const float *user_emb, const float *item_emb,
                           size_t n_users, const int32_t *users, size_t k,
                           int32_t *items_out, float *scores_out)
{
  VBPR_CHECK_NULL(user_emb);
  VBPR_CHECK_NULL(item_emb);
  VBPR_CHECK_NULL(users);
  VBPR_CHECK_NULL(items_out);
  vbpr_status st = check_args(train, num_users, num_items, dim, users, n_users, k, __func__);
  if (st == VBPR_OK)
    st = vbpr__check_finite_rows(user_emb, users, n_users, dim, "user_emb", __func__);
  if (st == VBPR_OK)
    st = vbpr__check_finite_rows(item_emb, NULL, (size_t)num_items, dim, "item_emb",
                                 __func__);
  if (st != VBPR_OK) return st;

  /* Results go to a private buffer first: a NaN found late must leave the
   * caller's buffers untouched. */
  rec_ctx c = {.out = vbpr__malloc_array(n_users * k, sizeof(vbpr__scored)),
               .k = (int32_t)k};
  if (c.out == NULL)
    return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate %zu x %zu results", n_users,
                     k);
  vbpr__ranker r = {.user_emb = user_emb, .item_emb = item_emb, .dim = dim,
                    .num_items = (int32_t)num_items, .users = users, .n_users = n_users,
                    .k = (int32_t)k, .emit = rec_emit, .emit_ctx = &c};
  if (train != NULL) {
    r.mask_users = (int32_t)vbpr_dataset_num_users(train);
    st = vbpr_dataset_csr(train, &r.mask_offsets, &r.mask_items, NULL);
  }
  vbpr__rank_pool pool = {0};
  if (st == VBPR_OK) st = vbpr__rank_run(&r, &pool, __func__);
  vbpr__rank_pool_free(&pool);
  if (st == VBPR_OK)
    for (size_t i = 0; i < n_users * k; i++) {
      items_out[i] = c.out[i].item;
      if (scores_out != NULL) scores_out[i] = c.out[i].score;
    }
  vbpr__free(c.out);
  return st;
}
