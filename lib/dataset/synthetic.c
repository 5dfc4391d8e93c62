/* Synthetic implicit feedback with known ground truth (see synthetic.h for
 * the model). Every random choice comes from a stream keyed by (seed, what,
 * user or item), so the result does not depend on the thread count, and
 * the test set does not depend on the noise levels. */
#include <math.h>
#include <string.h>

#include "core/params.h"
#include "dataset/dataset_internal.h"
#include "vbpr/synthetic.h"


/* stream tags */
#define S_ITEM UINT64_C(0x6974656d)
#define S_RANK UINT64_C(0x72616e6b)
#define S_USER UINT64_C(0x75736572)
enum { U_DEGREE = 0, U_GUMBEL = 1, U_SPLIT = 2, U_NOISE = 3, U_FACTOR = 4 };

#define INT_SPEC(nm, lo, hi, def) {nm, lo, hi, def, VBPR_PARAM_INTEGRAL, NULL}
#define REAL_SPEC(nm, lo, hi, def) {nm, lo, hi, def, 0, NULL}

static const vbpr__param_spec specs[] = {
  [VBPR_SYNTHETIC_NUM_USERS] = INT_SPEC("num_users", 1, 16777216, 1000),
  [VBPR_SYNTHETIC_NUM_ITEMS] = INT_SPEC("num_items", 4, 16777216, 1500),
  [VBPR_SYNTHETIC_DIM] = INT_SPEC("dim", 1, 1024, 16),
  [VBPR_SYNTHETIC_MEAN_PREFERENCES] = REAL_SPEC("mean_preferences", 2, 1048576, 64),
  [VBPR_SYNTHETIC_TEST_FRACTION] = REAL_SPEC("test_fraction", 0, 0.9, 0.2),
  [VBPR_SYNTHETIC_POPULARITY] = REAL_SPEC("popularity", 0, 4, 0.8),
  [VBPR_SYNTHETIC_SHARPNESS] = REAL_SPEC("sharpness", 0, 100, 3),
  [VBPR_SYNTHETIC_FALSE_POSITIVES] = REAL_SPEC("false_positives", 0, 0.9, 0),
  [VBPR_SYNTHETIC_FALSE_NEGATIVES] = REAL_SPEC("false_negatives", 0, 0.9, 0),
  [VBPR_SYNTHETIC_SEED] = INT_SPEC("seed", 0, 9007199254740992.0, 0),
  [VBPR_SYNTHETIC_LABELS] = INT_SPEC("labels", 0, 1, 0),
};
VBPR__DEFINE_PARAM_TABLE(table, specs, VBPR_SYNTHETIC_LABELS, "vbpr_synthetic_param");

struct vbpr_synthetic {
  double v[VBPR__ARRAY_LEN(specs)];
};

VBPR__PARAM_BOUNDS_API(synthetic, vbpr_synthetic_param, table)
VBPR__PARAM_NAME_API(synthetic, vbpr_synthetic_param, table)

vbpr_status vbpr_synthetic_create(vbpr_synthetic **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  vbpr_synthetic *g = vbpr__malloc(sizeof *g);
  if (g == NULL) return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate a configuration");
  for (size_t k = 0; k < table.n; k++) g->v[k] = specs[k].def;
  *out = g;
  return VBPR_OK;
}

void vbpr_synthetic_destroy(vbpr_synthetic *cfg) { vbpr__free(cfg); }

vbpr_status vbpr_synthetic_set(vbpr_synthetic *cfg, vbpr_synthetic_param param, double value)
{
  VBPR_CHECK_NULL(cfg);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(&table, (int)param, &spec, __func__);
  if (st == VBPR_OK) st = vbpr__param_check(spec, value, __func__);
  if (st != VBPR_OK) return st;
  cfg->v[param] = value;
  return VBPR_OK;
}

