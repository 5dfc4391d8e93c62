/* SGD, Adam (torch.optim.Adam's arithmetic), lazy Adam, row-wise Adagrad
 * and sparse Adam (the last two: optim_internal.h).
 *
 * Every step runs in two phases: first everything that can fail (argument
 * and size checks, finite gradients, state and workspace allocation), then
 * the update, which cannot fail. So a failed step changes nothing. */
#include <math.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/core.h"
#include "core/params.h"
#include "optim/optim_internal.h"
#include "optim/optim_state.h"
#include "vbpr/optim.h"

typedef struct opt_slot {
  size_t n;      /* elements; 0 while unused */
  float *m, *v;  /* Adam moments [n] */
  int64_t step;
  /* row-wise kinds (ADAGRAD, SPARSE_ADAM): the row width fixed by the first
   * step (n for vbpr_optim_step, which steps one row), Adagrad's
   * accumulator per row, sparse Adam's beta1^t, beta2^t per row */
  size_t width;
  float *acc;   /* [n / width] */
  double *pw;   /* [2 * n / width] */
} opt_slot;

struct vbpr_optim {
  vbpr_optim_kind kind;
  double lr, beta1, beta2, eps, wd;
  opt_slot *slots;
  int32_t n_slots;
  uint8_t *mark;    /* [mark_cap] row marks, all zero between calls */
  size_t mark_cap;
  int32_t *uniq;    /* de-duplicated row list */
  size_t uniq_cap;
};

/* One buffer to step: dense when rows == NULL. */
typedef struct plan {
  int32_t slot;
  float *param;
  const float *grad;
  size_t n, rows, dim;
  const int32_t *row_ids;
  size_t count;
  bool sparse;
} plan;

/* ---- parameter tables --------------------------------------------------- */

/* Every kind takes every parameter (SGD ignores the Adam ones); only the
 * default learning rate differs. */
#define OPTIM_SPECS(lr_default)                                                   \
  {                                                                               \
    [VBPR_OPTIM_LR] = {"lr", 0, 1e6, lr_default, 0, NULL},                        \
    [VBPR_OPTIM_BETA1] = {"beta1", 0, 1, 0.9, VBPR_PARAM_MAX_EXCLUSIVE, NULL},    \
    [VBPR_OPTIM_BETA2] = {"beta2", 0, 1, 0.999, VBPR_PARAM_MAX_EXCLUSIVE, NULL},  \
    [VBPR_OPTIM_EPS] = {"eps", 0, 1e6, 1e-8, VBPR_PARAM_MIN_EXCLUSIVE, NULL},     \
    [VBPR_OPTIM_WEIGHT_DECAY] = {"weight_decay", 0, 1e6, 0, 0, NULL},             \
  }

static const vbpr__param_spec adam_specs[] = OPTIM_SPECS(1e-3);
VBPR__DEFINE_PARAM_TABLE(adam_table, adam_specs, VBPR_OPTIM_WEIGHT_DECAY, "vbpr_optim_param");
static const vbpr__param_spec sgd_specs[] = OPTIM_SPECS(1e-2);
VBPR__DEFINE_PARAM_TABLE(sgd_table, sgd_specs, VBPR_OPTIM_WEIGHT_DECAY, "vbpr_optim_param");
static const vbpr__param_spec adagrad_specs[] = OPTIM_SPECS(5e-2);
VBPR__DEFINE_PARAM_TABLE(adagrad_table, adagrad_specs, VBPR_OPTIM_WEIGHT_DECAY,
                         "vbpr_optim_param");

static const vbpr__param_table *table_of(vbpr_optim_kind kind)
{
  switch (kind) {
  case VBPR_OPTIM_SGD: return &sgd_table;
  case VBPR_OPTIM_ADAM:
  case VBPR_OPTIM_LAZY_ADAM:
  case VBPR_OPTIM_SPARSE_ADAM: return &adam_table;
  case VBPR_OPTIM_ADAGRAD: return &adagrad_table;
  }
  return NULL;
}

static vbpr_status check_kind(vbpr_optim_kind kind, const char *func)
{
  if (table_of(kind) == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "kind must be VBPR_OPTIM_SGD (1), VBPR_OPTIM_ADAM (2), "
                       "VBPR_OPTIM_LAZY_ADAM (3), VBPR_OPTIM_ADAGRAD (4) or "
                       "VBPR_OPTIM_SPARSE_ADAM (5), got %d", (int)kind);
  return VBPR_OK;
}

