/* The sampler handle: parameters, epochs and batch filling. */
#include <math.h>
#include <string.h>

#include "core/params.h"
#include "sampler/sampler_internal.h"

#define MAX_BATCH (1 << 24)
#define MAX_TUPLE (1 << 16)
#define MAX_EXACT 9007199254740992.0 /* 2^53 */
#define PERM_STREAM UINT64_MAX        /* never a row number */
#define MAX_WORLD (1 << 16)

/* ---- eligibility and epochs -------------------------------------------- */

/* Users with at least n negatives available; fails when there are none. */
static vbpr_status find_eligible(vbpr_sampler *s, int64_t n, const char *func)
{
  const vbpr_dataset *ds = s->ds;
  int32_t k = 0;
  int64_t inter = 0;
  for (int32_t u = 0; u < ds->num_users; u++) {
    int64_t d = ds->offsets[u + 1] - ds->offsets[u];
    if (d > 0 && ds->num_items - d >= n) inter += d, k++;
  }
  if (k == 0)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "num_neg %lld leaves no user with that many items outside its "
                       "positives (the dataset has %lld interactions, %d items)",
                       (long long)n, (long long)ds->nnz, (int)ds->num_items);
  k = 0;
  for (int32_t u = 0; u < ds->num_users; u++) {
    int64_t d = ds->offsets[u + 1] - ds->offsets[u];
    if (d > 0 && ds->num_items - d >= n) s->elig_users[k++] = u;
  }
  s->n_elig = k;
  s->elig_interactions = inter;
  s->perm_epoch = -1;
  return VBPR_OK;
}

static int64_t rows_per_epoch(const vbpr_sampler *s)
{
  if (s->mode == VBPR_SAMPLER_MODE_USERS && s->users_epoch_rows > 0) return s->users_epoch_rows;
  return s->elig_interactions;
}

/* The shuffled order of the eligible interactions for the current epoch. */
static void build_perm(vbpr_sampler *s)
{
  const vbpr_dataset *ds = s->ds;
  int64_t n = 0;
  for (int32_t k = 0; k < s->n_elig; k++) {
    int32_t u = s->elig_users[k];
    for (int64_t j = ds->offsets[u]; j < ds->offsets[u + 1]; j++) s->perm[n++] = (uint32_t)j;
  }
  vbpr__rng r;
  vbpr__rng_init(&r, s->seed, (uint64_t)s->epoch, PERM_STREAM);
  for (int64_t i = n - 1; i > 0; i--) {
    uint32_t x = vbpr__rng_below(&r, (uint32_t)(i + 1)), t = s->perm[i];
    s->perm[i] = s->perm[x];
    s->perm[x] = t;
  }
  for (int64_t i = 0; i < n; i++) {
    s->pairs[2 * i] = s->owner[s->perm[i]];
    s->pairs[2 * i + 1] = ds->items[s->perm[i]];
  }
  s->perm_epoch = s->epoch;
}

/* ---- popularity weights ------------------------------------------------ */

typedef struct pop_tables {
  double *weights, *prob, *top, *user_mass;
  int32_t *alias;
} pop_tables;

static void pop_free(pop_tables *t)
{
  vbpr__free(t->weights);
  vbpr__free(t->prob);
  vbpr__free(t->top);
  vbpr__free(t->user_mass);
  vbpr__free(t->alias);
}

/* Vose's alias method over weights w[0..n) summing to total; small and
 * large are scratch stacks of n ids each. */
static void build_alias(const double *w, double total, int32_t n, double *prob, int32_t *alias,
                        int32_t *small, int32_t *large)
{
  int32_t ns = 0, nl = 0;
  for (int32_t i = 0; i < n; i++) {
    prob[i] = w[i] * n / total;
    alias[i] = i;
    if (prob[i] < 1.0) small[ns++] = i;
    else large[nl++] = i;
  }
  while (ns > 0 && nl > 0) {
    int32_t a = small[--ns], b = large[nl - 1];
    alias[a] = b;
    prob[b] -= 1.0 - prob[a];
    if (prob[b] < 1.0) { nl--; small[ns++] = b; }
  }
  while (nl > 0) prob[large[--nl]] = 1.0; /* rounding leftovers */
  while (ns > 0) prob[small[--ns]] = 1.0;
}