vbpr_status vbpr_synthetic_get(const vbpr_synthetic *cfg, vbpr_synthetic_param param,
                               double *value)
{
  VBPR_CHECK_NULL(cfg);
  VBPR_CHECK_NULL(value);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(&table, (int)param, &spec, __func__);
  if (st != VBPR_OK) return st;
  *value = cfg->v[param];
  return VBPR_OK;
}

/* ---- the model --------------------------------------------------------- */

typedef struct model {
  int32_t nu, ni, dim;
  uint64_t seed;
  double sharp;
  float *q;       /* [ni * dim] item factors */
  double *logpop; /* [ni] */
} model;

static void model_free(model *m)
{
  vbpr__free(m->q);
  vbpr__free(m->logpop);
  m->q = NULL;
  m->logpop = NULL;
}

static vbpr_status model_init(const vbpr_synthetic *g, model *m, const char *func)
{
  memset(m, 0, sizeof *m);
  m->nu = (int32_t)g->v[VBPR_SYNTHETIC_NUM_USERS];
  m->ni = (int32_t)g->v[VBPR_SYNTHETIC_NUM_ITEMS];
  m->dim = (int32_t)g->v[VBPR_SYNTHETIC_DIM];
  m->seed = (uint64_t)g->v[VBPR_SYNTHETIC_SEED];
  m->sharp = g->v[VBPR_SYNTHETIC_SHARPNESS] / sqrt((double)m->dim);
  m->q = vbpr__malloc_array((size_t)m->ni * (size_t)m->dim, sizeof *m->q);
  m->logpop = vbpr__malloc_array((size_t)m->ni, sizeof *m->logpop);
  int32_t *rank = vbpr__malloc_array((size_t)m->ni, sizeof *rank);
  if (m->q == NULL || m->logpop == NULL || rank == NULL) {
    vbpr__free(rank);
    model_free(m);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate factors for %d items",
                       (int)m->ni);
  }
  for (int32_t i = 0; i < m->ni; i++) {
    vbpr__rng r;
    vbpr__rng_init(&r, m->seed ^ S_ITEM, (uint64_t)i, 0);
    for (int32_t k = 0; k < m->dim; k++) m->q[(size_t)i * m->dim + k] = (float)vbpr__rng_normal(&r);
    rank[i] = i;
  }
  vbpr__rng r;
  vbpr__rng_init(&r, m->seed ^ S_RANK, 0, 0);
  for (int32_t i = m->ni - 1; i > 0; i--) {
    uint32_t x = vbpr__rng_below(&r, (uint32_t)i + 1);
    int32_t t = rank[i];
    rank[i] = rank[x];
    rank[x] = t;
  }
  double s = g->v[VBPR_SYNTHETIC_POPULARITY];
  for (int32_t i = 0; i < m->ni; i++) m->logpop[i] = -s * log((double)rank[i] + 1.0);
  vbpr__free(rank);
  return VBPR_OK;
}

/* a_ui for every item, with p_u drawn into p[dim]. */
static void user_scores(const model *m, int32_t u, float *p, float *scores)
{
  vbpr__rng r;
  vbpr__rng_init(&r, m->seed ^ S_USER, (uint64_t)u, U_FACTOR);
  for (int32_t k = 0; k < m->dim; k++) p[k] = (float)vbpr__rng_normal(&r);
  for (int32_t i = 0; i < m->ni; i++) {
    const float *q = m->q + (size_t)i * m->dim;
    double dot = 0;
    for (int32_t k = 0; k < m->dim; k++) dot += (double)p[k] * q[k];
    scores[i] = (float)(m->sharp * dot + m->logpop[i]);
  }
}