vbpr_status vbpr_optim_param_bounds(vbpr_optim_kind kind, vbpr_optim_param p,
                                    vbpr_param_bounds *bounds)
{
  vbpr_status st = check_kind(kind, __func__);
  if (st != VBPR_OK) return st;
  return vbpr__param_bounds(table_of(kind), (int)p, bounds, __func__);
}

VBPR__PARAM_NAME_API(optim, vbpr_optim_param, adam_table)

/* ---- handle and parameters --------------------------------------------- */

static double *param_ptr(vbpr_optim *o, vbpr_optim_param p)
{
  switch (p) {
  case VBPR_OPTIM_LR: return &o->lr;
  case VBPR_OPTIM_BETA1: return &o->beta1;
  case VBPR_OPTIM_BETA2: return &o->beta2;
  case VBPR_OPTIM_EPS: return &o->eps;
  case VBPR_OPTIM_WEIGHT_DECAY: return &o->wd;
  }
  return NULL;
}

vbpr_status vbpr_optim_create(vbpr_optim_kind kind, vbpr_optim **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  vbpr_status st = check_kind(kind, __func__);
  if (st != VBPR_OK) return st;
  vbpr_optim *o = vbpr__calloc(1, sizeof *o);
  if (o == NULL) return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate an optimizer");
  o->kind = kind;
  const vbpr__param_table *t = table_of(kind);
  for (size_t p = 1; p < t->n; p++) *param_ptr(o, (vbpr_optim_param)p) = t->spec[p].def;
  *out = o;
  return VBPR_OK;
}

static void free_slots(vbpr_optim *o)
{
  for (int32_t i = 0; i < o->n_slots; i++) {
    vbpr__free(o->slots[i].m);
    vbpr__free(o->slots[i].v);
    vbpr__free(o->slots[i].acc);
    vbpr__free(o->slots[i].pw);
  }
  vbpr__free(o->slots);
  o->slots = NULL;
  o->n_slots = 0;
}

void vbpr_optim_destroy(vbpr_optim *opt)
{
  if (opt == NULL) return;
  free_slots(opt);
  vbpr__free(opt->mark);
  vbpr__free(opt->uniq);
  vbpr__free(opt);
}

vbpr_optim_kind vbpr_optim_get_kind(const vbpr_optim *opt)
{
  return opt ? opt->kind : (vbpr_optim_kind)0;
}

vbpr_status vbpr_optim_reset(vbpr_optim *opt)
{
  VBPR_CHECK_NULL(opt);
  free_slots(opt);
  return VBPR_OK;
}

vbpr_status vbpr_optim_set(vbpr_optim *opt, vbpr_optim_param param, double value)
{
  VBPR_CHECK_NULL(opt);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(table_of(opt->kind), (int)param, &spec, __func__);
  if (st == VBPR_OK) st = vbpr__param_check(spec, value, __func__);
  if (st != VBPR_OK) return st;
  *param_ptr(opt, param) = value;
  return VBPR_OK;
}

vbpr_status vbpr_optim_get(const vbpr_optim *opt, vbpr_optim_param param, double *value)
{
  VBPR_CHECK_NULL(opt);
  VBPR_CHECK_NULL(value);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(table_of(opt->kind), (int)param, &spec, __func__);
  if (st != VBPR_OK) return st;
  *value = *param_ptr((vbpr_optim *)opt, param);
  return VBPR_OK;
}

static vbpr_status check_slot(int32_t slot, const char *func)
{
  if (slot < 0 || slot >= VBPR_OPTIM_MAX_SLOTS)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "slot must be in [0, %d), got %d",
                       VBPR_OPTIM_MAX_SLOTS, (int)slot);
  return VBPR_OK;
}

vbpr_status vbpr_optim_slot_steps(const vbpr_optim *opt, int32_t slot, int64_t *steps)
{
  VBPR_CHECK_NULL(opt);
  VBPR_CHECK_NULL(steps);
  vbpr_status st = check_slot(slot, __func__);
  if (st != VBPR_OK) return st;
  *steps = slot < opt->n_slots ? opt->slots[slot].step : 0;
  return VBPR_OK;
}

/* ---- phase 1: checks and allocation ------------------------------------ */

