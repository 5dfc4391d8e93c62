/* The part of every encoder that does not depend on its kind: sizes,
 * parameter and gradient tables, initialisation, validation of ids, sizes
 * and gradients, the forward gather from the kind's node embeddings, the
 * recorded batch, and the getters. Everything kind-specific goes through
 * enc->ops (encoder_impl.h); this file never tests the kind. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "encoder/encoder_impl.h"

/* ---- construction ------------------------------------------------------ */

vbpr_status vbpr__encoder_check_sizes(size_t num_users, size_t num_items, size_t dim,
                                      const char *func)
{
  if (num_users < 1)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "num_users must be >= 1, got 0");
  if (num_items < 1)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "num_items must be >= 1, got 0");
  if (dim < 1 || dim > VBPR_ENCODER_MAX_DIM)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "dim must be in [1, %d], got %zu", VBPR_ENCODER_MAX_DIM, dim);
  /* Node ids of the joint graph are int32. */
  if (num_users > (size_t)INT32_MAX || num_items > (size_t)INT32_MAX - num_users)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "num_users + num_items must be < 2^31, got %zu + %zu", num_users,
                       num_items);
  return VBPR_OK;
}

typedef struct fill_ctx {
  vbpr_encoder *enc;
  vbpr_init init;
  double scale;
  uint64_t seed;
} fill_ctx;

static void fill_rows(void *vctx, size_t begin, size_t end, int tid)
{
  (void)tid;
  fill_ctx *c = vctx;
  vbpr_encoder *e = c->enc;
  size_t dim = (size_t)e->dim;
  for (size_t node = begin; node < end; node++) {
    int is_item = node >= (size_t)e->num_users;
    size_t row = is_item ? node - (size_t)e->num_users : node;
    double std = c->scale;
    if (c->init == VBPR_INIT_XAVIER_NORMAL) {
      double rows = is_item ? e->num_items : e->num_users;
      std = c->scale * sqrt(2.0 / (rows + (double)dim));
    }
    vbpr__rng r;
    vbpr__rng_init(&r, c->seed, (uint64_t)is_item, (uint64_t)row);
    float *p = e->param + node * dim;
    for (size_t j = 0; j < dim; j++) p[j] = (float)(std * vbpr__rng_normal(&r));
  }
}

static void fill(vbpr_encoder *enc, vbpr_init init, double scale, uint64_t seed)
{
  fill_ctx c = {enc, init, scale, seed};
  vbpr__parallel_for(enc->n_nodes, vbpr__threads_for(enc->n_elems, 1 << 16),
                     fill_rows, &c);
}

vbpr_status vbpr__encoder_alloc(const vbpr__encoder_ops *ops, int32_t num_users,
                                int32_t num_items, int32_t dim, int32_t num_layers,
                                vbpr_init init, double scale, uint64_t seed,
                                vbpr_encoder **out, const char *func)
{
  vbpr_encoder *e = vbpr__calloc(1, sizeof *e);
  if (e == NULL) goto oom;
  e->ops = ops;
  e->num_users = num_users;
  e->num_items = num_items;
  e->dim = dim;
  e->num_layers = num_layers;
  const vbpr__param_table *t = ops->info->params;
  for (size_t p = 1; t != NULL && p < t->n && p < VBPR__ENCODER_NPARAMS; p++)
    if (t->spec[p].name != NULL) e->params[p] = t->spec[p].def;
  e->n_nodes = (size_t)num_users + (size_t)num_items;
  if (!vbpr__mul_ok(e->n_nodes, (size_t)dim, &e->n_elems)) goto oom;
  e->param = vbpr__aligned_array(e->n_elems, sizeof(float));
  e->grad = vbpr__aligned_array(e->n_elems, sizeof(float));
  if (e->param == NULL || e->grad == NULL) goto oom;
  memset(e->grad, 0, e->n_elems * sizeof(float));
  fill(e, init, scale, seed);
  *out = e;
  return VBPR_OK;
oom:
  vbpr_encoder_destroy(e);
  return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                     "cannot allocate an encoder of %d users, %d items, dim %d",
                     (int)num_users, (int)num_items, (int)dim);
}

void vbpr_encoder_destroy(vbpr_encoder *enc)
{
  if (enc == NULL) return;
  if (enc->state != NULL) enc->ops->free_state(enc->state);
  vbpr__free(enc->param);
  vbpr__free(enc->grad);
  vbpr__free(enc->ids);
  vbpr__free(enc);
}

/* ---- getters ----------------------------------------------------------- */

