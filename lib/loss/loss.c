/* The loss object: parameters, validation, stored forward, threading.
 * The arithmetic lives in loss_kernel.c. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/params.h"
#include "loss/loss_internal.h"
#include "vbpr/loss.h"

/* Rows are split over threads when each gets at least this much work
 * (roughly one unit per float multiply-add, about 13 us): handing a chunk to
 * a pool worker costs about a microsecond (tens when it must be woken), so
 * smaller jobs run faster on the calling thread. */
#define MIN_WORK_PER_THREAD ((size_t)1 << 16)

/* ---- parameter tables --------------------------------------------------- */

static const vbpr__named_value estimator_names[] = {
  {"prototype", VBPR_ESTIMATOR_PROTOTYPE},
  {"prototype_detached", VBPR_ESTIMATOR_PROTOTYPE_DETACHED},
  {"detached", VBPR_ESTIMATOR_PROTOTYPE_DETACHED},
  {"plugin", VBPR_ESTIMATOR_PROTOTYPE_DETACHED}, /* the reference code's name */
  {"elbo", VBPR_ESTIMATOR_ELBO},
  {"exact", VBPR_ESTIMATOR_ELBO}, /* the reference code's name */
  {NULL, 0},
};

static const vbpr__named_value attention_names[] = {
  {"hard", VBPR_ATTENTION_HARD},
  {"easy", VBPR_ATTENTION_EASY},
  {NULL, 0},
};

#define SAMPLES_SPEC(nm, def) {nm, 1, VBPR_LOSS_MAX_SAMPLES, def, VBPR_PARAM_INTEGRAL, NULL}
#define TEMPERATURE_SPEC(nm, def) {nm, 1e-6, 1e6, def, 0, NULL}

/* VARIATIONAL: every parameter. */
static const vbpr__param_spec variational_specs[] = {
  [VBPR_LOSS_NUM_POS] = SAMPLES_SPEC("num_pos", 2),
  [VBPR_LOSS_NUM_NEG] = SAMPLES_SPEC("num_neg", 4),
  [VBPR_LOSS_C_POS] = TEMPERATURE_SPEC("c_pos", 4),
  [VBPR_LOSS_C_NEG] = TEMPERATURE_SPEC("c_neg", 4),
  [VBPR_LOSS_ESTIMATOR] = {"estimator", 1, 3, VBPR_ESTIMATOR_PROTOTYPE,
                           VBPR_PARAM_INTEGRAL | VBPR_PARAM_NAMED, estimator_names},
  [VBPR_LOSS_NEG_ATTENTION] = {"neg_attention", -1, 1, VBPR_ATTENTION_HARD,
                               VBPR_PARAM_INTEGRAL | VBPR_PARAM_NAMED, attention_names},
  [VBPR_LOSS_POS_HARDNESS] = {"pos_hardness", 0, 1e6, 0, 0, NULL},
  [VBPR_LOSS_NEG_HARDNESS] = {"neg_hardness", 0, 1e6, 0, 0, NULL},
  [VBPR_LOSS_HARDNESS_TAU] = TEMPERATURE_SPEC("hardness_tau", 0.5),
  [VBPR_LOSS_TEMPERATURE] = {NULL, 0, 0, 0, 0, NULL},
};
VBPR__DEFINE_PARAM_TABLE(variational_table, variational_specs, VBPR_LOSS_TEMPERATURE,
                         "vbpr_loss_param");

/* BPR: one positive, one negative; nothing else applies. */
static const vbpr__param_spec bpr_specs[] = {
  [VBPR_LOSS_NUM_POS] = {"num_pos", 1, 1, 1, VBPR_PARAM_INTEGRAL, NULL},
  [VBPR_LOSS_NUM_NEG] = {"num_neg", 1, 1, 1, VBPR_PARAM_INTEGRAL, NULL},
  [VBPR_LOSS_TEMPERATURE] = {NULL, 0, 0, 0, 0, NULL},
};
VBPR__DEFINE_PARAM_TABLE(bpr_table, bpr_specs, VBPR_LOSS_TEMPERATURE, "vbpr_loss_param");

/* InfoNCE: one positive, N negatives, a temperature. */
static const vbpr__param_spec infonce_specs[] = {
  [VBPR_LOSS_NUM_POS] = {"num_pos", 1, 1, 1, VBPR_PARAM_INTEGRAL, NULL},
  [VBPR_LOSS_NUM_NEG] = SAMPLES_SPEC("num_neg", 4),
  [VBPR_LOSS_TEMPERATURE] = TEMPERATURE_SPEC("temperature", 0.1),
};
VBPR__DEFINE_PARAM_TABLE(infonce_table, infonce_specs, VBPR_LOSS_TEMPERATURE,
                         "vbpr_loss_param");

/* Every parameter of every kind: names, parsing and defaults. */
static const vbpr__param_spec all_specs[] = {
  [VBPR_LOSS_NUM_POS] = SAMPLES_SPEC("num_pos", 2),
  [VBPR_LOSS_NUM_NEG] = SAMPLES_SPEC("num_neg", 4),
  [VBPR_LOSS_C_POS] = TEMPERATURE_SPEC("c_pos", 4),
  [VBPR_LOSS_C_NEG] = TEMPERATURE_SPEC("c_neg", 4),
  [VBPR_LOSS_ESTIMATOR] = {"estimator", 1, 3, VBPR_ESTIMATOR_PROTOTYPE,
                           VBPR_PARAM_INTEGRAL | VBPR_PARAM_NAMED, estimator_names},
  [VBPR_LOSS_NEG_ATTENTION] = {"neg_attention", -1, 1, VBPR_ATTENTION_HARD,
                               VBPR_PARAM_INTEGRAL | VBPR_PARAM_NAMED, attention_names},
  [VBPR_LOSS_POS_HARDNESS] = {"pos_hardness", 0, 1e6, 0, 0, NULL},
  [VBPR_LOSS_NEG_HARDNESS] = {"neg_hardness", 0, 1e6, 0, 0, NULL},
  [VBPR_LOSS_HARDNESS_TAU] = TEMPERATURE_SPEC("hardness_tau", 0.5),
  [VBPR_LOSS_TEMPERATURE] = TEMPERATURE_SPEC("temperature", 0.1),
};
VBPR__DEFINE_PARAM_TABLE(all_table, all_specs, VBPR_LOSS_TEMPERATURE, "vbpr_loss_param");