static vbpr_status check_finite(const float *g, size_t n, size_t offset, int32_t slot,
                                const char *func)
{
  size_t i = vbpr__find_nonfinite(g, n);
  if (VBPR_LIKELY(i == n)) return VBPR_OK;
  return vbpr__error(VBPR_ERR_NUMERIC, func,
                     "slot %d: grad[%zu] = %g is not finite; nothing was updated",
                     (int)slot, offset + i, (double)g[i]);
}

static vbpr_status check_plan(const plan *p, const char *func)
{
  vbpr_status st = check_slot(p->slot, func);
  if (st != VBPR_OK) return st;
  if (p->n == 0)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "the buffer must have >= 1 element, got %zu rows x %zu", p->rows, p->dim);
  if (!p->sparse) return check_finite(p->grad, p->n, 0, p->slot, func);
  for (size_t i = 0; i < p->count; i++)
    if (p->row_ids[i] < 0 || (size_t)p->row_ids[i] >= p->rows)
      return vbpr__error(VBPR_ERR_OUT_OF_RANGE, func,
                         "row_ids[%zu] = %d is out of range [0, %zu)", i,
                         (int)p->row_ids[i], p->rows);
  for (size_t i = 0; i < p->count; i++) {
    size_t r = (size_t)p->row_ids[i];
    st = check_finite(p->grad + r * p->dim, p->dim, r * p->dim, p->slot, func);
    if (st != VBPR_OK) return st;
  }
  return VBPR_OK;
}

static vbpr_status grow_slots(vbpr_optim *o, int32_t need, const char *func)
{
  if (need <= o->n_slots) return VBPR_OK;
  opt_slot *s = vbpr__realloc_array(o->slots, (size_t)need, sizeof *s);
  if (s == NULL) return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot grow optimizer slots");
  memset(s + o->n_slots, 0, (size_t)(need - o->n_slots) * sizeof *s);
  o->slots = s;
  o->n_slots = need;
  return VBPR_OK;
}

/* The row width of a plan for the row-wise kinds: a table's rows, or the
 * whole buffer of a dense step as one row. */
static size_t plan_width(const plan *p) { return p->sparse ? p->dim : p->n; }

/* Allocates the row-wise state of a slot of n elements in rows of width:
 * zero accumulators, powers 1. */
static vbpr_status alloc_row_state(const vbpr_optim *o, opt_slot *s, size_t n, size_t width,
                                   const char *func)
{
  size_t rows = n / width;
  if (o->kind == VBPR_OPTIM_ADAGRAD) {
    s->acc = vbpr__aligned_array(rows, sizeof(float));
    if (s->acc == NULL)
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                         "cannot allocate Adagrad accumulators for %zu rows", rows);
    memset(s->acc, 0, rows * sizeof(float));
  } else if (o->kind == VBPR_OPTIM_SPARSE_ADAM) {
    s->pw = vbpr__malloc_array(rows, 2 * sizeof(double));
    if (s->pw == NULL)
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                         "cannot allocate sparse Adam step powers for %zu rows", rows);
    for (size_t i = 0; i < 2 * rows; i++) s->pw[i] = 1.0;
  }
  s->width = width;
  return VBPR_OK;
}

/* Sizes the slot on first use, or checks it matches. */
static vbpr_status prepare_slot(vbpr_optim *o, const plan *p, const char *func)
{
  vbpr_status st = grow_slots(o, p->slot + 1, func);
  if (st != VBPR_OK) return st;
  opt_slot *s = &o->slots[p->slot];
  if (s->n != 0 && s->n != p->n)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "slot %d holds state for %zu elements, got a buffer of %zu "
                       "(use another slot or vbpr_optim_reset)",
                       (int)p->slot, s->n, p->n);
  bool row_state = o->kind == VBPR_OPTIM_ADAGRAD || o->kind == VBPR_OPTIM_SPARSE_ADAM;
  if (row_state && s->n != 0 && s->width != plan_width(p))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "slot %d holds row-wise state for rows of %zu elements, got rows "
                       "of %zu (use another slot or vbpr_optim_reset)",
                       (int)p->slot, s->width, plan_width(p));
  if (s->n == 0 && row_state) {
    st = alloc_row_state(o, s, p->n, plan_width(p), func);
    if (st != VBPR_OK) return st;
  }
  bool moments = o->kind == VBPR_OPTIM_ADAM || o->kind == VBPR_OPTIM_LAZY_ADAM ||
                 o->kind == VBPR_OPTIM_SPARSE_ADAM;
  if (s->n == 0 && moments) {
    float *m = vbpr__aligned_array(p->n, sizeof(float));
    float *v = vbpr__aligned_array(p->n, sizeof(float));
    if (m == NULL || v == NULL) {
      vbpr__free(m);
      vbpr__free(v);
      vbpr__free(s->acc), vbpr__free(s->pw);
      s->acc = NULL, s->pw = NULL;
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                         "cannot allocate Adam moments for %zu elements", p->n);
    }
    memset(m, 0, p->n * sizeof(float));
    memset(v, 0, p->n * sizeof(float));
    s->m = m;
    s->v = v;
  }
  s->n = p->n;
  return VBPR_OK;
}