vbpr_status vbpr_synthetic_true_scores(const vbpr_synthetic *cfg, int32_t user, size_t len,
                                       float *scores)
{
  VBPR_CHECK_NULL(cfg);
  VBPR_CHECK_NULL(scores);
  int32_t nu = (int32_t)cfg->v[VBPR_SYNTHETIC_NUM_USERS];
  int32_t ni = (int32_t)cfg->v[VBPR_SYNTHETIC_NUM_ITEMS];
  if (user < 0 || user >= nu)
    return VBPR_FAIL(VBPR_ERR_OUT_OF_RANGE, "user must be in [0, %d), got %d", (int)nu, (int)user);
  if (len < (size_t)ni)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "len must be >= num_items (%d), got %zu",
                     (int)ni, len);
  model m;
  vbpr_status st = model_init(cfg, &m, __func__);
  if (st != VBPR_OK) return st;
  float *p = vbpr__malloc_array((size_t)m.dim, sizeof *p);
  if (p == NULL) st = VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate %d floats", (int)m.dim);
  else user_scores(&m, user, p, scores);
  vbpr__free(p);
  model_free(&m);
  return st;
}

/* ---- per-user counts --------------------------------------------------- */

typedef struct plan {
  double test_frac, fp, fn;
  int labels;
  int32_t *truth;             /* [nu] T_u */
  int64_t *tr_off, *te_off;   /* [nu + 1] */
} plan;

static int64_t round_half_up(double x) { return (int64_t)floor(x + 0.5); }

static void user_counts(const plan *pl, int32_t ni, int32_t T, int64_t *ntrain, int64_t *ntest)
{
  int64_t t = round_half_up(pl->test_frac * T), clean = T - t;
  int64_t kept = clean - round_half_up(pl->fn * (double)clean);
  int64_t fp = round_half_up(pl->fp / (1.0 - pl->fp) * (double)kept);
  int64_t room = (ni - T) / 2; /* keeps the rejection of repeats cheap */
  *ntrain = kept + (fp < room ? fp : room);
  *ntest = t;
}

static vbpr_status make_plan(const vbpr_synthetic *g, const model *m, plan *pl, const char *func)
{
  double mean = g->v[VBPR_SYNTHETIC_MEAN_PREFERENCES];
  pl->test_frac = g->v[VBPR_SYNTHETIC_TEST_FRACTION];
  pl->fp = g->v[VBPR_SYNTHETIC_FALSE_POSITIVES];
  pl->fn = g->v[VBPR_SYNTHETIC_FALSE_NEGATIVES];
  pl->labels = g->v[VBPR_SYNTHETIC_LABELS] != 0;
  pl->truth = vbpr__malloc_array((size_t)m->nu, sizeof *pl->truth);
  pl->tr_off = vbpr__malloc_array((size_t)m->nu + 1, sizeof *pl->tr_off);
  pl->te_off = vbpr__malloc_array((size_t)m->nu + 1, sizeof *pl->te_off);
  if (!pl->truth || !pl->tr_off || !pl->te_off)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %d user plans", (int)m->nu);
  pl->tr_off[0] = pl->te_off[0] = 0;
  for (int32_t u = 0; u < m->nu; u++) {
    vbpr__rng r;
    vbpr__rng_init(&r, m->seed ^ S_USER, (uint64_t)u, U_DEGREE);
    double t = mean * exp(0.5 * vbpr__rng_normal(&r) - 0.125); /* log-normal, mean `mean` */
    int64_t T = round_half_up(t), hi = m->ni / 2;
    pl->truth[u] = (int32_t)(T < 2 ? 2 : T > hi ? hi : T);
    int64_t ntr, nte;
    user_counts(pl, m->ni, pl->truth[u], &ntr, &nte);
    pl->tr_off[u + 1] = pl->tr_off[u] + ntr;
    pl->te_off[u + 1] = pl->te_off[u] + nte;
  }
  return VBPR_OK;
}

static void plan_free(plan *pl)
{
  vbpr__free(pl->truth);
  vbpr__free(pl->tr_off);
  vbpr__free(pl->te_off);
}

/* ---- filling ----------------------------------------------------------- */

typedef struct fill_ctx {
  const model *m;
  const plan *pl;
  vbpr__pairs *train, *test;
  char *ws;
  size_t stride;
} fill_ctx;

typedef struct keyed {
  float key;
  int32_t item;
} keyed;