static void sort_desc(double *a, double *t, int32_t n)
{
  double *src = a, *dst = t;
  for (int32_t w = 1; w < n; w *= 2) {
    for (int32_t s = 0; s < n; s += 2 * w) {
      int32_t m = s + w < n ? s + w : n, e = (int32_t)(s + 2 * (int64_t)w < n ? s + 2 * w : n);
      int32_t i = s, j = m, k = s;
      while (i < m && j < e) dst[k++] = src[j] > src[i] ? src[j++] : src[i++];
      while (i < m) dst[k++] = src[i++];
      while (j < e) dst[k++] = src[j++];
    }
    double *x = src; src = dst; dst = x;
  }
  if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

static vbpr_status build_pop(const vbpr_sampler *s, double a, pop_tables *t, const char *func)
{
  const vbpr_dataset *ds = s->ds;
  size_t n = (size_t)ds->num_items;
  memset(t, 0, sizeof *t);
  t->weights = vbpr__malloc_array(n, sizeof(double));
  t->prob = vbpr__malloc_array(n, sizeof(double));
  t->top = vbpr__malloc_array(2 * n, sizeof(double)); /* second half: scratch */
  t->user_mass = vbpr__malloc_array((size_t)ds->num_users, sizeof(double));
  t->alias = vbpr__malloc_array(3 * n, sizeof(int32_t)); /* + two stacks */
  if (!t->weights || !t->prob || !t->top || !t->user_mass || !t->alias) {
    pop_free(t);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate weights for %zu items", n);
  }
  double total = 0;
  for (size_t i = 0; i < n; i++) total += t->weights[i] = pow((double)ds->item_counts[i] + 1.0, a);
  build_alias(t->weights, total, (int32_t)n, t->prob, t->alias, t->alias + n, t->alias + 2 * n);
  memcpy(t->top, t->weights, n * sizeof(double));
  sort_desc(t->top, t->top + n, (int32_t)n);
  double acc = 0;
  for (size_t i = 0; i < n; i++) t->top[i] = (acc += t->top[i]) / total;
  for (int32_t u = 0; u < ds->num_users; u++) {
    double m = 0;
    for (int64_t j = ds->offsets[u]; j < ds->offsets[u + 1]; j++) m += t->weights[ds->items[j]];
    t->user_mass[u] = m / total;
  }
  return VBPR_OK;
}

static void set_pop(vbpr_sampler *s, pop_tables *t, double a)
{
  pop_tables old = {s->weights, s->alias_prob, s->top_mass, s->user_mass, s->alias_idx};
  pop_free(&old);
  s->weights = t->weights;
  s->alias_prob = t->prob;
  s->top_mass = t->top;
  s->user_mass = t->user_mass;
  s->alias_idx = t->alias;
  s->pop_exponent = a;
}

/* ---- parameter table -------------------------------------------------- */

static const vbpr__named_value mode_names[] = {
  {"interactions", VBPR_SAMPLER_MODE_INTERACTIONS},
  {"users", VBPR_SAMPLER_MODE_USERS},
  {NULL, 0},
};

#define INT_SPEC(nm, lo, hi, def) {nm, lo, hi, def, VBPR_PARAM_INTEGRAL, NULL}

static const vbpr__param_spec specs[] = {
  [VBPR_SAMPLER_BATCH_SIZE] = INT_SPEC("batch_size", 1, MAX_BATCH, 1024),
  [VBPR_SAMPLER_NUM_POS] = INT_SPEC("num_pos", 1, MAX_TUPLE, 1),
  [VBPR_SAMPLER_NUM_NEG] = INT_SPEC("num_neg", 1, MAX_TUPLE, 1),
  [VBPR_SAMPLER_SEED] = INT_SPEC("seed", 0, MAX_EXACT, 0),
  [VBPR_SAMPLER_MODE] = {"mode", 0, 1, VBPR_SAMPLER_MODE_INTERACTIONS,
                         VBPR_PARAM_INTEGRAL | VBPR_PARAM_NAMED, mode_names},
  [VBPR_SAMPLER_NEG_POP_EXPONENT] = {"neg_pop_exponent", 0, 16, 0, 0, NULL},
  [VBPR_SAMPLER_EPOCH] = INT_SPEC("epoch", 0, MAX_EXACT, 0),
  [VBPR_SAMPLER_USERS_EPOCH_ROWS] = INT_SPEC("users_epoch_rows", 0, MAX_EXACT, 0),
  [VBPR_SAMPLER_WORLD_SIZE] = INT_SPEC("world_size", 1, MAX_WORLD, 1),
  [VBPR_SAMPLER_RANK] = INT_SPEC("rank", 0, MAX_WORLD - 1, 0),
};
VBPR__DEFINE_PARAM_TABLE(table, specs, VBPR_SAMPLER_RANK, "vbpr_sampler_param");

/* ---- create / destroy -------------------------------------------------- */

vbpr_status vbpr_sampler_create(const vbpr_dataset *ds, vbpr_sampler **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  VBPR_CHECK_NULL(ds);
  if (ds->nnz == 0)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "ds has no interactions to sample from");
  if ((uint64_t)ds->nnz > UINT32_MAX)
    return VBPR_FAIL(VBPR_ERR_UNSUPPORTED, "ds has %lld interactions; at most %u are supported",
                     (long long)ds->nnz, UINT32_MAX);
  vbpr_sampler *s = vbpr__calloc(1, sizeof *s);
  if (s == NULL) return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate a sampler");
  s->ds = ds;
  s->batch = (int64_t)specs[VBPR_SAMPLER_BATCH_SIZE].def;
  s->num_pos = (int64_t)specs[VBPR_SAMPLER_NUM_POS].def;
  s->num_neg = (int64_t)specs[VBPR_SAMPLER_NUM_NEG].def;
  s->world = (int64_t)specs[VBPR_SAMPLER_WORLD_SIZE].def;
  s->elig_users = vbpr__malloc_array((size_t)ds->num_users, sizeof *s->elig_users);
  s->perm = vbpr__malloc_array((size_t)ds->nnz, sizeof *s->perm);
  s->owner = vbpr__malloc_array((size_t)ds->nnz, sizeof *s->owner);
  s->pairs = vbpr__malloc_array((size_t)ds->nnz, 2 * sizeof *s->pairs);
  if (s->owner != NULL)
    for (int32_t u = 0; u < ds->num_users; u++)
      for (int64_t j = ds->offsets[u]; j < ds->offsets[u + 1]; j++) s->owner[j] = u;
  vbpr_status st = s->elig_users && s->perm && s->owner && s->pairs
                       ? find_eligible(s, 1, __func__)
                       : VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate a sampler for %lld "
                                   "interactions", (long long)ds->nnz);
  if (st != VBPR_OK) {
    s->ds = NULL;
    vbpr_sampler_destroy(s);
    return st;
  }
  vbpr__dataset_retain(ds);
  *out = s;
  return VBPR_OK;
}