static vbpr_status prepare_workspace(vbpr_optim *o, const plan *p, const char *func)
{
  if (!p->sparse) return VBPR_OK;
  size_t old = o->mark_cap;
  vbpr_status st = vbpr__reserve((void **)&o->mark, &o->mark_cap, p->rows, 1, func);
  if (st != VBPR_OK) return st;
  if (o->mark_cap != old) memset(o->mark, 0, o->mark_cap);
  return vbpr__reserve((void **)&o->uniq, &o->uniq_cap, p->count, sizeof(int32_t), func);
}

/* ---- phase 2: updates -------------------------------------------------- */

typedef struct coeffs {
  float lr, wd;                  /* SGD */
  float step_size, w1, b2, omb2, bc2_sqrt, eps; /* Adam */
} coeffs;

static coeffs coeffs_for(const vbpr_optim *o, int64_t step)
{
  /* torch computes these scalars in double, then the tensor ops in float. */
  double bc1 = 1.0 - pow(o->beta1, (double)step);
  double bc2 = 1.0 - pow(o->beta2, (double)step);
  coeffs c = {(float)o->lr, (float)o->wd, (float)(o->lr / bc1), (float)(1.0 - o->beta1),
              (float)o->beta2, (float)(1.0 - o->beta2), (float)sqrt(bc2), (float)o->eps};
  return c;
}

/* One Adam update of n elements; g == NULL means a zero gradient. The
 * moment update is torch.lerp(m, g, w), whose formula depends on |w| < 0.5:
 * `small` selects it once per span rather than per element.
 *
 * A plain loop: with -fno-math-errno (set for the library) sqrtf
 * vectorises, and the AVX2 clone runs 8 lanes. Every operation is the
 * IEEE-rounded scalar one in the same order (ISO C mode: no contraction),
 * so each clone, and any split across threads, gives identical bits. */
static inline void adam_kernel(const coeffs *c, float *restrict p, float *restrict m,
                               float *restrict v, const float *restrict g, size_t n,
                               bool small, bool has_grad)
{
  const float wd = c->wd, w = c->w1, b2 = c->b2, omb2 = c->omb2;
  const float bc2 = c->bc2_sqrt, eps = c->eps, step = -c->step_size, omw = 1.0f - w;
  for (size_t i = 0; i < n; i++) {
    float gi = (has_grad ? g[i] : 0.0f) + wd * p[i];
    float mi = small ? m[i] + w * (gi - m[i]) : gi - (gi - m[i]) * omw;
    float vi = v[i] * b2 + omb2 * gi * gi;
    float den = sqrtf(vi) / bc2 + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] += step * (mi / den);
  }
}

/* Not under ThreadSanitizer: gcc instruments the ifunc resolvers, which run
 * during relocation, before the TSan runtime exists. */
#if defined(__has_attribute) && !defined(__SANITIZE_THREAD__)
#  if __has_attribute(target_clones) && defined(__x86_64__) && defined(__linux__)
#    define VBPR_OPTIM_CLONES __attribute__((target_clones("avx2", "default")))
#  endif
#endif
#ifndef VBPR_OPTIM_CLONES
#  define VBPR_OPTIM_CLONES
#endif

VBPR_OPTIM_CLONES
static void adam_span(const coeffs *c, float *p, float *m, float *v, const float *g, size_t n)
{
  bool small = fabsf(c->w1) < 0.5f;
  if (small && g) adam_kernel(c, p, m, v, g, n, true, true);
  else if (small) adam_kernel(c, p, m, v, g, n, true, false);
  else if (g) adam_kernel(c, p, m, v, g, n, false, true);
  else adam_kernel(c, p, m, v, g, n, false, false);
}

