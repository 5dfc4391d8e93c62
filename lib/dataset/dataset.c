/* The dataset handle: reference counting and read-only accessors. */
#include <math.h>
#include <string.h>

#include "dataset/dataset_internal.h"

vbpr_dataset *vbpr__dataset_retain(const vbpr_dataset *ds)
{
  vbpr_dataset *d = (vbpr_dataset *)(uintptr_t)ds; /* only the counter changes */
  if (d != NULL) atomic_fetch_add(&d->refs, 1);
  return d;
}

void vbpr__dataset_release(const vbpr_dataset *ds)
{
  vbpr_dataset *d = (vbpr_dataset *)(uintptr_t)ds;
  if (d == NULL || atomic_fetch_sub(&d->refs, 1) != 1) return;
  vbpr__free(d->offsets);
  vbpr__free(d->items);
  vbpr__free(d->ratings);
  vbpr__free(d->item_counts);
  vbpr__free(d->item_rating_sums);
  vbpr__free(d->raw_users);
  vbpr__free(d->raw_items);
  vbpr__free(d->users_by_raw);
  vbpr__free(d->items_by_raw);
  vbpr__free(d);
}

void vbpr_dataset_destroy(vbpr_dataset *ds) { vbpr__dataset_release(ds); }

size_t vbpr_dataset_num_users(const vbpr_dataset *ds)
{
  return ds ? (size_t)ds->num_users : 0;
}

size_t vbpr_dataset_num_items(const vbpr_dataset *ds)
{
  return ds ? (size_t)ds->num_items : 0;
}

size_t vbpr_dataset_num_interactions(const vbpr_dataset *ds)
{
  return ds ? (size_t)ds->nnz : 0;
}

size_t vbpr_dataset_num_active_users(const vbpr_dataset *ds)
{
  return ds ? (size_t)ds->num_active_users : 0;
}

int vbpr_dataset_has_ratings(const vbpr_dataset *ds) { return ds && ds->ratings ? 1 : 0; }

vbpr_status vbpr_dataset_csr(const vbpr_dataset *ds, const int64_t **offsets,
                             const int32_t **items, const float **ratings)
{
  VBPR_CHECK_NULL(ds);
  if (offsets) *offsets = ds->offsets;
  if (items) *items = ds->items;
  if (ratings) *ratings = ds->ratings;
  return VBPR_OK;
}

vbpr_status vbpr_dataset_user_items(const vbpr_dataset *ds, int32_t user,
                                    const int32_t **items, size_t *count)
{
  VBPR_CHECK_NULL(ds);
  VBPR_CHECK_NULL(items);
  VBPR_CHECK_NULL(count);
  if (user < 0 || user >= ds->num_users)
    return VBPR_FAIL(VBPR_ERR_OUT_OF_RANGE, "user must be in [0, %d), got %d",
                     (int)ds->num_users, (int)user);
  *items = ds->items + ds->offsets[user];
  *count = (size_t)(ds->offsets[user + 1] - ds->offsets[user]);
  return VBPR_OK;
}

int vbpr_dataset_contains(const vbpr_dataset *ds, int32_t user, int32_t item)
{
  if (ds == NULL || user < 0 || user >= ds->num_users || item < 0 || item >= ds->num_items)
    return 0;
  int64_t b = ds->offsets[user];
  return vbpr__sorted_contains(ds->items + b, ds->offsets[user + 1] - b, item);
}

vbpr_status vbpr_dataset_item_counts(const vbpr_dataset *ds, const int64_t **counts)
{
  VBPR_CHECK_NULL(ds);
  VBPR_CHECK_NULL(counts);
  *counts = ds->item_counts;
  return VBPR_OK;
}

vbpr_status vbpr_dataset_item_rating_sums(const vbpr_dataset *ds, const double **sums)
{
  VBPR_CHECK_NULL(ds);
  VBPR_CHECK_NULL(sums);
  *sums = ds->item_rating_sums;
  return VBPR_OK;
}