void vbpr_sampler_destroy(vbpr_sampler *s)
{
  if (s == NULL) return;
  pop_tables t = {s->weights, s->alias_prob, s->top_mass, s->user_mass, s->alias_idx};
  pop_free(&t);
  vbpr__free(s->elig_users);
  vbpr__free(s->perm);
  vbpr__free(s->owner);
  vbpr__free(s->pairs);
  vbpr__free(s->ws);
  vbpr__dataset_release(s->ds);
  vbpr__free(s);
}

/* ---- parameters -------------------------------------------------------- */

VBPR__PARAM_BOUNDS_API(sampler, vbpr_sampler_param, table)
VBPR__PARAM_NAME_API(sampler, vbpr_sampler_param, table)

/* The table's bounds, then what depends on this sampler's data and its
 * other parameters. */
static vbpr_status check_value(const vbpr_sampler *s, vbpr_sampler_param p, double v,
                               const char *func)
{
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(&table, (int)p, &spec, func);
  if (st == VBPR_OK) st = vbpr__param_check(spec, v, func);
  if (st != VBPR_OK) return st;
  if (p == VBPR_SAMPLER_RANK && v >= (double)s->world)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "rank must be below world_size (%lld; set world_size first), got %.0f",
                       (long long)s->world, v);
  if (p == VBPR_SAMPLER_WORLD_SIZE && v <= (double)s->rank)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "world_size must be above rank (%lld), got %.0f", (long long)s->rank, v);
  if (p == VBPR_SAMPLER_NUM_NEG && v > s->ds->num_items)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "num_neg must be at most the number of items (%d), got %.0f",
                       (int)s->ds->num_items, v);
  /* rows * M and rows * N index int32 buffers */
  int64_t b = p == VBPR_SAMPLER_BATCH_SIZE ? (int64_t)v : s->batch;
  int64_t m = p == VBPR_SAMPLER_NUM_POS ? (int64_t)v : s->num_pos;
  int64_t n = p == VBPR_SAMPLER_NUM_NEG ? (int64_t)v : s->num_neg;
  if (b * m > INT32_MAX || b * n > INT32_MAX)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "%s = %.0f makes a batch too large: batch_size * num_pos = %lld "
                       "and batch_size * num_neg = %lld must be below 2^31",
                       spec->name, v, (long long)(b * m), (long long)(b * n));
  return VBPR_OK;
}