static void sgd_span(const coeffs *c, float *restrict p, const float *restrict g, size_t n)
{
  const float lr = -c->lr, wd = c->wd;
  if (g)
    for (size_t i = 0; i < n; i++) p[i] += lr * (g[i] + wd * p[i]);
  else
    for (size_t i = 0; i < n; i++) p[i] += lr * (0.0f + wd * p[i]);
}

typedef struct run_ctx {
  const vbpr_optim *o;
  const plan *p;
  opt_slot *s;
  coeffs c;
  size_t unit;         /* elements per index of the parallel loop */
  const int32_t *rows; /* lazy: the unique rows; else NULL */
  bool row_wise;       /* ADAGRAD, SPARSE_ADAM: whole rows through ro */
  vbpr__row_opt ro;
} run_ctx;

/* The row-wise view of a slot's state and the optimizer's parameters. */
static vbpr__row_opt row_opt_of(const vbpr_optim *o, const opt_slot *s)
{
  vbpr__row_opt ro = {o->kind, s->width, o->lr, (float)o->wd, (float)o->eps, o->beta1,
                      o->beta2, (float)(1.0 - o->beta1), (float)o->beta2,
                      (float)(1.0 - o->beta2), s->m, s->v, s->acc, s->pw};
  return ro;
}

static void span(const run_ctx *r, size_t off, const float *g, size_t len)
{
  if (r->row_wise) /* len is one row: the lazy path of a row-wise kind */
    vbpr__row_update(&r->ro, off / r->ro.width, r->p->param + off, 1.0f, g);
  else if (r->o->kind == VBPR_OPTIM_SGD)
    sgd_span(&r->c, r->p->param + off, g, len);
  else
    adam_span(&r->c, r->p->param + off, r->s->m + off, r->s->v + off, g, len);
}

/* Rows of a lazy step are scattered: fetching a few rows ahead hides the
 * memory latency that otherwise dominates (the arithmetic is vectorised). */
enum { PREFETCH_AHEAD = 4 };

static void prefetch_row(const run_ctx *r, size_t off)
{
#if defined(__GNUC__) || defined(__clang__)
  size_t bytes = r->p->dim * sizeof(float);
  for (size_t b = 0; b < bytes; b += 64) {
    const char *pp = (const char *)(r->p->param + off) + b;
    const char *gg = (const char *)(r->p->grad + off) + b;
    __builtin_prefetch(pp, 1);
    __builtin_prefetch(gg, 0);
    if (r->s->m) {
      __builtin_prefetch((const char *)(r->s->m + off) + b, 1);
      __builtin_prefetch((const char *)(r->s->v + off) + b, 1);
    }
  }
#else
  (void)r, (void)off;
#endif
}

static void run_range(void *vctx, size_t begin, size_t end, int tid)
{
  (void)tid;
  const run_ctx *r = vctx;
  const plan *p = r->p;
  if (!p->sparse) { /* dense: indices are elements */
    span(r, begin, p->grad + begin, end - begin);
  } else if (r->rows != NULL) { /* lazy: indices into the unique rows */
    for (size_t i = begin; i < end; i++) {
      if (i + PREFETCH_AHEAD < end) prefetch_row(r, (size_t)r->rows[i + PREFETCH_AHEAD] * p->dim);
      size_t off = (size_t)r->rows[i] * p->dim;
      span(r, off, p->grad + off, p->dim);
    }
  } else { /* dense update of a row-sparse gradient: indices are rows */
    for (size_t row = begin; row < end; row++) {
      size_t off = row * p->dim;
      span(r, off, r->o->mark[row] ? p->grad + off : NULL, p->dim);
    }
  }
}

/* Marks the listed rows, collects each once into o->uniq; returns count. */
static size_t mark_rows(vbpr_optim *o, const plan *p)
{
  size_t k = 0;
  for (size_t i = 0; i < p->count; i++) {
    int32_t row = p->row_ids[i];
    if (!o->mark[row]) {
      o->mark[row] = 1;
      o->uniq[k++] = row;
    }
  }
  return k;
}