static void sift_down(keyed *h, int32_t n, int32_t i)
{
  for (;;) {
    int32_t l = 2 * i + 1, s = i;
    if (l < n && h[l].key < h[s].key) s = l;
    if (l + 1 < n && h[l + 1].key < h[s].key) s = l + 1;
    if (s == i) return;
    keyed t = h[i];
    h[i] = h[s];
    h[s] = t;
    i = s;
  }
}

/* The T items with the largest Gumbel-perturbed scores, ascending by id. */
static void true_set(const model *m, int32_t u, const float *scores, int32_t T, keyed *h,
                     int32_t *out)
{
  vbpr__rng r;
  vbpr__rng_init(&r, m->seed ^ S_USER, (uint64_t)u, U_GUMBEL);
  int32_t n = 0;
  for (int32_t i = 0; i < m->ni; i++) {
    double x = ((double)(vbpr__rng_next(&r) >> 11) + 0.5) * 0x1.0p-53;
    float key = (float)(scores[i] - log(-log(x)));
    if (n < T) {
      h[n++] = (keyed){key, i};
      if (n == T)
        for (int32_t k = T / 2; k-- > 0;) sift_down(h, T, k);
    } else if (key > h[0].key) {
      h[0] = (keyed){key, i};
      sift_down(h, T, 0);
    }
  }
  for (int32_t k = 0; k < T; k++) out[k] = h[k].item;
  for (int32_t k = 1; k < T; k++) { /* order by id so that what follows is heap-independent */
    int32_t x = out[k], j = k;
    while (j > 0 && out[j - 1] > x) { out[j] = out[j - 1]; j--; }
    out[j] = x;
  }
}

static void shuffle(vbpr__rng *r, int32_t *a, int32_t n)
{
  for (int32_t i = n - 1; i > 0; i--) {
    uint32_t x = vbpr__rng_below(r, (uint32_t)i + 1);
    int32_t t = a[i];
    a[i] = a[x];
    a[x] = t;
  }
}

static void fill_user(const fill_ctx *c, int32_t u, float *scores, float *p, keyed *h,
                      int32_t *set, unsigned char *mask)
{
  const model *m = c->m;
  const plan *pl = c->pl;
  int32_t T = pl->truth[u];
  user_scores(m, u, p, scores);
  true_set(m, u, scores, T, h, set);
  vbpr__rng r;
  vbpr__rng_init(&r, m->seed ^ S_USER, (uint64_t)u, U_SPLIT);
  shuffle(&r, set, T);
  int64_t nte = pl->te_off[u + 1] - pl->te_off[u], ntr = pl->tr_off[u + 1] - pl->tr_off[u];
  int64_t clean = T - nte, kept = clean - round_half_up(pl->fn * (double)clean);
  int32_t *te = c->test->items + pl->te_off[u], *tr = c->train->items + pl->tr_off[u];
  float *lab = c->train->ratings ? c->train->ratings + pl->tr_off[u] : NULL;
  memcpy(te, set, (size_t)nte * sizeof *te);
  memcpy(tr, set + nte, (size_t)kept * sizeof *tr); /* the last clean ones are held back */
  for (int64_t k = 0; lab && k < kept; k++) lab[k] = 1.0f;
  for (int32_t k = 0; k < T; k++) mask[set[k]] = 1;
  vbpr__rng_init(&r, m->seed ^ S_USER, (uint64_t)u, U_NOISE);
  for (int64_t k = kept; k < ntr; k++) { /* false positives: random non-preferred items */
    int32_t i;
    do i = (int32_t)vbpr__rng_below(&r, (uint32_t)m->ni);
    while (mask[i]);
    mask[i] = 1;
    tr[k] = i;
    if (lab) lab[k] = 0.0f;
  }
  for (int32_t k = 0; k < T; k++) mask[set[k]] = 0;
  for (int64_t k = kept; k < ntr; k++) mask[tr[k]] = 0;
}