vbpr_encoder_kind vbpr_encoder_get_kind(const vbpr_encoder *enc)
{
  return enc ? enc->ops->info->kind : (vbpr_encoder_kind)0;
}

size_t vbpr_encoder_num_users(const vbpr_encoder *enc)
{
  return enc ? (size_t)enc->num_users : 0;
}
size_t vbpr_encoder_num_items(const vbpr_encoder *enc)
{
  return enc ? (size_t)enc->num_items : 0;
}
size_t vbpr_encoder_dim(const vbpr_encoder *enc) { return enc ? (size_t)enc->dim : 0; }
size_t vbpr_encoder_num_layers(const vbpr_encoder *enc)
{
  return enc ? (size_t)enc->num_layers : 0;
}

vbpr_status vbpr_encoder_init_params(vbpr_encoder *enc, vbpr_init init, double scale,
                                     uint64_t seed)
{
  VBPR_CHECK_NULL(enc);
  if (init != VBPR_INIT_NORMAL && init != VBPR_INIT_XAVIER_NORMAL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "init must be VBPR_INIT_NORMAL (1) or VBPR_INIT_XAVIER_NORMAL (2), got %d",
                     (int)init);
  if (!(scale > 0.0 && scale <= 1000.0)) /* also rejects NaN */
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "scale must be in (0, 1000], got %g",
                     scale);
  fill(enc, init, scale, seed);
  return VBPR_OK;
}

static vbpr_status check_table(vbpr_table table, const char *func)
{
  if (table != VBPR_TABLE_USERS && table != VBPR_TABLE_ITEMS)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "table must be VBPR_TABLE_USERS (0) or VBPR_TABLE_ITEMS (1), got %d",
                       (int)table);
  return VBPR_OK;
}

vbpr_status vbpr_encoder_table(vbpr_encoder *enc, vbpr_table table, float **param,
                               const float **grad, size_t *rows, size_t *dim)
{
  VBPR_CHECK_NULL(enc);
  vbpr_status st = check_table(table, __func__);
  if (st != VBPR_OK) return st;
  size_t off = table == VBPR_TABLE_USERS ? 0 : (size_t)enc->num_users * (size_t)enc->dim;
  if (param) *param = enc->param + off;
  if (grad) *grad = enc->grad + off;
  if (rows) *rows = (size_t)(table == VBPR_TABLE_USERS ? enc->num_users : enc->num_items);
  if (dim) *dim = (size_t)enc->dim;
  return VBPR_OK;
}

vbpr_status vbpr_encoder_touched_rows(const vbpr_encoder *enc, vbpr_table table,
                                      const int32_t **rows, size_t *count)
{
  VBPR_CHECK_NULL(enc);
  VBPR_CHECK_NULL(rows);
  VBPR_CHECK_NULL(count);
  vbpr_status st = check_table(table, __func__);
  if (st != VBPR_OK) return st;
  int32_t n = 0;
  enc->ops->touched_rows(enc, table, rows, &n);
  *count = (size_t)n;
  return VBPR_OK;
}

vbpr_status vbpr_encoder_embeddings(vbpr_encoder *enc, const float **users,
                                    const float **items)
{
  VBPR_CHECK_NULL(enc);
  const float *src = NULL;
  vbpr_status st = enc->ops->source(enc, VBPR__SOURCE_EVAL, &src, __func__);
  if (st != VBPR_OK) return st;
  if (users) *users = src;
  if (items) *items = src + (size_t)enc->num_users * (size_t)enc->dim;
  return VBPR_OK;
}

/* ---- forward ----------------------------------------------------------- */

static vbpr_status check_ids(const int32_t *ids, size_t count, int32_t limit,
                             const char *name, const char *func)
{
  for (size_t i = 0; i < count; i++)
    if (VBPR_UNLIKELY(ids[i] < 0 || ids[i] >= limit))
      return vbpr__error(VBPR_ERR_OUT_OF_RANGE, func,
                         "%s[%zu] = %d is out of range [0, %d)", name, i,
                         (int)ids[i], (int)limit);
  return VBPR_OK;
}

/* Element counts of one batch, checked against overflow. */
typedef struct batch_sizes {
  size_t n_pos, n_neg, n_ids;    /* ids */
  size_t e_user, e_pos, e_neg;   /* floats */
} batch_sizes;