vbpr_status vbpr_sampler_set(vbpr_sampler *s, vbpr_sampler_param param, double value)
{
  VBPR_CHECK_NULL(s);
  vbpr_status st = check_value(s, param, value, __func__);
  if (st != VBPR_OK) return st;
  switch (param) {
  case VBPR_SAMPLER_BATCH_SIZE: s->batch = (int64_t)value; return VBPR_OK;
  case VBPR_SAMPLER_NUM_POS: s->num_pos = (int64_t)value; break;
  case VBPR_SAMPLER_NUM_NEG:
    st = find_eligible(s, (int64_t)value, __func__);
    if (st != VBPR_OK) return st; /* nothing changed */
    s->num_neg = (int64_t)value;
    break;
  case VBPR_SAMPLER_SEED: s->seed = (uint64_t)value; s->perm_epoch = -1; break;
  case VBPR_SAMPLER_MODE: s->mode = (int)value; break;
  case VBPR_SAMPLER_NEG_POP_EXPONENT:
    if (value > 0) {
      pop_tables t;
      st = build_pop(s, value, &t, __func__);
      if (st != VBPR_OK) return st;
      set_pop(s, &t, value);
    } else {
      pop_tables none = {0};
      set_pop(s, &none, 0.0);
    }
    break;
  case VBPR_SAMPLER_EPOCH: s->epoch = (int64_t)value; break;
  case VBPR_SAMPLER_USERS_EPOCH_ROWS: s->users_epoch_rows = (int64_t)value; break;
  case VBPR_SAMPLER_RANK: s->rank = (int64_t)value; break;
  case VBPR_SAMPLER_WORLD_SIZE: s->world = (int64_t)value; break;
  }
  s->position = 0;
  return VBPR_OK;
}

vbpr_status vbpr_sampler_get(const vbpr_sampler *s, vbpr_sampler_param param, double *value)
{
  VBPR_CHECK_NULL(s);
  VBPR_CHECK_NULL(value);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(&table, (int)param, &spec, __func__);
  if (st != VBPR_OK) return st;
  switch (param) {
  case VBPR_SAMPLER_BATCH_SIZE: *value = (double)s->batch; break;
  case VBPR_SAMPLER_NUM_POS: *value = (double)s->num_pos; break;
  case VBPR_SAMPLER_NUM_NEG: *value = (double)s->num_neg; break;
  case VBPR_SAMPLER_SEED: *value = (double)s->seed; break;
  case VBPR_SAMPLER_MODE: *value = s->mode; break;
  case VBPR_SAMPLER_NEG_POP_EXPONENT: *value = s->pop_exponent; break;
  case VBPR_SAMPLER_EPOCH: *value = (double)s->epoch; break;
  case VBPR_SAMPLER_USERS_EPOCH_ROWS: *value = (double)s->users_epoch_rows; break;
  case VBPR_SAMPLER_RANK: *value = (double)s->rank; break;
  case VBPR_SAMPLER_WORLD_SIZE: *value = (double)s->world; break;
  }
  return VBPR_OK;
}

/* ---- batches ----------------------------------------------------------- */

static void next_epoch(vbpr_sampler *s)
{
  s->epoch++;
  s->position = 0;
}

/* Fills this rank's share of the next global batch of n rows (n > 0):
 * rows [lo, hi) of the batch, lo = rank*n/W (the chunk rule of the thread
 * pool). */