vbpr_status vbpr_dataset_item_mean_ratings(const vbpr_dataset *ds, double empty_value,
                                           size_t len, double *means)
{
  VBPR_CHECK_NULL(ds);
  VBPR_CHECK_NULL(means);
  if (len < (size_t)ds->num_items)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "len must be >= num_items (%d), got %zu",
                     (int)ds->num_items, len);
  for (int32_t i = 0; i < ds->num_items; i++) {
    int64_t c = ds->item_counts[i];
    means[i] = ds->ratings && c > 0 ? ds->item_rating_sums[i] / (double)c : empty_value;
  }
  return VBPR_OK;
}

vbpr_status vbpr_dataset_raw_user_ids(const vbpr_dataset *ds, const int64_t **raw)
{
  VBPR_CHECK_NULL(ds);
  VBPR_CHECK_NULL(raw);
  *raw = ds->raw_users;
  return VBPR_OK;
}

vbpr_status vbpr_dataset_raw_item_ids(const vbpr_dataset *ds, const int64_t **raw)
{
  VBPR_CHECK_NULL(ds);
  VBPR_CHECK_NULL(raw);
  *raw = ds->raw_items;
  return VBPR_OK;
}

/* Dense id of raw in a mapping (by_raw sorted by raw[by_raw[k]]), or -1. */
static int32_t lookup_raw(const int64_t *raw, const int32_t *by_raw, int32_t n, int64_t key)
{
  int32_t lo = 0, hi = n;
  while (lo < hi) {
    int32_t mid = lo + (hi - lo) / 2;
    if (raw[by_raw[mid]] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && raw[by_raw[lo]] == key ? by_raw[lo] : -1;
}

static vbpr_status find_id(const vbpr_dataset *ds, int64_t raw, int32_t *out, int items,
                           const char *func)
{
  if (ds == NULL) return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "ds must not be NULL");
  if (out == NULL) return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must not be NULL",
                                      items ? "item" : "user");
  const int64_t *map = items ? ds->raw_items : ds->raw_users;
  int32_t id;
  if (map == NULL) {
    int32_t n = items ? ds->num_items : ds->num_users;
    id = raw >= 0 && raw < n ? (int32_t)raw : -1;
  } else {
    id = items ? lookup_raw(map, ds->items_by_raw, ds->num_raw_items, raw)
               : lookup_raw(map, ds->users_by_raw, ds->num_raw_users, raw);
  }
  if (id < 0)
    return vbpr__error(VBPR_ERR_OUT_OF_RANGE, func, "raw %s id %lld is not in the dataset",
                       items ? "item" : "user", (long long)raw);
  *out = id;
  return VBPR_OK;
}

vbpr_status vbpr_dataset_find_user(const vbpr_dataset *ds, int64_t raw, int32_t *user)
{
  return find_id(ds, raw, user, 0, __func__);
}

vbpr_status vbpr_dataset_find_item(const vbpr_dataset *ds, int64_t raw, int32_t *item)
{
  return find_id(ds, raw, item, 1, __func__);
}

static vbpr_status copy_map(int64_t **raw, int32_t **by_raw, const int64_t *src_raw,
                            const int32_t *src_by, int32_t n, int32_t nraw, const char *func)
{
  if (src_raw == NULL) return VBPR_OK;
  *raw = vbpr__malloc_array((size_t)n, sizeof **raw);
  *by_raw = vbpr__malloc_array((size_t)nraw, sizeof **by_raw);
  if (*raw == NULL || *by_raw == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot copy an id mapping of %d ids",
                       (int)n);
  memcpy(*raw, src_raw, (size_t)n * sizeof **raw);
  memcpy(*by_raw, src_by, (size_t)nraw * sizeof **by_raw);
  return VBPR_OK;
}

vbpr_status vbpr__dataset_copy_mapping(vbpr_dataset *ds, const vbpr_dataset *src,
                                       const char *func)
{
  vbpr_status st = copy_map(&ds->raw_users, &ds->users_by_raw, src->raw_users,
                            src->users_by_raw, src->num_users, src->num_raw_users, func);
  if (st == VBPR_OK)
    st = copy_map(&ds->raw_items, &ds->items_by_raw, src->raw_items, src->items_by_raw,
                  src->num_items, src->num_raw_items, func);
  ds->num_raw_users = src->num_raw_users;
  ds->num_raw_items = src->num_raw_items;
  return st; /* on failure the caller releases ds, partial copies included */
}
