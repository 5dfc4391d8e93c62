/* Per-user random hold-out of a dataset into train and test. */
#include <math.h>
#include <string.h>

#include "dataset/dataset_internal.h"

/* Stream tag so that split draws never coincide with other uses of a seed. */
#define SPLIT_STREAM UINT64_C(0x73706c6974)

typedef struct split_ctx {
  const vbpr_dataset *ds;
  double frac, min_rating;
  uint64_t seed;
  unsigned char *to_test; /* [nnz] */
  int64_t *pick;          /* [max degree] scratch */
} split_ctx;

/* Marks round(frac * k) of user u's k eligible interactions for the test set. */
static int64_t split_user(split_ctx *c, int32_t u)
{
  const vbpr_dataset *ds = c->ds;
  int64_t b = ds->offsets[u], e = ds->offsets[u + 1], k = 0;
  for (int64_t j = b; j < e; j++)
    if (ds->ratings == NULL || ds->ratings[j] >= c->min_rating) c->pick[k++] = j;
  int64_t t = (int64_t)floor(c->frac * (double)k + 0.5);
  if (t > k) t = k;
  vbpr__rng r;
  vbpr__rng_init(&r, c->seed ^ SPLIT_STREAM, (uint64_t)u, 0);
  for (int64_t j = 0; j < t; j++) { /* partial Fisher-Yates */
    int64_t x = j + (int64_t)vbpr__rng_below(&r, (uint32_t)(k - j));
    int64_t tmp = c->pick[j];
    c->pick[j] = c->pick[x];
    c->pick[x] = tmp;
    c->to_test[c->pick[j]] = 1;
  }
  return t;
}

/* Copies the interactions with to_test == want into builder pairs. */
static vbpr_status gather(const split_ctx *c, int want, int64_t n, vbpr__pairs *p,
                          const char *func)
{
  const vbpr_dataset *ds = c->ds;
  p->run_user = vbpr__malloc_array((size_t)ds->num_users, sizeof *p->run_user);
  p->run_begin = vbpr__malloc_array((size_t)ds->num_users, sizeof *p->run_begin);
  p->items = vbpr__malloc_array((size_t)n, sizeof *p->items);
  if (ds->ratings) p->ratings = vbpr__malloc_array((size_t)n, sizeof *p->ratings);
  if (!p->run_user || !p->run_begin || !p->items || (ds->ratings && !p->ratings)) {
    vbpr__pairs_free(p);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %lld interactions",
                       (long long)n);
  }
  for (int32_t u = 0; u < ds->num_users; u++) {
    p->run_user[p->nruns] = u;
    p->run_begin[p->nruns++] = p->n;
    for (int64_t j = ds->offsets[u]; j < ds->offsets[u + 1]; j++) {
      if (c->to_test[j] != want) continue;
      p->items[p->n] = ds->items[j];
      if (p->ratings) p->ratings[p->n] = ds->ratings[j];
      p->n++;
    }
  }
  p->cap = n;
  p->cap_runs = ds->num_users;
  return VBPR_OK;
}

static vbpr_status build_half(const split_ctx *c, int want, int64_t n, vbpr_dataset **out,
                              const char *func)
{
  vbpr__pairs p = {0};
  vbpr_status st = gather(c, want, n, &p, func);
  if (st == VBPR_OK)
    st = vbpr__dataset_build(&p, c->ds->num_users, c->ds->num_items, VBPR_DATASET_DUPLICATES_MAX,
                             func, out);
  if (st == VBPR_OK) {
    st = vbpr__dataset_copy_mapping(*out, c->ds, func);
    if (st != VBPR_OK) vbpr__dataset_release(*out);
  }
  return st;
}

static vbpr_status check_split_args(const vbpr_dataset *ds, double frac, double min_rating,
                                    const char *func)
{
  if (!(frac >= 0.0 && frac <= 1.0))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "test_fraction must be in [0, 1], got %g",
                       frac);
  if (isnan(min_rating) || (ds->ratings == NULL && min_rating != -INFINITY))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "min_rating must be -INFINITY%s, got %g",
                       ds->ratings ? " or a number" : " for data without ratings", min_rating);
  return VBPR_OK;
}

vbpr_status vbpr_dataset_split(const vbpr_dataset *ds, double test_fraction, double min_rating,
                               uint64_t seed, vbpr_dataset **train, vbpr_dataset **test)
{
  VBPR_CHECK_NULL(train);
  VBPR_CHECK_NULL(test);
  *train = *test = NULL;
  VBPR_CHECK_NULL(ds);
  if (train == test)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "train and test must be different pointers");
  vbpr_status st = check_split_args(ds, test_fraction, min_rating, __func__);
  if (st != VBPR_OK) return st;
  int64_t max_deg = 0, ntest = 0;
  for (int32_t u = 0; u < ds->num_users; u++)
    if (ds->offsets[u + 1] - ds->offsets[u] > max_deg) max_deg = ds->offsets[u + 1] - ds->offsets[u];
  split_ctx c = {ds, test_fraction, min_rating, seed, NULL, NULL};
  c.to_test = vbpr__calloc((size_t)ds->nnz, 1);
  c.pick = vbpr__malloc_array((size_t)max_deg, sizeof *c.pick);
  if (c.to_test == NULL || c.pick == NULL)
    st = VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate %lld flags", (long long)ds->nnz);
  for (int32_t u = 0; st == VBPR_OK && u < ds->num_users; u++) ntest += split_user(&c, u);
  vbpr_dataset *a = NULL, *b = NULL;
  if (st == VBPR_OK) st = build_half(&c, 0, ds->nnz - ntest, &a, __func__);
  if (st == VBPR_OK) st = build_half(&c, 1, ntest, &b, __func__);
  vbpr__free(c.to_test);
  vbpr__free(c.pick);
  if (st != VBPR_OK) {
    vbpr__dataset_release(a);
    return st;
  }
  *train = a;
  *test = b;
  return VBPR_OK;
}