static void apply_plan(vbpr_optim *o, const plan *p)
{
  opt_slot *s = &o->slots[p->slot];
  s->step++;
  run_ctx r = {o, p, s, coeffs_for(o, s->step), 1, NULL, false, row_opt_of(o, s)};
  r.row_wise = o->kind == VBPR_OPTIM_ADAGRAD || o->kind == VBPR_OPTIM_SPARSE_ADAM;
  if (r.row_wise && !p->sparse) { /* a dense buffer is one row */
    vbpr__row_update(&r.ro, 0, p->param, 1.0f, p->grad);
    return;
  }
  size_t n_idx = p->n;
  size_t k = 0;
  if (p->sparse) {
    k = mark_rows(o, p);
    r.unit = p->dim;
    /* the row-wise kinds update only the rows listed, as lazy Adam */
    bool lazy = o->kind == VBPR_OPTIM_LAZY_ADAM || r.row_wise ||
                (o->kind == VBPR_OPTIM_SGD && o->wd == 0.0);
    if (lazy) { /* SGD without decay leaves zero-gradient rows as they are */
      r.rows = o->uniq;
      n_idx = k;
    } else {
      n_idx = p->rows;
    }
  }
  /* Handing a span to a pool worker costs about a microsecond (tens when
   * it must be woken): worth it for spans of 2^14 elements (15-30 us). */
  int nt = vbpr__threads_for(n_idx * r.unit, 1 << 14);
  vbpr__parallel_for(n_idx, nt, run_range, &r);
  for (size_t i = 0; i < k; i++) o->mark[o->uniq[i]] = 0;
}

/* Checks and prepares every plan, then applies them all. */
static vbpr_status run_plans(vbpr_optim *o, const plan *plans, int n, const char *func)
{
  for (int i = 0; i < n; i++) {
    vbpr_status st = check_plan(&plans[i], func);
    if (st != VBPR_OK) return st;
  }
  for (int i = 0; i < n; i++) {
    vbpr_status st = prepare_slot(o, &plans[i], func);
    if (st == VBPR_OK) st = prepare_workspace(o, &plans[i], func);
    if (st != VBPR_OK) return st;
  }
  for (int i = 0; i < n; i++) apply_plan(o, &plans[i]);
  return VBPR_OK;
}

/* ---- public steps ------------------------------------------------------ */

vbpr_status vbpr_optim_step(vbpr_optim *opt, int32_t slot, size_t n, float *param,
                            const float *grad)
{
  VBPR_CHECK_NULL(opt);
  VBPR_CHECK_NULL(param);
  VBPR_CHECK_NULL(grad);
  if (n == 0) return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "n must be >= 1, got 0");
  plan p = {slot, param, grad, n, n, 1, NULL, 0, false};
  return run_plans(opt, &p, 1, __func__);
}

vbpr_status vbpr_optim_step_rows(vbpr_optim *opt, int32_t slot, size_t rows, size_t dim,
                                 float *param, const float *grad, size_t count,
                                 const int32_t *row_ids)
{
  VBPR_CHECK_NULL(opt);
  VBPR_CHECK_NULL(param);
  VBPR_CHECK_NULL(grad);
  if (count > 0) VBPR_CHECK_NULL(row_ids);
  size_t n, bytes;
  if (rows == 0 || dim == 0 || rows > INT32_MAX || !vbpr__mul_ok(rows, dim, &n) ||
      !vbpr__mul_ok(n, sizeof(float), &bytes))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "rows and dim must be >= 1, rows <= 2^31-1 and rows * dim must not "
                     "overflow, got %zu x %zu", rows, dim);
  plan p = {slot, param, grad, n, rows, dim, row_ids, count, true};
  return run_plans(opt, &p, 1, __func__);
}

vbpr_status vbpr_optim_step_encoder(vbpr_optim *opt, vbpr_encoder *enc)
{
  VBPR_CHECK_NULL(opt);
  VBPR_CHECK_NULL(enc);
  plan plans[VBPR_ENCODER_NUM_TABLES];
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    float *param;
    const float *grad;
    size_t rows, dim;
    vbpr_status st = vbpr_encoder_table(enc, (vbpr_table)t, &param, &grad, &rows, &dim);
    if (st != VBPR_OK) return st;
    plan *p = &plans[t];
    *p = (plan){t, param, grad, (size_t)rows * (size_t)dim, (size_t)rows, (size_t)dim,
                NULL, 0, false};
    /* The gradient is zero outside the touched rows: every kind steps them
     * as a row-sparse gradient, which for SGD and Adam is exactly the dense
     * step, but reads (and checks) only the rows that hold a gradient. */
    size_t count;
    st = vbpr_encoder_touched_rows(enc, (vbpr_table)t, &p->row_ids, &count);
    if (st != VBPR_OK) return st;
    p->count = (size_t)count;
    p->sparse = true;
  }
  return run_plans(opt, plans, VBPR_ENCODER_NUM_TABLES, __func__);
}

