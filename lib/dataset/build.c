/* Turning interaction pairs into the CSR of a dataset: group by user, sort
 * each user's items (stably, so that input order decides LAST/FIRST), merge
 * duplicates, then count per item. */
#include <math.h>
#include <string.h>

#include "dataset/dataset_internal.h"

typedef struct pair {
  int32_t item;
  float rating;
} pair;

void vbpr__pairs_free(vbpr__pairs *p)
{
  vbpr__free(p->run_user);
  vbpr__free(p->run_begin);
  vbpr__free(p->items);
  vbpr__free(p->ratings);
  memset(p, 0, sizeof *p);
}

static int64_t run_end(const vbpr__pairs *p, int64_t r)
{
  return r + 1 < p->nruns ? p->run_begin[r + 1] : p->n;
}

/* Stable merge sort of a[0..n) by item, with scratch t[0..n). */
static void sort_pairs(pair *a, pair *t, int64_t n)
{
  enum { SMALL = 24 };
  for (int64_t s = 0; s < n; s += SMALL) { /* insertion sort of short runs */
    int64_t e = s + SMALL < n ? s + SMALL : n;
    for (int64_t i = s + 1; i < e; i++) {
      pair x = a[i];
      int64_t j = i;
      while (j > s && a[j - 1].item > x.item) { a[j] = a[j - 1]; j--; }
      a[j] = x;
    }
  }
  pair *src = a, *dst = t;
  for (int64_t w = SMALL; w < n; w *= 2) {
    for (int64_t s = 0; s < n; s += 2 * w) {
      int64_t m = s + w < n ? s + w : n, e = s + 2 * w < n ? s + 2 * w : n;
      int64_t i = s, j = m, k = s;
      while (i < m && j < e) dst[k++] = src[j].item < src[i].item ? src[j++] : src[i++];
      while (i < m) dst[k++] = src[i++];
      while (j < e) dst[k++] = src[j++];
    }
    pair *x = src; src = dst; dst = x;
  }
  if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

/* Rating of the duplicates r[0..k) under the policy; NaN if the sum overflows. */
static float merge_ratings(const float *r, int64_t k, int policy)
{
  double acc = r[0];
  switch (policy) {
  case VBPR_DATASET_DUPLICATES_LAST: return r[k - 1];
  case VBPR_DATASET_DUPLICATES_FIRST: return r[0];
  case VBPR_DATASET_DUPLICATES_MAX:
    for (int64_t i = 1; i < k; i++) acc = r[i] > acc ? r[i] : acc;
    return (float)acc;
  default:
    for (int64_t i = 1; i < k; i++) acc += r[i];
    if (policy == VBPR_DATASET_DUPLICATES_MEAN) acc /= (double)k;
    return fabs(acc) <= 3.4028234663852886e38 ? (float)acc : NAN;
  }
}

typedef struct builder {
  vbpr__pairs *p;
  vbpr_dataset *ds;
  int dup;
  const char *func;
  pair *tmp; /* [2 * max degree], only when some user needs sorting */
} builder;

/* Places every run at its user's CSR position (only when runs are not
 * already in increasing user order). */
static vbpr_status scatter(builder *b)
{
  vbpr__pairs *p = b->p;
  vbpr_dataset *ds = b->ds;
  int64_t *cur = vbpr__malloc_array((size_t)ds->num_users + 1, sizeof *cur);
  int32_t *items = vbpr__malloc_array((size_t)p->n, sizeof *items);
  float *ratings = p->ratings ? vbpr__malloc_array((size_t)p->n, sizeof *ratings) : NULL;
  if (cur == NULL || items == NULL || (p->ratings && ratings == NULL)) {
    vbpr__free(cur); vbpr__free(items); vbpr__free(ratings);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, b->func,
                       "cannot allocate %lld interactions", (long long)p->n);
  }
  memcpy(cur, ds->offsets, ((size_t)ds->num_users + 1) * sizeof *cur);
  for (int64_t r = 0; r < p->nruns; r++) {
    int64_t s = p->run_begin[r], len = run_end(p, r) - s;
    int64_t *c = &cur[p->run_user[r]];
    memcpy(items + *c, p->items + s, (size_t)len * sizeof *items);
    if (ratings) memcpy(ratings + *c, p->ratings + s, (size_t)len * sizeof *ratings);
    *c += len;
  }
  vbpr__free(cur);
  vbpr__free(p->items);
  vbpr__free(p->ratings);
  p->items = items;
  p->ratings = ratings;
  return VBPR_OK;
}

static int runs_in_user_order(const vbpr__pairs *p)
{
  int64_t last = -1;
  for (int64_t r = 0; r < p->nruns; r++) {
    if (run_end(p, r) == p->run_begin[r]) continue; /* empty runs hold nothing */
    if (p->run_user[r] <= last) return 0;
    last = p->run_user[r];
  }
  return 1;
}