static const vbpr__param_table *table_of(vbpr_loss_kind kind)
{
  switch (kind) {
  case VBPR_LOSS_BPR: return &bpr_table;
  case VBPR_LOSS_VARIATIONAL: return &variational_table;
  case VBPR_LOSS_INFONCE: return &infonce_table;
  }
  return NULL;
}

static const char *kind_name(vbpr_loss_kind kind)
{
  switch (kind) {
  case VBPR_LOSS_BPR: return "VBPR_LOSS_BPR";
  case VBPR_LOSS_INFONCE: return "VBPR_LOSS_INFONCE";
  default: return "VBPR_LOSS_VARIATIONAL";
  }
}

static vbpr_status check_kind(vbpr_loss_kind kind, const char *func)
{
  if (table_of(kind) == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "kind must be VBPR_LOSS_BPR (1), VBPR_LOSS_VARIATIONAL (2) or "
                       "VBPR_LOSS_INFONCE (3), got %d", (int)kind);
  return VBPR_OK;
}

/* The spec of p for this kind; the message tells an unknown parameter from
 * one that exists but does not apply to the kind. */
static vbpr_status spec_for(vbpr_loss_kind kind, vbpr_loss_param p,
                            const vbpr__param_spec **spec, const char *func)
{
  *spec = vbpr__param_spec_of(table_of(kind), (int)p);
  if (*spec != NULL) return VBPR_OK;
  const vbpr__param_spec *any;
  vbpr_status st = vbpr__param_find(&all_table, (int)p, &any, func);
  if (st != VBPR_OK) return st;
  return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                     "%s does not apply to a %s loss", any->name, kind_name(kind));
}

vbpr_status vbpr_loss_param_bounds(vbpr_loss_kind kind, vbpr_loss_param p,
                                   vbpr_param_bounds *bounds)
{
  const vbpr__param_spec *s;
  vbpr_status st = check_kind(kind, __func__);
  if (st == VBPR_OK) st = spec_for(kind, p, &s, __func__);
  if (st != VBPR_OK) return st;
  return vbpr__param_bounds(table_of(kind), (int)p, bounds, __func__);
}

VBPR__PARAM_NAME_API(loss, vbpr_loss_param, all_table)

/* ---- create, destroy, parameters --------------------------------------- */

/* The value of parameter p in cfg: the one place that maps parameters to
 * fields, used by set (store) and get (load). */
static double *double_field(vbpr__loss_cfg *cfg, vbpr_loss_param p)
{
  switch (p) {
  case VBPR_LOSS_C_POS: return &cfg->c_pos;
  case VBPR_LOSS_C_NEG: return &cfg->c_neg;
  case VBPR_LOSS_POS_HARDNESS: return &cfg->lam_pos;
  case VBPR_LOSS_NEG_HARDNESS: return &cfg->lam_neg;
  case VBPR_LOSS_HARDNESS_TAU: return &cfg->tau;
  case VBPR_LOSS_TEMPERATURE: return &cfg->temperature;
  default: return NULL;
  }
}

static void store(vbpr__loss_cfg *cfg, vbpr_loss_param p, double v)
{
  double *d = double_field(cfg, p);
  if (d != NULL) *d = v;
  else if (p == VBPR_LOSS_NUM_POS) cfg->M = (size_t)v;
  else if (p == VBPR_LOSS_NUM_NEG) cfg->N = (size_t)v;
  else if (p == VBPR_LOSS_ESTIMATOR) cfg->estimator = (int)v;
  else if (p == VBPR_LOSS_NEG_ATTENTION) cfg->sign = (int)v;
}

static double load(const vbpr__loss_cfg *cfg, vbpr_loss_param p)
{
  double *d = double_field((vbpr__loss_cfg *)cfg, p);
  if (d != NULL) return *d;
  if (p == VBPR_LOSS_NUM_POS) return (double)cfg->M;
  if (p == VBPR_LOSS_NUM_NEG) return (double)cfg->N;
  if (p == VBPR_LOSS_ESTIMATOR) return cfg->estimator;
  return cfg->sign;
}

vbpr_status vbpr_loss_create(vbpr_loss_kind kind, vbpr_loss **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  vbpr_status st = check_kind(kind, __func__);
  if (st != VBPR_OK) return st;
  vbpr_loss *l = vbpr__calloc(1, sizeof *l);
  if (l == NULL)
    return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate the loss object");
  l->kind = kind;
  l->cfg.kind = (int)kind;
  /* BPR is the M = N = 1 case of the same code: with one score per side
   * every attention weight is exactly 1 and the estimators coincide. The
   * defaults of every parameter come from the table of all parameters; a
   * kind overrides what it restricts. */
  const vbpr__param_table *all = &all_table, *own = table_of(kind);
  for (size_t p = 1; p < all->n; p++) {
    const vbpr__param_spec *s = vbpr__param_spec_of(own, (int)p);
    store(&l->cfg, (vbpr_loss_param)p, (s ? s : &all->spec[p])->def);
  }
  l->stored = VBPR__STORED_NONE;
  *out = l;
  return VBPR_OK;
}