static vbpr_status batch_size_of(const vbpr_encoder *enc, size_t batch, size_t m,
                                 size_t n, batch_sizes *s, const char *func)
{
  size_t d = (size_t)enc->dim, bytes;
  /* Bounding all ids * dim * sizeof(float) bounds every product below. */
  if (!vbpr__mul_ok(batch, m, &s->n_pos) || !vbpr__mul_ok(batch, n, &s->n_neg) ||
      !vbpr__add_ok(batch, s->n_pos, &s->n_ids) ||
      !vbpr__add_ok(s->n_ids, s->n_neg, &s->n_ids) ||
      !vbpr__mul_ok(s->n_ids, d, &bytes) || !vbpr__mul_ok(bytes, sizeof(float), &bytes))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "batch sizes overflow: batch %zu, m %zu, n %zu, dim %zu",
                       batch, m, n, d);
  s->e_user = batch * d;
  s->e_pos = s->n_pos * d;
  s->e_neg = s->n_neg * d;
  return VBPR_OK;
}

static void gather(const float *src, size_t row0, const int32_t *ids, size_t count,
                   size_t dim, float *dst)
{
  for (size_t i = 0; i < count; i++)
    memcpy(dst + i * dim, src + (row0 + (size_t)ids[i]) * dim, dim * sizeof(float));
}

vbpr_status vbpr_encoder_forward(vbpr_encoder *enc, size_t batch, size_t m, size_t n,
                                 const int32_t *users, const int32_t *pos,
                                 const int32_t *neg, float *user_emb, float *pos_emb,
                                 float *neg_emb)
{
  VBPR_CHECK_NULL(enc);
  VBPR_CHECK_NULL(users);
  VBPR_CHECK_NULL(user_emb);
  if (batch == 0)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "batch must be >= 1, got 0");
  if (m > 0 && (pos == NULL || pos_emb == NULL))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "pos and pos_emb must not be NULL when m > 0 (m = %zu)", m);
  if (n > 0 && (neg == NULL || neg_emb == NULL))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "neg and neg_emb must not be NULL when n > 0 (n = %zu)", n);
  batch_sizes s = {0};
  vbpr_status st = batch_size_of(enc, batch, m, n, &s, __func__);
  if (st == VBPR_OK) st = check_ids(users, batch, enc->num_users, "users", __func__);
  if (st == VBPR_OK) st = check_ids(pos, s.n_pos, enc->num_items, "pos", __func__);
  if (st == VBPR_OK) st = check_ids(neg, s.n_neg, enc->num_items, "neg", __func__);
  if (st != VBPR_OK) return st;

  const float *src = NULL;
  st = enc->ops->source(enc, VBPR__SOURCE_FORWARD, &src, __func__);
  if (st != VBPR_OK) return st;
  /* vbpr__reserve keeps the old buffer on failure; on success nothing after
   * it can fail, so the recorded batch is either the old or the new one. */
  st = vbpr__reserve((void **)&enc->ids, &enc->ids_cap, s.n_ids, sizeof(int32_t),
                     __func__);
  if (st != VBPR_OK) return st;
  size_t d = (size_t)enc->dim, nu = (size_t)enc->num_users;
  gather(src, 0, users, batch, d, user_emb);
  if (m > 0) gather(src, nu, pos, s.n_pos, d, pos_emb);
  if (n > 0) gather(src, nu, neg, s.n_neg, d, neg_emb);
  memcpy(enc->ids, users, batch * sizeof(int32_t));
  if (m > 0) memcpy(enc->ids + batch, pos, s.n_pos * sizeof(int32_t));
  if (n > 0) memcpy(enc->ids + batch + s.n_pos, neg, s.n_neg * sizeof(int32_t));
  enc->batch = batch;
  enc->m = m;
  enc->n = n;
  enc->have_forward = true;
  enc->have_extra = false;
  return VBPR_OK;
}

/* ---- backward ---------------------------------------------------------- */

static vbpr_status check_finite(const float *g, size_t count, const char *name,
                                const char *func)
{
  size_t i = vbpr__find_nonfinite(g, count);
  if (VBPR_LIKELY(i == count)) return VBPR_OK;
  return vbpr__error(VBPR_ERR_NUMERIC, func, "%s[%zu] = %g is not finite", name, i,
                     (double)g[i]);
}

static inline void add_row(float *restrict dst, const float *restrict src, size_t dim)
{
  for (size_t j = 0; j < dim; j++) dst[j] += src[j];
}

static void scatter(float *dst, size_t row0, const int32_t *ids, size_t count,
                    const float *g, size_t dim)
{
  for (size_t i = 0; i < count; i++)
    add_row(dst + (row0 + (size_t)ids[i]) * dim, g + i * dim, dim);
}