/* Sorts user u's segment [s, e) in place if needed. */
static vbpr_status sort_user(builder *b, int64_t s, int64_t e, int64_t max_deg)
{
  vbpr__pairs *p = b->p;
  int64_t n = e - s;
  int sorted = 1;
  for (int64_t k = s + 1; k < e && sorted; k++) sorted = p->items[k - 1] <= p->items[k];
  if (sorted) return VBPR_OK;
  if (b->tmp == NULL) {
    b->tmp = vbpr__malloc_array(2 * (size_t)max_deg, sizeof *b->tmp);
    if (b->tmp == NULL)
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, b->func,
                         "cannot allocate sort space for %lld items", (long long)max_deg);
  }
  for (int64_t k = 0; k < n; k++)
    b->tmp[k] = (pair){p->items[s + k], p->ratings ? p->ratings[s + k] : 0.0f};
  sort_pairs(b->tmp, b->tmp + max_deg, n);
  for (int64_t k = 0; k < n; k++) {
    p->items[s + k] = b->tmp[k].item;
    if (p->ratings) p->ratings[s + k] = b->tmp[k].rating;
  }
  return VBPR_OK;
}

/* Sorts and merges every user's items, compacting in place and rewriting
 * the offsets. */
static vbpr_status sort_and_merge(builder *b)
{
  vbpr__pairs *p = b->p;
  vbpr_dataset *ds = b->ds;
  int64_t *off = ds->offsets, max_deg = 0, w = 0;
  for (int32_t u = 0; u < ds->num_users; u++)
    if (off[u + 1] - off[u] > max_deg) max_deg = off[u + 1] - off[u];
  int64_t s = 0;
  for (int32_t u = 0; u < ds->num_users; u++) {
    int64_t e = off[u + 1];
    vbpr_status st = sort_user(b, s, e, max_deg);
    if (st != VBPR_OK) return st;
    for (int64_t k = s; k < e;) {
      int64_t g = k + 1;
      while (g < e && p->items[g] == p->items[k]) g++;
      p->items[w] = p->items[k];
      if (p->ratings) {
        float r = g - k == 1 ? p->ratings[k] : merge_ratings(p->ratings + k, g - k, b->dup);
        if (isnan(r))
          return vbpr__error(VBPR_ERR_NUMERIC, b->func,
                             "the merged rating of user %d, item %d overflows a float",
                             (int)u, (int)p->items[k]);
        p->ratings[w] = r;
      }
      w++;
      k = g;
    }
    off[u + 1] = w;
    s = e;
  }
  return VBPR_OK;
}

static vbpr_status item_stats(builder *b)
{
  vbpr_dataset *ds = b->ds;
  ds->item_counts = vbpr__calloc((size_t)ds->num_items, sizeof *ds->item_counts);
  ds->item_rating_sums = vbpr__calloc((size_t)ds->num_items, sizeof *ds->item_rating_sums);
  if (ds->item_counts == NULL || ds->item_rating_sums == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, b->func,
                       "cannot allocate statistics for %d items", (int)ds->num_items);
  for (int64_t k = 0; k < ds->nnz; k++) {
    ds->item_counts[ds->items[k]]++;
    if (ds->ratings) ds->item_rating_sums[ds->items[k]] += ds->ratings[k];
  }
  for (int32_t u = 0; u < ds->num_users; u++)
    ds->num_active_users += ds->offsets[u + 1] > ds->offsets[u];
  return VBPR_OK;
}

static vbpr_status build_steps(builder *b)
{
  vbpr__pairs *p = b->p;
  vbpr_dataset *ds = b->ds;
  ds->offsets = vbpr__calloc((size_t)ds->num_users + 1, sizeof *ds->offsets);
  if (ds->offsets == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, b->func, "cannot allocate %d user offsets",
                       (int)ds->num_users);
  for (int64_t r = 0; r < p->nruns; r++)
    ds->offsets[p->run_user[r] + 1] += run_end(p, r) - p->run_begin[r];
  for (int32_t u = 0; u < ds->num_users; u++) ds->offsets[u + 1] += ds->offsets[u];
  vbpr_status st = VBPR_OK;
  if (!runs_in_user_order(p)) st = scatter(b);
  if (st == VBPR_OK) st = sort_and_merge(b);
  if (st != VBPR_OK) return st;
  ds->nnz = ds->offsets[ds->num_users];
  /* give back what merging freed; a failed shrink keeps the old block */
  int32_t *items = vbpr__realloc_array(p->items, (size_t)ds->nnz, sizeof *items);
  if (items) p->items = items;
  if (p->ratings) {
    float *ratings = vbpr__realloc_array(p->ratings, (size_t)ds->nnz, sizeof *ratings);
    if (ratings) p->ratings = ratings;
  }
  ds->items = p->items;
  ds->ratings = p->ratings;
  p->items = NULL;
  p->ratings = NULL;
  return item_stats(b);
}

vbpr_status vbpr__dataset_build(vbpr__pairs *p, int32_t num_users, int32_t num_items,
                                int dup_policy, const char *func, vbpr_dataset **out)
{
  builder b = {p, NULL, dup_policy, func, NULL};
  vbpr_status st = VBPR_OK;
  if (p->items == NULL) { /* empty input: accessors still return valid pointers */
    p->items = vbpr__malloc(0);
    if (p->items == NULL) st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "out of memory");
  }
  if (st == VBPR_OK) {
    b.ds = vbpr__calloc(1, sizeof *b.ds);
    if (b.ds == NULL) st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "out of memory");
  }
  if (st == VBPR_OK) {
    atomic_init(&b.ds->refs, 1);
    b.ds->num_users = num_users;
    b.ds->num_items = num_items;
    st = build_steps(&b);
  }
  vbpr__free(b.tmp);
  vbpr__pairs_free(p);
  if (st != VBPR_OK) {
    vbpr__dataset_release(b.ds);
    return st;
  }
  *out = b.ds;
  return VBPR_OK;
}