void vbpr_loss_destroy(vbpr_loss *loss)
{
  if (loss == NULL) return;
  vbpr__free(loss->ws);
  vbpr__free(loss->rows);
  vbpr__free(loss->scratch);
  vbpr__free(loss->wsd);
  vbpr__free(loss);
}

vbpr_loss_kind vbpr_loss_get_kind(const vbpr_loss *loss)
{
  return loss ? loss->kind : (vbpr_loss_kind)0;
}

vbpr_status vbpr_loss_set(vbpr_loss *loss, vbpr_loss_param p, double value)
{
  VBPR_CHECK_NULL(loss);
  const vbpr__param_spec *s;
  vbpr_status st = spec_for(loss->kind, p, &s, __func__);
  if (st == VBPR_OK) st = vbpr__param_check(s, value, __func__);
  if (st != VBPR_OK) return st;
  store(&loss->cfg, p, value);
  /* the stored alpha, beta and gradients belong to the old parameters */
  loss->stored = VBPR__STORED_NONE;
  return VBPR_OK;
}

vbpr_status vbpr_loss_get(const vbpr_loss *loss, vbpr_loss_param p, double *value)
{
  VBPR_CHECK_NULL(loss);
  VBPR_CHECK_NULL(value);
  const vbpr__param_spec *s;
  vbpr_status st = spec_for(loss->kind, p, &s, __func__);
  if (st != VBPR_OK) return st;
  *value = load(&loss->cfg, p);
  return VBPR_OK;
}

/* ---- presets -------------------------------------------------------------- */

/* Named configurations of a VARIATIONAL loss: the parameters they set (M and
 * N are the host's and are left alone). */
typedef struct preset {
  const char *name;
  double estimator, attention, c_pos, c_neg, pos_hardness, neg_hardness, tau;
  double prior[4]; /* item-prior weights a1, a2, b1, b2 measured with it */
} preset;

static const preset presets[] = {
  /* the paper's estimator (Eq. 12-17): prototype, hard negative attention */
  {"paper", VBPR_ESTIMATOR_PROTOTYPE, VBPR_ATTENTION_HARD, 4, 4, 0, 0, 0.5, {0, 0, 0, 0}},
  /* the later reference code's defaults, plug-in and exact losses */
  {"reference-plugin", VBPR_ESTIMATOR_PROTOTYPE_DETACHED, VBPR_ATTENTION_EASY, 4, 4, 0,
   0.5, 0.5, {0, 0, 0, 0}},
  {"reference-exact", VBPR_ESTIMATOR_ELBO, VBPR_ATTENTION_EASY, 4, 4, 0, 0.5, 0.5,
   {0, 0, 0, 0}},
  /* the library's measured best (doc/results.md) */
  {"best", VBPR_ESTIMATOR_ELBO, VBPR_ATTENTION_EASY, 4, 4, 0, 0.5, 0.5, {0, 1, 0, 0.5}},
};

size_t vbpr_loss_preset_count(void) { return VBPR__ARRAY_LEN(presets); }

const char *vbpr_loss_preset_name(size_t i)
{
  return i < VBPR__ARRAY_LEN(presets) ? presets[i].name : NULL;
}

/* The preset called name, or NULL after an error naming the known ones. */
static const preset *find_preset(const char *name, const char *func)
{
  for (size_t i = 0; i < VBPR__ARRAY_LEN(presets); i++)
    if (vbpr__name_matches(name, presets[i].name)) return &presets[i];
  char known[256];
  size_t at = 0;
  known[0] = '\0';
  for (size_t i = 0; i < VBPR__ARRAY_LEN(presets) && at < sizeof known; i++)
    at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "",
                           presets[i].name);
  vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "unknown preset '%.64s'; known: %s", name,
              known);
  return NULL;
}

vbpr_status vbpr_loss_preset_prior_weights(const char *name, double *a1, double *a2,
                                           double *b1, double *b2)
{
  VBPR_CHECK_NULL(name);
  VBPR_CHECK_NULL(a1);
  VBPR_CHECK_NULL(a2);
  VBPR_CHECK_NULL(b1);
  VBPR_CHECK_NULL(b2);
  const preset *p = find_preset(name, __func__);
  if (p == NULL) return VBPR_ERR_INVALID_ARGUMENT;
  *a1 = p->prior[0];
  *a2 = p->prior[1];
  *b1 = p->prior[2];
  *b2 = p->prior[3];
  return VBPR_OK;
}

vbpr_status vbpr_loss_set_preset(vbpr_loss *loss, const char *name)
{
  VBPR_CHECK_NULL(loss);
  VBPR_CHECK_NULL(name);
  const preset *p = find_preset(name, __func__);
  if (p == NULL) return VBPR_ERR_INVALID_ARGUMENT;
  if (loss->kind != VBPR_LOSS_VARIATIONAL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "preset '%s' configures a VBPR_LOSS_VARIATIONAL loss, not a %s one",
                     p->name, kind_name(loss->kind));
  vbpr__loss_cfg cfg = loss->cfg;
  store(&cfg, VBPR_LOSS_ESTIMATOR, p->estimator);
  store(&cfg, VBPR_LOSS_NEG_ATTENTION, p->attention);
  store(&cfg, VBPR_LOSS_C_POS, p->c_pos);
  store(&cfg, VBPR_LOSS_C_NEG, p->c_neg);
  store(&cfg, VBPR_LOSS_POS_HARDNESS, p->pos_hardness);
  store(&cfg, VBPR_LOSS_NEG_HARDNESS, p->neg_hardness);
  store(&cfg, VBPR_LOSS_HARDNESS_TAU, p->tau);
  loss->cfg = cfg;
  loss->stored = VBPR__STORED_NONE;
  return VBPR_OK;
}