/* ---- row-wise steps of the fused path (optim_internal.h) ----------------- */

vbpr_status vbpr__optim_rows_begin(vbpr_optim *opt, int32_t slot, size_t rows, size_t width,
                                   vbpr__row_opt *ro, const char *func)
{
  if (!vbpr__optim_row_wise(opt->kind))
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "updating rows in place needs a row-wise optimizer: "
                       "VBPR_OPTIM_SGD, VBPR_OPTIM_ADAGRAD or VBPR_OPTIM_SPARSE_ADAM, "
                       "got kind %d", (int)opt->kind);
  vbpr_status st = check_slot(slot, func);
  if (st != VBPR_OK) return st;
  plan p = {slot, NULL, NULL, rows * width, rows, width, NULL, 0, true};
  if ((st = prepare_slot(opt, &p, func))) return st;
  *ro = row_opt_of(opt, &opt->slots[slot]);
  ro->width = width; /* SGD keeps no row state, hence no width of its own */
  return VBPR_OK;
}

void vbpr__optim_count_step(vbpr_optim *opt, int32_t slot) { opt->slots[slot].step++; }

/* ---- checkpoint (optim_state.h) ---------------------------------------- */

/* The row-wise kinds' state: the row width, then Adagrad's accumulator or
 * sparse Adam's step powers per row when the slot has them. */
static void put_row_state(vbpr__ckpt_writer *w, const opt_slot *s)
{
  size_t rows = s->width != 0 ? s->n / s->width : 0;
  vbpr__ckpt_put_u64(w, s->width);
  vbpr__ckpt_put_u32(w, (s->acc != NULL) | (uint32_t)(s->pw != NULL) << 1);
  if (s->acc != NULL) vbpr__ckpt_put_floats(w, rows, s->acc);
  if (s->pw != NULL)
    for (size_t i = 0; i < 2 * rows; i++) vbpr__ckpt_put_f64(w, s->pw[i]);
}

static vbpr_status get_row_state(vbpr__ckpt_reader *r, opt_slot *s)
{
  uint64_t width = vbpr__ckpt_get_u64(r);
  uint32_t has = vbpr__ckpt_get_u32(r);
  if (r->st != VBPR_OK) return r->st;
  if (has > 3 || (has != 0 && (width == 0 || s->n % width != 0)))
    return vbpr__ckpt_bad(r, "malformed row-wise optimizer state");
  s->width = (size_t)width;
  size_t rows = has != 0 ? s->n / s->width : 0;
  if (rows > SIZE_MAX / 2 || ((has & 1) && !vbpr__ckpt_has(r, rows, 4)))
    return vbpr__ckpt_bad(r, "malformed row-wise optimizer state");
  if ((has & 2) && !vbpr__ckpt_has(r, 2 * rows, 8))
    return vbpr__ckpt_bad(r, "malformed row-wise optimizer state");
  if (has & 1) s->acc = vbpr__aligned_array(rows, sizeof(float));
  if (has & 2) s->pw = vbpr__malloc_array(rows, 2 * sizeof(double));
  if (((has & 1) && s->acc == NULL) || ((has & 2) && s->pw == NULL))
    return r->st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, r->func,
                               "cannot allocate row-wise optimizer state for %zu rows", rows);
  if (has & 1) vbpr__ckpt_get_floats(r, rows, s->acc);
  for (size_t i = 0; (has & 2) && i < 2 * rows; i++) s->pw[i] = vbpr__ckpt_get_f64(r);
  return r->st;
}