static void fill_range(void *ctx, size_t begin, size_t end, int tid)
{
  const fill_ctx *c = ctx;
  char *ws = c->ws + (size_t)tid * c->stride;
  int32_t ni = c->m->ni;
  float *scores = (float *)ws;
  keyed *h = (keyed *)(scores + ni);
  int32_t *set = (int32_t *)(h + ni / 2 + 1);
  float *p = (float *)(set + ni / 2 + 1);
  unsigned char *mask = (unsigned char *)(p + c->m->dim);
  for (size_t u = begin; u < end; u++) fill_user(c, (int32_t)u, scores, p, h, set, mask);
}

static vbpr_status alloc_pairs(vbpr__pairs *p, int32_t nu, const int64_t *off, int ratings,
                               const char *func)
{
  int64_t n = off[nu];
  p->run_user = vbpr__malloc_array((size_t)nu, sizeof *p->run_user);
  p->run_begin = vbpr__malloc_array((size_t)nu, sizeof *p->run_begin);
  p->items = vbpr__malloc_array((size_t)n, sizeof *p->items);
  if (ratings) p->ratings = vbpr__malloc_array((size_t)n, sizeof *p->ratings);
  if (!p->run_user || !p->run_begin || !p->items || (ratings && !p->ratings))
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %lld interactions",
                       (long long)n);
  for (int32_t u = 0; u < nu; u++) {
    p->run_user[u] = u;
    p->run_begin[u] = off[u];
  }
  p->nruns = p->cap_runs = nu;
  p->n = p->cap = n;
  return VBPR_OK;
}

static vbpr_status generate(const vbpr_synthetic *g, model *m, plan *pl, vbpr__pairs *tr,
                            vbpr__pairs *te, vbpr_dataset **a, vbpr_dataset **b, const char *func)
{
  vbpr_status st = model_init(g, m, func);
  if (st == VBPR_OK) st = make_plan(g, m, pl, func);
  if (st == VBPR_OK) st = alloc_pairs(tr, m->nu, pl->tr_off, pl->labels, func);
  if (st == VBPR_OK) st = alloc_pairs(te, m->nu, pl->te_off, 0, func);
  if (st != VBPR_OK) return st;
  fill_ctx c = {m, pl, tr, te, NULL, 0};
  size_t ni = (size_t)m->ni;
  c.stride = (ni * sizeof(float) + (ni / 2 + 1) * (sizeof(keyed) + sizeof(int32_t)) +
              (size_t)m->dim * sizeof(float) + ni + 63) / 64 * 64;
  int nt = vbpr__threads_for((size_t)m->nu * ni * (size_t)m->dim, 1 << 20);
  c.ws = vbpr__aligned_array((size_t)nt, c.stride);
  if (c.ws == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %d workspaces", nt);
  memset(c.ws, 0, (size_t)nt * c.stride); /* the masks start clear */
  vbpr__parallel_for((size_t)m->nu, nt, fill_range, &c);
  vbpr__free(c.ws);
  st = vbpr__dataset_build(tr, m->nu, m->ni, VBPR_DATASET_DUPLICATES_MAX, func, a);
  if (st == VBPR_OK) st = vbpr__dataset_build(te, m->nu, m->ni, VBPR_DATASET_DUPLICATES_MAX, func, b);
  return st;
}

vbpr_status vbpr_synthetic_generate(const vbpr_synthetic *cfg, vbpr_dataset **train,
                                    vbpr_dataset **test)
{
  VBPR_CHECK_NULL(train);
  VBPR_CHECK_NULL(test);
  *train = *test = NULL;
  VBPR_CHECK_NULL(cfg);
  if (train == test)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "train and test must be different pointers");
  model m = {0};
  plan pl = {0};
  vbpr__pairs tr = {0}, te = {0};
  vbpr_dataset *a = NULL, *b = NULL;
  vbpr_status st = generate(cfg, &m, &pl, &tr, &te, &a, &b, __func__);
  model_free(&m);
  plan_free(&pl);
  vbpr__pairs_free(&tr);
  vbpr__pairs_free(&te);
  if (st != VBPR_OK) {
    vbpr__dataset_release(a);
    return st;
  }
  *train = a;
  *test = b;
  return VBPR_OK;
}