/* ---- argument checks ---------------------------------------------------- */

/* The arrays of one forward call, as given: float, or double (f64). */
typedef struct fwd_args {
  size_t batch, dim; /* dim 0: score level */
  const float *user, *pos, *neg, *ps, *ns, *lpp, *lpn;
  bool f64; /* the double-precision calls: the arrays below instead */
  const double *user_d, *pos_d, *neg_d, *ps_d, *ns_d, *lpp_d, *lpn_d;
} fwd_args;

/* batch * count * width elements of `elem` bytes must be addressable. */
static vbpr_status check_extent(const char *func, const char *what, size_t batch,
                                size_t count, size_t width, size_t elem)
{
  size_t n;
  if (!vbpr__mul_ok(batch, count, &n) || !vbpr__mul_ok(n, width, &n) ||
      !vbpr__mul_ok(n, elem, &n))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "%s would hold batch (%zu) x %zu x %zu %s, which "
                       "overflows size_t", what, batch, count, width,
                       elem == sizeof(double) ? "doubles" : "floats");
  return VBPR_OK;
}

static vbpr_status check_sizes(const vbpr_loss *loss, const fwd_args *a,
                               const char *func)
{
  if (a->batch == 0)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "batch must be >= 1, got 0");
  size_t M = loss->cfg.M, N = loss->cfg.N, w = a->dim > 0 ? a->dim : 1;
  size_t el = a->f64 ? sizeof(double) : sizeof(float);
  vbpr_status st;
  if ((st = check_extent(func, a->dim > 0 ? "pos" : "pos_scores", a->batch, M, w, el)) ||
      (st = check_extent(func, a->dim > 0 ? "neg" : "neg_scores", a->batch, N, w, el)) ||
      (st = check_extent(func, "user", a->batch, 1, w, el)))
    return st;
  /* the workspaces hold three floats and two doubles per score (plus
   * padding) */
  size_t mn;
  if (!vbpr__add_ok(M, N, &mn) ||
      (st = check_extent(func, "the workspace", a->batch, mn, 8, sizeof(float))))
    return st ? st
              : vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "M + N overflows size_t");
  return VBPR_OK;
}