void vbpr__encoder_scatter_rows(const vbpr_encoder *enc, const vbpr__batch *b,
                                const vbpr__batch_grad *g, float *dst)
{
  size_t d = (size_t)enc->dim, nu = (size_t)enc->num_users;
  scatter(dst, 0, b->users, b->batch, g->user, d);
  if (b->m > 0) scatter(dst, nu, b->pos, b->batch * b->m, g->pos, d);
  if (b->n > 0) scatter(dst, nu, b->neg, b->batch * b->n, g->neg, d);
}

/* The recorded batch of the last forward, as the kinds see it. */
static vbpr__batch recorded_batch(const vbpr_encoder *enc)
{
  size_t b = enc->batch, m = enc->m, n = enc->n;
  const int32_t *users = enc->ids;
  return (vbpr__batch){users, m > 0 ? users + b : NULL, n > 0 ? users + b + b * m : NULL,
                       b, m, n, enc->have_extra};
}

vbpr_status vbpr_encoder_backward(vbpr_encoder *enc, const float *grad_user,
                                  const float *grad_pos, const float *grad_neg)
{
  VBPR_CHECK_NULL(enc);
  if (!enc->have_forward)
    return VBPR_FAIL(VBPR_ERR_STATE,
                     "no forward to differentiate: call vbpr_encoder_forward first "
                     "(each forward allows one backward)");
  VBPR_CHECK_NULL(grad_user);
  size_t b = enc->batch, m = enc->m, n = enc->n, d = (size_t)enc->dim;
  if (m > 0 && grad_pos == NULL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "grad_pos must not be NULL when the forward had m = %zu", m);
  if (n > 0 && grad_neg == NULL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "grad_neg must not be NULL when the forward had n = %zu", n);
  vbpr_status st = check_finite(grad_user, b * d, "grad_user", __func__);
  if (st == VBPR_OK && m > 0) st = check_finite(grad_pos, b * m * d, "grad_pos", __func__);
  if (st == VBPR_OK && n > 0) st = check_finite(grad_neg, b * n * d, "grad_neg", __func__);
  if (st != VBPR_OK) return st;

  vbpr__batch batch = recorded_batch(enc);
  vbpr__batch_grad grad = {grad_user, m > 0 ? grad_pos : NULL, n > 0 ? grad_neg : NULL};
  enc->ops->backward(enc, &batch, &grad);
  enc->have_forward = false;
  enc->have_extra = false;
  return VBPR_OK;
}

vbpr_status vbpr_encoder_zero_grad(vbpr_encoder *enc)
{
  VBPR_CHECK_NULL(enc);
  enc->ops->zero_grad(enc);
  return VBPR_OK;
}

vbpr_status vbpr__encoder_extra_loss(vbpr_encoder *enc, double *value, const char *func)
{
  if (enc == NULL || value == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must not be NULL",
                       enc == NULL ? "enc" : "value");
  *value = 0.0;
  if (!enc->have_forward)
    return vbpr__error(VBPR_ERR_STATE, func,
                       "no forward to add a loss term to: call vbpr_encoder_forward first");
  if (enc->ops->extra_loss == NULL) return VBPR_OK;
  vbpr__batch batch = recorded_batch(enc);
  batch.extra = false;
  vbpr_status st = enc->ops->extra_loss(enc, &batch, value, func);
  enc->have_extra = st == VBPR_OK;
  if (st != VBPR_OK) *value = 0.0;
  return st;
}

/* ---- data parallelism -------------------------------------------------- */

float *vbpr__encoder_grad_table(vbpr_encoder *enc, vbpr_table table)
{
  size_t off = table == VBPR_TABLE_USERS ? 0 : (size_t)enc->num_users * (size_t)enc->dim;
  return enc->grad + off;
}

vbpr_status vbpr__encoder_touch_rows(vbpr_encoder *enc, vbpr_table table, size_t count,
                                     const int32_t *rows, const char *func)
{
  if (enc->ops->touch_rows == NULL)
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "the %s encoder cannot train data-parallel", enc->ops->info->name);
  int32_t limit = table == VBPR_TABLE_USERS ? enc->num_users : enc->num_items;
  vbpr_status st = check_ids(rows, count, limit, "rows", func);
  if (st != VBPR_OK) return st;
  enc->ops->touch_rows(enc, table, rows, count);
  return VBPR_OK;
}

vbpr_status vbpr_encoder_extra_loss(vbpr_encoder *enc, double *value)
{
  return vbpr__encoder_extra_loss(enc, value, __func__);
}
