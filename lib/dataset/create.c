/* Datasets from interaction arrays in memory. */
#include <math.h>
#include <string.h>

#include "dataset/dataset_internal.h"

/* Checks ids against an exact size (n >= 0) or INT32_MAX, and finds the
 * largest. */
static vbpr_status check_ids(const int32_t *ids, int64_t count, int32_t n, const char *what,
                             int32_t *max, const char *func)
{
  int32_t limit = n >= 0 ? n : INT32_MAX, m = -1;
  for (int64_t k = 0; k < count; k++) {
    if (ids[k] < 0 || ids[k] >= limit)
      return vbpr__error(VBPR_ERR_OUT_OF_RANGE, func, "%s[%lld] must be in [0, %d), got %d",
                         what, (long long)k, (int)limit, (int)ids[k]);
    if (ids[k] > m) m = ids[k];
  }
  *max = m;
  return VBPR_OK;
}

/* An exact size must leave every id an int32_t. */
static vbpr_status check_size(size_t n, const char *name, const char *func)
{
  if (n != VBPR_DATASET_INFER && n > (size_t)INT32_MAX)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "%s must be <= 2^31-1 or VBPR_DATASET_INFER, got %zu", name, n);
  return VBPR_OK;
}

/* The exact size as check_ids takes it: -1 to infer. */
static int32_t exact_or_infer(size_t n) { return n == VBPR_DATASET_INFER ? -1 : (int32_t)n; }

/* Copies the arrays into runs of equal consecutive users. */
static vbpr_status to_pairs(const int32_t *users, const int32_t *items, const float *ratings,
                            int64_t count, vbpr__pairs *p, const char *func)
{
  int64_t nruns = 0;
  for (int64_t k = 0; k < count; k++) nruns += k == 0 || users[k] != users[k - 1];
  p->run_user = vbpr__malloc_array((size_t)nruns, sizeof *p->run_user);
  p->run_begin = vbpr__malloc_array((size_t)nruns, sizeof *p->run_begin);
  p->items = vbpr__malloc_array((size_t)count, sizeof *p->items);
  if (ratings) p->ratings = vbpr__malloc_array((size_t)count, sizeof *p->ratings);
  if (!p->run_user || !p->run_begin || !p->items || (ratings && !p->ratings)) {
    vbpr__pairs_free(p);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot copy %lld interactions",
                       (long long)count);
  }
  for (int64_t k = 0; k < count; k++)
    if (k == 0 || users[k] != users[k - 1]) {
      p->run_user[p->nruns] = users[k];
      p->run_begin[p->nruns++] = k;
    }
  if (count > 0) memcpy(p->items, items, (size_t)count * sizeof *items);
  if (count > 0 && ratings) memcpy(p->ratings, ratings, (size_t)count * sizeof *ratings);
  p->n = p->cap = count;
  p->cap_runs = nruns;
  return VBPR_OK;
}

vbpr_status vbpr_dataset_create(size_t num_users_in, size_t num_items_in, size_t count_in,
                                const int32_t *users, const int32_t *items,
                                const float *ratings, const vbpr_dataset_options *opts,
                                vbpr_dataset **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  if (count_in > (size_t)INT64_MAX)
    return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "count %zu is too large", count_in);
  int64_t count = (int64_t)count_in;
  if (count > 0) {
    VBPR_CHECK_NULL(users);
    VBPR_CHECK_NULL(items);
  }
  if ((uint64_t)count > SIZE_MAX / 8)
    return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "count %lld is too large", (long long)count);
  vbpr_status st = check_size(num_users_in, "num_users", __func__);
  if (st == VBPR_OK) st = check_size(num_items_in, "num_items", __func__);
  if (st != VBPR_OK) return st;
  int32_t num_users = exact_or_infer(num_users_in), num_items = exact_or_infer(num_items_in);
  vbpr_dataset_options o;
  vbpr__options_resolve(opts, &o);
  int32_t max_user = -1, max_item = -1;
  st = check_ids(users, count, num_users, "users", &max_user, __func__);
  if (st == VBPR_OK) st = check_ids(items, count, num_items, "items", &max_item, __func__);
  if (st != VBPR_OK) return st;
  for (int64_t k = 0; ratings && k < count; k++)
    if (!isfinite(ratings[k]))
      return VBPR_FAIL(VBPR_ERR_NUMERIC, "ratings[%lld] must be finite, got %g",
                       (long long)k, (double)ratings[k]);
  int64_t nu = num_users >= 0 ? num_users : (int64_t)max_user + 1;
  int64_t ni = num_items >= 0 ? num_items : (int64_t)max_item + 1;
  if (num_users < 0 && nu < o.min_users) nu = o.min_users;
  if (num_items < 0 && ni < o.min_items) ni = o.min_items;
  vbpr__pairs p = {0};
  st = to_pairs(users, items, ratings, count, &p, __func__);
  if (st != VBPR_OK) return st;
  return vbpr__dataset_build(&p, (int32_t)nu, (int32_t)ni, o.dup, __func__, out);
}