#define REQUIRE(ptr, name)                                                  \
  do {                                                                      \
    if ((ptr) == NULL)                                                      \
      return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must not be NULL", \
                         name);                                             \
  } while (0)

static vbpr_status check_grad_output(double g, const char *func)
{
  if (!isfinite(g))
    return vbpr__error(VBPR_ERR_NUMERIC, func, "grad_output must be finite, got %g", g);
  return VBPR_OK;
}

/* ---- locating a bad row for the error message --------------------------- */

/* The first non-finite value among x[off, off + n) of a float (xf) or double
 * (xd) array: its offset from off into *at and its value into *val. */
static bool find_nonfinite(const float *xf, const double *xd, size_t off, size_t n,
                           size_t *at, double *val)
{
  if (xf != NULL) {
    *at = vbpr__find_nonfinite(xf + off, n);
    if (*at < n) *val = (double)xf[off + *at];
    return *at < n;
  }
  for (*at = 0; *at < n && isfinite(xd[off + *at]); ++*at) {
  }
  if (*at < n) *val = xd[off + *at];
  return *at < n;
}

/* Reports the first non-finite value among the embeddings of row r. */
static bool diagnose_embeddings(const vbpr_loss *loss, const fwd_args *a, size_t r,
                                const char *func, vbpr_status *st)
{
  size_t M = loss->cfg.M, N = loss->cfg.N, d = a->dim, k = 0;
  double v = 0;
  if (find_nonfinite(a->user, a->user_d, r * d, d, &k, &v)) {
    *st = vbpr__error(VBPR_ERR_NUMERIC, func,
                      "user[%zu] (row %zu, component %zu) is %g", r * d + k, r, k, v);
    return true;
  }
  const float *arr[2] = {a->pos, a->neg};
  const double *arr_d[2] = {a->pos_d, a->neg_d};
  const char *names[2] = {"pos", "neg"}, *what[2] = {"positive", "negative"};
  size_t cnt[2] = {M, N};
  for (int s = 0; s < 2; s++)
    for (size_t i = 0; i < cnt[s]; i++) {
      size_t off = (r * cnt[s] + i) * d;
      if (find_nonfinite(arr[s], arr_d[s], off, d, &k, &v)) {
        *st = vbpr__error(VBPR_ERR_NUMERIC, func,
                          "%s[%zu] (row %zu, %s %zu, component %zu) is %g", names[s],
                          off + k, r, what[s], i, k, v);
        return true;
      }
    }
  return false;
}

/* Reports the first non-finite value in one [batch * cnt] array at row r. */
static bool diagnose_row_array(const float *x, const double *xd, size_t cnt, size_t r,
                               const char *name, const char *what, const char *func,
                               vbpr_status *st)
{
  size_t k = 0;
  double v = 0;
  if ((x == NULL && xd == NULL) || !find_nonfinite(x, xd, r * cnt, cnt, &k, &v))
    return false;
  *st = vbpr__error(VBPR_ERR_NUMERIC, func, "%s[%zu] (row %zu, %s %zu) is %g", name,
                    r * cnt + k, r, what, k, v);
  return true;
}

static vbpr_status diagnose(const vbpr_loss *loss, const fwd_args *a, size_t r,
                            int kind, const char *func)
{
  size_t M = loss->cfg.M, N = loss->cfg.N;
  vbpr_status st = VBPR_ERR_NUMERIC;
  if (kind == VBPR__ROW_BAD_INPUT) {
    if (a->dim > 0 && diagnose_embeddings(loss, a, r, func, &st)) return st;
    if (diagnose_row_array(a->ps, a->ps_d, M, r, "pos_scores", "positive", func, &st) ||
        diagnose_row_array(a->ns, a->ns_d, N, r, "neg_scores", "negative", func, &st) ||
        diagnose_row_array(a->lpp, a->lpp_d, M, r, "log_prior_pos", "positive", func,
                           &st) ||
        diagnose_row_array(a->lpn, a->lpn_d, N, r, "log_prior_neg", "negative", func,
                           &st))
      return st;
    return vbpr__error(VBPR_ERR_NUMERIC, func,
                       "an inner product of row %zu overflows %s (its inputs are "
                       "finite; scale the embeddings down)", r, a->f64 ? "double" : "float");
  }
  return vbpr__error(VBPR_ERR_NUMERIC, func,
                     "a gradient or the loss of row %zu overflows float (finite "
                     "inputs; reduce the score range or raise c_pos / c_neg)", r);
}

/* ---- forward and backward drivers --------------------------------------- */

static size_t round_up16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Grows the workspaces for a batch and nthreads (and the double ones of the
 * f64 calls); carves them. */
static vbpr_status prepare(vbpr_loss *loss, size_t batch, int nthreads, bool f64,
                           const char *func)
{
  size_t M = loss->cfg.M, N = loss->cfg.N;
  size_t pm = round_up16(batch * M), pn = round_up16(batch * N);
  vbpr_status st;
  if ((st = vbpr__reserve((void **)&loss->ws, &loss->ws_cap, 3 * (pm + pn),
                          sizeof(float), func)) ||
      (st = vbpr__reserve((void **)&loss->rows, &loss->rows_cap, batch,
                          sizeof(double), func)) ||
      (st = vbpr__reserve((void **)&loss->scratch, &loss->scratch_cap,
                          (size_t)nthreads * vbpr__loss_scratch_per_thread(&loss->cfg),
                          sizeof(double), func)) ||
      (f64 && (st = vbpr__reserve((void **)&loss->wsd, &loss->wsd_cap, 2 * (pm + pn),
                                  sizeof(double), func))))
    return st;
  float *w = loss->ws;
  loss->alpha = w, w += pm;
  loss->gp = w, w += pm;
  loss->ps = w, w += pm;
  loss->beta = w, w += pn;
  loss->gn = w, w += pn;
  loss->ns = w;
  if (f64) {
    double *d = loss->wsd;
    loss->gp_d = d, d += pm;
    loss->ps_d = d, d += pm;
    loss->gn_d = d, d += pn;
    loss->ns_d = d;
  }
  return VBPR_OK;
}

static int threads_for(const vbpr_loss *loss, size_t batch, size_t dim)
{
  size_t M = loss->cfg.M, N = loss->cfg.N;
  /* inner products or gradients, plus ~20 units per score for exp/log */
  size_t per_row = (M + N + 1) * dim + 20 * (M + N);
  if (loss->cfg.estimator == VBPR_ESTIMATOR_ELBO) per_row += 20 * M * N;
  size_t work;
  if (!vbpr__mul_ok(batch, per_row, &work)) work = SIZE_MAX;
  /* The small calls of a per-sample host stop here, on the calling thread,
   * without even reading the thread setting. */
  if (work < 2 * MIN_WORK_PER_THREAD) return 1;
  int nt = vbpr__threads_for(work, MIN_WORK_PER_THREAD);
  if (nt > VBPR__LOSS_MAX_THREADS) nt = VBPR__LOSS_MAX_THREADS;
  return (size_t)nt > batch ? (int)batch : nt; /* never more threads than rows */
}

/* The first row with a non-finite input, else the first whose results
 * overflow: each thread saw its chunk in order, so the minimum over the
 * threads is the first row of the batch. */
static vbpr_status first_failure(const vbpr_loss *loss, const fwd_args *a,
                                 const vbpr__fwd_job *job, int nt, const char *func)
{
  size_t bad_in = SIZE_MAX, over = SIZE_MAX;
  for (int t = 0; t < nt; t++) {
    if (job->bad_input[t] < bad_in) bad_in = job->bad_input[t];
    if (job->overflow[t] < over) over = job->overflow[t];
  }
  if (bad_in != SIZE_MAX) return diagnose(loss, a, bad_in, VBPR__ROW_BAD_INPUT, func);
  if (over != SIZE_MAX) return diagnose(loss, a, over, VBPR__ROW_OVERFLOW, func);
  return VBPR_OK;
}

/* The mean of the row losses, summed in a fixed serial order so that it does
 * not depend on the thread split; for the float calls it must fit a float. */
static vbpr_status mean_loss(const vbpr_loss *loss, size_t batch, bool f64, double *mean,
                             const char *func)
{
  double sum = 0.0;
  for (size_t r = 0; r < batch; r++) {
    if (!f64 && loss->rows[r] > FLT_MAX)
      return vbpr__error(VBPR_ERR_NUMERIC, func,
                         "the loss of row %zu, %g, overflows float", r, loss->rows[r]);
    sum += loss->rows[r];
  }
  double m = sum / (double)batch;
  if (!isfinite(f64 ? m : (double)(float)m))
    return vbpr__error(VBPR_ERR_NUMERIC, func, "the mean loss %g overflows %s", m,
                       f64 ? "double" : "float");
  *mean = m;
  return VBPR_OK;
}

/* The forward job of a call, its arrays pointed at the caller's inputs and
 * the loss's workspaces. Only the per-thread slots in use are set. */
static void make_job(vbpr_loss *loss, const fwd_args *a, int nt, vbpr__fwd_job *job)
{
  memset(job, 0, offsetof(vbpr__fwd_job, bad_input));
  job->cfg = &loss->cfg;
  job->dim = a->dim;
  if (a->f64) {
    job->user_d = a->user_d, job->pos_d = a->pos_d, job->neg_d = a->neg_d;
    job->ps_d = a->dim > 0 ? loss->ps_d : a->ps_d;
    job->ns_d = a->dim > 0 ? loss->ns_d : a->ns_d;
    job->ps_out_d = loss->ps_d, job->ns_out_d = loss->ns_d;
    job->lpp_d = a->lpp_d, job->lpn_d = a->lpn_d;
    job->gp_d = loss->gp_d, job->gn_d = loss->gn_d;
  } else {
    job->user = a->user, job->pos = a->pos, job->neg = a->neg;
    job->ps = a->dim > 0 ? loss->ps : a->ps;
    job->ns = a->dim > 0 ? loss->ns : a->ns;
    job->ps_out = loss->ps, job->ns_out = loss->ns;
    job->lpp = a->lpp, job->lpn = a->lpn;
    job->gp = loss->gp, job->gn = loss->gn;
  }
  job->alpha = loss->alpha, job->beta = loss->beta;
  job->row_loss = loss->rows;
  job->scratch = loss->scratch;
  for (int t = 0; t < nt; t++) job->bad_input[t] = job->overflow[t] = SIZE_MAX;
}

/* Runs the forward, stores it, and gives the mean loss and the thread count
 * it used. Outputs the caller owns are not touched here. */
static vbpr_status run_forward(vbpr_loss *loss, const fwd_args *a, double *mean,
                               int *nthreads_out, const char *func)
{
  int nt = threads_for(loss, a->batch, a->dim);
  vbpr_status st = prepare(loss, a->batch, nt, a->f64, func);
  if (st != VBPR_OK) return st;
  vbpr__fwd_job job;
  make_job(loss, a, nt, &job);
  vbpr__parallel_for(a->batch, nt, vbpr__loss_fwd_range, &job);
  if ((st = first_failure(loss, a, &job, nt, func)) ||
      (st = mean_loss(loss, a->batch, a->f64, mean, func)))
    return st;
  loss->stored = a->f64 ? VBPR__STORED_F64
                        : (a->dim > 0 ? VBPR__STORED_EMBED : VBPR__STORED_SCORES);
  loss->batch = a->batch;
  loss->dim = a->dim;
  loss->user = a->user;
  loss->pos = a->pos;
  loss->neg = a->neg;
  *nthreads_out = nt;
  return VBPR_OK;
}

static void run_backward(const vbpr_loss *loss, float grad_output, int nt,
                         float *g_ps, float *g_ns, float *g_user, float *g_pos,
                         float *g_neg)
{
  vbpr__bwd_job job = {
    .M = loss->cfg.M, .N = loss->cfg.N, .dim = loss->dim,
    .scale = (double)grad_output / (double)loss->batch,
    .gp = loss->gp, .gn = loss->gn,
    .user = loss->user, .pos = loss->pos, .neg = loss->neg,
    .g_ps = g_ps, .g_ns = g_ns, .g_user = g_user, .g_pos = g_pos, .g_neg = g_neg,
  };
  vbpr__parallel_for(loss->batch, nt, vbpr__loss_bwd_range, &job);
}

/* The backward of a double-precision call, from its own arrays. */
static void run_backward_d(const vbpr_loss *loss, const fwd_args *a, double grad_output,
                           int nt, double *g_ps, double *g_ns, double *g_user,
                           double *g_pos, double *g_neg)
{
  vbpr__bwd_job job = {
    .M = loss->cfg.M, .N = loss->cfg.N, .dim = a->dim,
    .scale = grad_output / (double)a->batch,
    .gp_d = loss->gp_d, .gn_d = loss->gn_d,
    .user_d = a->user_d, .pos_d = a->pos_d, .neg_d = a->neg_d,
    .g_ps_d = g_ps, .g_ns_d = g_ns, .g_user_d = g_user, .g_pos_d = g_pos, .g_neg_d = g_neg,
  };
  vbpr__parallel_for(a->batch, nt, vbpr__loss_bwd_range, &job);
}

/* ---- public forward / backward ------------------------------------------ */

static vbpr_status forward_common(vbpr_loss *loss, const fwd_args *a, double *mean,
                                  int *nt, const char *func)
{
  vbpr_status st = check_sizes(loss, a, func);
  if (st != VBPR_OK) return st;
  return run_forward(loss, a, mean, nt, func);
}

static vbpr_status check_embed_args(const fwd_args *a, const void *loss_out,
                                    const char *func)
{
  REQUIRE(a->f64 ? (const void *)a->user_d : (const void *)a->user, "user");
  REQUIRE(a->f64 ? (const void *)a->pos_d : (const void *)a->pos, "pos");
  REQUIRE(a->f64 ? (const void *)a->neg_d : (const void *)a->neg, "neg");
  REQUIRE(loss_out, "loss_out");
  if (a->dim == 0)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "dim must be >= 1, got 0");
  return VBPR_OK;
}