void vbpr__optim_state_write(const void *obj, vbpr__ckpt_writer *w)
{
  const vbpr_optim *o = obj;
  const vbpr__param_table *t = table_of(o->kind);
  uint32_t n = 0;
  for (size_t p = 1; p < t->n; p++) n += t->spec[p].name != NULL;
  vbpr__ckpt_put_u32(w, (uint32_t)o->kind);
  vbpr__ckpt_put_u32(w, n);
  for (size_t p = 1; p < t->n; p++) {
    if (t->spec[p].name == NULL) continue;
    vbpr__ckpt_put_u32(w, (uint32_t)p);
    vbpr__ckpt_put_f64(w, *param_ptr((vbpr_optim *)o, (vbpr_optim_param)p));
  }
  vbpr__ckpt_put_u32(w, (uint32_t)o->n_slots);
  for (int32_t i = 0; i < o->n_slots; i++) {
    const opt_slot *s = &o->slots[i];
    vbpr__ckpt_put_u64(w, s->n);
    vbpr__ckpt_put_u64(w, (uint64_t)s->step);
    vbpr__ckpt_put_u32(w, s->m != NULL);
    if (s->m != NULL) {
      vbpr__ckpt_put_floats(w, s->n, s->m);
      vbpr__ckpt_put_floats(w, s->n, s->v);
    }
    put_row_state(w, s);
  }
}

/* A used slot holds what its kind's steps read (they do not check). */
static bool slot_complete(vbpr_optim_kind kind, const opt_slot *s)
{
  if (s->n == 0) return s->m == NULL && s->acc == NULL && s->pw == NULL;
  bool moments = kind == VBPR_OPTIM_ADAM || kind == VBPR_OPTIM_LAZY_ADAM ||
                 kind == VBPR_OPTIM_SPARSE_ADAM;
  if (moments != (s->m != NULL)) return false;
  if (kind == VBPR_OPTIM_ADAGRAD) return s->acc != NULL && s->pw == NULL;
  if (kind == VBPR_OPTIM_SPARSE_ADAM) return s->pw != NULL && s->acc == NULL;
  return s->acc == NULL && s->pw == NULL;
}

/* One slot's state from the file into s (allocated here). */
static vbpr_status read_slot(vbpr__ckpt_reader *r, opt_slot *s)
{
  uint64_t n = vbpr__ckpt_get_u64(r), step = vbpr__ckpt_get_u64(r);
  uint32_t moments = vbpr__ckpt_get_u32(r);
  if (r->st != VBPR_OK) return r->st;
  if (step > INT64_MAX || moments > 1 || (moments && !vbpr__ckpt_has(r, 2 * n, 4)))
    return vbpr__ckpt_bad(r, "malformed optimizer slot");
  s->n = (size_t)n;
  s->step = (int64_t)step;
  if (moments) {
    s->m = vbpr__aligned_array(s->n, sizeof(float));
    s->v = vbpr__aligned_array(s->n, sizeof(float));
    if (s->m == NULL || s->v == NULL)
      return r->st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, r->func,
                                 "cannot allocate optimizer moments of %zu elements", s->n);
    vbpr__ckpt_get_floats(r, s->n, s->m);
    vbpr__ckpt_get_floats(r, s->n, s->v);
  }
  return r->st != VBPR_OK ? r->st : get_row_state(r, s);
}

static vbpr_status set_param(void *opt, uint32_t p, double v)
{
  return vbpr_optim_set(opt, (vbpr_optim_param)p, v);
}

vbpr_status vbpr__optim_state_read(vbpr_optim *o, vbpr__ckpt_reader *r)
{
  uint32_t kind = vbpr__ckpt_get_u32(r);
  if (r->st == VBPR_OK && kind != (uint32_t)o->kind)
    return vbpr__ckpt_bad(r, "optimizer kind %u, the trainer's is %d", (unsigned)kind,
                          (int)o->kind);
  if (vbpr__ckpt_get_params(r, o, set_param, "optimizer") != VBPR_OK) return r->st;
  uint32_t slots = vbpr__ckpt_get_u32(r);
  if (r->st == VBPR_OK && slots > VBPR_OPTIM_MAX_SLOTS)
    return vbpr__ckpt_bad(r, "%u optimizer slots", (unsigned)slots);
  if (r->st != VBPR_OK) return r->st;
  free_slots(o);
  if (grow_slots(o, (int32_t)slots, r->func) != VBPR_OK)
    return r->st = VBPR_ERR_OUT_OF_MEMORY;
  for (uint32_t i = 0; i < slots && r->st == VBPR_OK; i++) {
    opt_slot *s = &o->slots[i];
    if (read_slot(r, s) == VBPR_OK && !slot_complete(o->kind, s))
      return vbpr__ckpt_bad(r, "optimizer slot %u lacks the state of its kind", (unsigned)i);
  }
  return vbpr__ckpt_done(r);
}