static vbpr_status fill_share(vbpr_sampler *s, size_t n, int32_t *users, int32_t *pos,
                              int32_t *neg, size_t *rows, const char *func)
{
  size_t w = (size_t)s->world, r = (size_t)s->rank;
  size_t lo = r * n / w, hi = (r + 1) * n / w, share = hi - lo;
  /* a pool worker's chunk pays from about 1k draws (30-50 us) */
  int nt = vbpr__threads_for(share * (size_t)(s->num_pos + s->num_neg), 1024);
  s->ws_stride = vbpr__sampler_ws_bytes(s);
  if (s->ws_stride > 0) { /* capacity counted in bytes: the stride varies with N */
    vbpr_status st = vbpr__reserve(&s->ws, &s->ws_cap, (size_t)nt * s->ws_stride, 1, func);
    if (st != VBPR_OK) return st;
  }
  if (s->mode == VBPR_SAMPLER_MODE_INTERACTIONS && s->perm_epoch != s->epoch) build_perm(s);
  /* Row b of the fill is row position + b of the epoch: moving the position
   * to the share's first row draws exactly the global batch's rows there. */
  int64_t start = s->position;
  s->position = start + (int64_t)lo;
  vbpr__fill_job job = {s, users, pos, neg};
  vbpr__parallel_for(share, nt, vbpr__sampler_fill, &job);
  s->position = start + (int64_t)n;
  *rows = share;
  return VBPR_OK;
}

/* Rows of the next global batch; 0 ends the epoch (and starts the next). */
static size_t batch_rows(vbpr_sampler *s)
{
  int64_t left = rows_per_epoch(s) - s->position;
  return left <= 0 ? 0 : (size_t)(left < s->batch ? left : s->batch);
}

vbpr_status vbpr_sampler_next_shard(vbpr_sampler *s, int32_t *users, int32_t *pos,
                                    int32_t *neg, size_t *rows, size_t *batch)
{
  VBPR_CHECK_NULL(s);
  VBPR_CHECK_NULL(users);
  VBPR_CHECK_NULL(pos);
  VBPR_CHECK_NULL(neg);
  VBPR_CHECK_NULL(rows);
  VBPR_CHECK_NULL(batch);
  size_t n = batch_rows(s), share = 0;
  if (n == 0) {
    next_epoch(s);
    *rows = *batch = 0;
    return VBPR_OK;
  }
  vbpr_status st = fill_share(s, n, users, pos, neg, &share, __func__);
  if (st != VBPR_OK) return st;
  *rows = share;
  *batch = n;
  return VBPR_OK;
}

vbpr_status vbpr_sampler_next(vbpr_sampler *s, int32_t *users, int32_t *pos, int32_t *neg,
                              size_t *rows)
{
  VBPR_CHECK_NULL(s);
  VBPR_CHECK_NULL(users);
  VBPR_CHECK_NULL(pos);
  VBPR_CHECK_NULL(neg);
  VBPR_CHECK_NULL(rows);
  size_t n = batch_rows(s);
  if (n == 0) {
    next_epoch(s);
    *rows = 0;
    return VBPR_OK;
  }
  if ((size_t)(s->rank + 1) * n / (size_t)s->world == (size_t)s->rank * n / (size_t)s->world)
    return VBPR_FAIL(VBPR_ERR_STATE,
                     "rank %lld's share of a batch of %zu rows over %lld ranks is empty, "
                     "which *rows = 0 cannot tell from the end of the epoch: use "
                     "vbpr_sampler_next_shard()", (long long)s->rank, n, (long long)s->world);
  return fill_share(s, n, users, pos, neg, rows, __func__);
}

vbpr_status vbpr_sampler_reset(vbpr_sampler *s)
{
  VBPR_CHECK_NULL(s);
  if (s->position > 0) next_epoch(s);
  return VBPR_OK;
}

int64_t vbpr_sampler_epoch(const vbpr_sampler *s) { return s ? s->epoch : 0; }

size_t vbpr_sampler_rows_per_epoch(const vbpr_sampler *s)
{
  return s ? (size_t)rows_per_epoch(s) : 0;
}

size_t vbpr_sampler_position(const vbpr_sampler *s) { return s ? (size_t)s->position : 0; }