static vbpr_status check_score_args(const fwd_args *a, const void *loss_out,
                                    const char *func)
{
  REQUIRE(a->f64 ? (const void *)a->ps_d : (const void *)a->ps, "pos_scores");
  REQUIRE(a->f64 ? (const void *)a->ns_d : (const void *)a->ns, "neg_scores");
  REQUIRE(loss_out, "loss_out");
  return VBPR_OK;
}

vbpr_status vbpr_loss_forward(vbpr_loss *loss, size_t batch, size_t dim,
                              const float *user, const float *pos, const float *neg,
                              const float *log_prior_pos, const float *log_prior_neg,
                              float *loss_out)
{
  VBPR_CHECK_NULL(loss);
  loss->stored = VBPR__STORED_NONE;
  fwd_args a = {.batch = batch, .dim = dim, .user = user, .pos = pos, .neg = neg,
                .lpp = log_prior_pos, .lpn = log_prior_neg};
  double mean;
  int nt;
  vbpr_status st;
  if ((st = check_embed_args(&a, loss_out, __func__)) ||
      (st = forward_common(loss, &a, &mean, &nt, __func__)))
    return st;
  *loss_out = (float)mean;
  return VBPR_OK;
}

vbpr_status vbpr_loss_forward_scores(vbpr_loss *loss, size_t batch,
                                     const float *pos_scores, const float *neg_scores,
                                     const float *log_prior_pos,
                                     const float *log_prior_neg, float *loss_out)
{
  VBPR_CHECK_NULL(loss);
  loss->stored = VBPR__STORED_NONE;
  fwd_args a = {.batch = batch, .ps = pos_scores, .ns = neg_scores,
                .lpp = log_prior_pos, .lpn = log_prior_neg};
  double mean;
  int nt;
  vbpr_status st;
  if ((st = check_score_args(&a, loss_out, __func__)) ||
      (st = forward_common(loss, &a, &mean, &nt, __func__)))
    return st;
  *loss_out = (float)mean;
  return VBPR_OK;
}

static vbpr_status check_stored(const vbpr_loss *loss, bool need_embed, const char *func)
{
  if (loss->stored == VBPR__STORED_NONE)
    return vbpr__error(VBPR_ERR_STATE, func,
                       "no stored forward: call a forward first (a failed forward "
                       "or a vbpr_loss_set since the last one discards it)");
  if (need_embed && loss->stored != VBPR__STORED_EMBED)
    return vbpr__error(VBPR_ERR_STATE, func,
                       "the stored forward is score-level: it has no embeddings to "
                       "differentiate (use vbpr_loss_backward_scores)");
  return VBPR_OK;
}

/* A backward needs a float forward: a double-precision call has computed
 * its gradients already. */
static vbpr_status check_backward(const vbpr_loss *loss, bool need_embed, const char *func)
{
  if (loss->stored == VBPR__STORED_F64)
    return vbpr__error(VBPR_ERR_STATE, func,
                       "the stored forward was made by a double-precision call, which "
                       "gave its gradients already; a float backward needs a float "
                       "forward");
  return check_stored(loss, need_embed, func);
}

vbpr_status vbpr_loss_backward(vbpr_loss *loss, float grad_output, float *grad_user,
                               float *grad_pos, float *grad_neg)
{
  const char *func = __func__;
  VBPR_CHECK_NULL(loss);
  vbpr_status st = check_backward(loss, true, func);
  if (st != VBPR_OK) return st;
  REQUIRE(grad_user, "grad_user");
  REQUIRE(grad_pos, "grad_pos");
  REQUIRE(grad_neg, "grad_neg");
  if ((st = check_grad_output(grad_output, func))) return st;
  run_backward(loss, grad_output, threads_for(loss, loss->batch, loss->dim), NULL,
               NULL, grad_user, grad_pos, grad_neg);
  return VBPR_OK;
}

vbpr_status vbpr_loss_backward_scores(vbpr_loss *loss, float grad_output,
                                      float *grad_pos_scores, float *grad_neg_scores)
{
  const char *func = __func__;
  VBPR_CHECK_NULL(loss);
  vbpr_status st = check_backward(loss, false, func);
  if (st != VBPR_OK) return st;
  REQUIRE(grad_pos_scores, "grad_pos_scores");
  REQUIRE(grad_neg_scores, "grad_neg_scores");
  if ((st = check_grad_output(grad_output, func))) return st;
  run_backward(loss, grad_output, threads_for(loss, loss->batch, 0), grad_pos_scores,
               grad_neg_scores, NULL, NULL, NULL);
  return VBPR_OK;
}

vbpr_status vbpr_loss_forward_backward(vbpr_loss *loss, size_t batch, size_t dim,
                                       const float *user, const float *pos,
                                       const float *neg, const float *log_prior_pos,
                                       const float *log_prior_neg, float grad_output,
                                       float *loss_out, float *grad_user,
                                       float *grad_pos, float *grad_neg)
{
  const char *func = __func__;
  VBPR_CHECK_NULL(loss);
  loss->stored = VBPR__STORED_NONE;
  fwd_args a = {.batch = batch, .dim = dim, .user = user, .pos = pos, .neg = neg,
                .lpp = log_prior_pos, .lpn = log_prior_neg};
  double mean;
  int nt;
  vbpr_status st;
  if ((st = check_embed_args(&a, loss_out, func))) return st;
  REQUIRE(grad_user, "grad_user");
  REQUIRE(grad_pos, "grad_pos");
  REQUIRE(grad_neg, "grad_neg");
  if ((st = check_grad_output(grad_output, func)) ||
      (st = forward_common(loss, &a, &mean, &nt, func)))
    return st;
  run_backward(loss, grad_output, nt, NULL, NULL, grad_user, grad_pos, grad_neg);
  *loss_out = (float)mean;
  return VBPR_OK;
}

vbpr_status vbpr_loss_forward_backward_scores(vbpr_loss *loss, size_t batch,
                                              const float *pos_scores,
                                              const float *neg_scores,
                                              const float *log_prior_pos,
                                              const float *log_prior_neg,
                                              float grad_output, float *loss_out,
                                              float *grad_pos_scores,
                                              float *grad_neg_scores)
{
  const char *func = __func__;
  VBPR_CHECK_NULL(loss);
  loss->stored = VBPR__STORED_NONE;
  fwd_args a = {.batch = batch, .ps = pos_scores, .ns = neg_scores,
                .lpp = log_prior_pos, .lpn = log_prior_neg};
  double mean;
  int nt;
  vbpr_status st;
  if ((st = check_score_args(&a, loss_out, func))) return st;
  REQUIRE(grad_pos_scores, "grad_pos_scores");
  REQUIRE(grad_neg_scores, "grad_neg_scores");
  if ((st = check_grad_output(grad_output, func)) ||
      (st = forward_common(loss, &a, &mean, &nt, func)))
    return st;
  run_backward(loss, grad_output, nt, grad_pos_scores, grad_neg_scores, NULL, NULL,
               NULL);
  *loss_out = (float)mean;
  return VBPR_OK;
}

vbpr_status vbpr_loss_forward_backward_f64(vbpr_loss *loss, size_t batch, size_t dim,
                                           const double *user, const double *pos,
                                           const double *neg, const double *log_prior_pos,
                                           const double *log_prior_neg, double grad_output,
                                           double *loss_out, double *grad_user,
                                           double *grad_pos, double *grad_neg)
{
  const char *func = __func__;
  VBPR_CHECK_NULL(loss);
  loss->stored = VBPR__STORED_NONE;
  fwd_args a = {.batch = batch, .dim = dim, .f64 = true, .user_d = user, .pos_d = pos,
                .neg_d = neg, .lpp_d = log_prior_pos, .lpn_d = log_prior_neg};
  double mean;
  int nt;
  vbpr_status st;
  if ((st = check_embed_args(&a, loss_out, func))) return st;
  REQUIRE(grad_user, "grad_user");
  REQUIRE(grad_pos, "grad_pos");
  REQUIRE(grad_neg, "grad_neg");
  if ((st = check_grad_output(grad_output, func)) ||
      (st = forward_common(loss, &a, &mean, &nt, func)))
    return st;
  run_backward_d(loss, &a, grad_output, nt, NULL, NULL, grad_user, grad_pos, grad_neg);
  *loss_out = mean;
  return VBPR_OK;
}

vbpr_status vbpr_loss_forward_backward_scores_f64(vbpr_loss *loss, size_t batch,
                                                  const double *pos_scores,
                                                  const double *neg_scores,
                                                  const double *log_prior_pos,
                                                  const double *log_prior_neg,
                                                  double grad_output, double *loss_out,
                                                  double *grad_pos_scores,
                                                  double *grad_neg_scores)
{
  const char *func = __func__;
  VBPR_CHECK_NULL(loss);
  loss->stored = VBPR__STORED_NONE;
  fwd_args a = {.batch = batch, .f64 = true, .ps_d = pos_scores, .ns_d = neg_scores,
                .lpp_d = log_prior_pos, .lpn_d = log_prior_neg};
  double mean;
  int nt;
  vbpr_status st;
  if ((st = check_score_args(&a, loss_out, func))) return st;
  REQUIRE(grad_pos_scores, "grad_pos_scores");
  REQUIRE(grad_neg_scores, "grad_neg_scores");
  if ((st = check_grad_output(grad_output, func)) ||
      (st = forward_common(loss, &a, &mean, &nt, func)))
    return st;
  run_backward_d(loss, &a, grad_output, nt, grad_pos_scores, grad_neg_scores, NULL, NULL,
                 NULL);
  *loss_out = mean;
  return VBPR_OK;
}

/* ---- stored results ----------------------------------------------------- */

vbpr_status vbpr_loss_attention(const vbpr_loss *loss, float *alpha, float *beta)
{
  VBPR_CHECK_NULL(loss);
  if (alpha == NULL && beta == NULL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "alpha and beta must not both be NULL");
  vbpr_status st = check_stored(loss, false, __func__);
  if (st != VBPR_OK) return st;
  size_t nm = loss->batch * loss->cfg.M, nn = loss->batch * loss->cfg.N;
  for (size_t i = 0; alpha != NULL && i < nm; i++) alpha[i] = loss->alpha[i];
  for (size_t i = 0; beta != NULL && i < nn; i++) beta[i] = loss->beta[i];
  return VBPR_OK;
}

vbpr_status vbpr_loss_row_losses(const vbpr_loss *loss, float *row_loss)
{
  VBPR_CHECK_NULL(loss);
  VBPR_CHECK_NULL(row_loss);
  vbpr_status st = check_stored(loss, false, __func__);
  if (st != VBPR_OK) return st;
  for (size_t r = 0; r < loss->batch; r++) row_loss[r] = (float)loss->rows[r];
  return VBPR_OK;
}

vbpr_status vbpr_loss_batch_size(const vbpr_loss *loss, size_t *batch)
{
  VBPR_CHECK_NULL(loss);
  VBPR_CHECK_NULL(batch);
  vbpr_status st = check_stored(loss, false, __func__);
  if (st != VBPR_OK) return st;
  *batch = loss->batch;
  return VBPR_OK;
}
