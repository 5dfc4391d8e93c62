/* LightGCN: tables propagated over the normalised user-item graph.
 *
 * With E0 the concatenated tables and A = D^-1/2 Adj D^-1/2 (symmetric),
 * the final embeddings are F = s * (E0 + A E0 + ... + A^K E0), s = 1/(K+1).
 * F is linear in E0, so dL/dE0 = s * (G + A G + ... + A^K G) with
 * G = dL/dF (A^T = A): backward is the same propagation applied to G.
 *
 * Rows are computed independently and each sums its edges in a fixed
 * order, so results do not depend on the thread count. Built when the
 * "lightgcn" module is on; lightgcn_stub.c stands in otherwise. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "encoder/encoder_impl.h"
#include "encoder/graph.h"
#include "vbpr/dataset.h"

typedef struct lgcn_state {
  vbpr__graph graph;
  /* Allocated at the first propagation (source), so that an encoder only
   * saved or loaded costs no more than its tables. */
  float *final;    /* [n_elems] mean of layers 0..K */
  float *layer[2]; /* [n_elems] ping-pong; layer[0] holds dL/dF in backward */
  size_t final_cap, layer_cap[2];
  int32_t *iota;    /* [max(nu, ni)] 0, 1, ...: the touched rows */
  bool all_touched; /* a backward since the last zero_grad */
} lgcn_state;

/* ---- propagation ------------------------------------------------------- */

typedef struct spmm_ctx {
  const vbpr__graph *g;
  const float *in;
  float *out;
  float *acc;
  float scale;
  size_t dim;
  bool first; /* acc also gets scale * in (layer 0) */
  bool set;   /* acc is assigned, not added to */
  const size_t *bounds;
} spmm_ctx;

/* out = A in, and acc (+)= scale * (out [+ in]) for rows [r0, r1). */
static void spmm_rows(const spmm_ctx *c, size_t r0, size_t r1)
{
  const size_t d = c->dim;
  for (size_t r = r0; r < r1; r++) {
    float *restrict o = c->out + r * d;
    float *restrict a = c->acc + r * d;
    vbpr__graph_row(c->g, c->in, d, r, o);
    const float *restrict x = c->in + r * d;
    const float s = c->scale;
    if (c->set)
      for (size_t j = 0; j < d; j++) a[j] = s * (x[j] + o[j]);
    else if (c->first)
      for (size_t j = 0; j < d; j++) a[j] += s * (x[j] + o[j]);
    else
      for (size_t j = 0; j < d; j++) a[j] += s * o[j];
  }
}

static void spmm_chunk(void *vctx, size_t begin, size_t end, int tid)
{
  (void)tid;
  const spmm_ctx *c = vctx;
  for (size_t k = begin; k < end; k++) spmm_rows(c, c->bounds[k], c->bounds[k + 1]);
}

/* acc (=|+=) s * sum_{k=0..K} A^k in; uses both layer buffers. `in` may be
 * layer[0] itself (backward): layer k goes to layer[k % 2], and layer
 * k-1 is only read while layer k is written. */
static void propagate(const vbpr_encoder *e, lgcn_state *st, const float *in, float *acc,
                      bool set)
{
  size_t n = e->n_nodes, d = (size_t)e->dim;
  int nt = vbpr__graph_threads(&st->graph, n, d);
  size_t bounds[VBPR__GRAPH_MAX_CHUNKS + 1];
  vbpr__graph_balance(&st->graph, n, nt, bounds);
  spmm_ctx c = {&st->graph, in, NULL, acc, 1.0f / (float)(e->num_layers + 1), d, true,
                set, bounds};
  for (int32_t k = 1; k <= e->num_layers; k++) {
    c.out = st->layer[k % 2];
    vbpr__parallel_for((size_t)nt, nt, spmm_chunk, &c);
    c.in = c.out;
    c.first = false;
    c.set = false;
  }
}

/* ---- ops --------------------------------------------------------------- */

/* The final embeddings of all nodes from the current parameters, into
 * final (allocating the three buffers the first time). */
static vbpr_status lgcn_source(vbpr_encoder *e, vbpr__source_use use, const float **nodes,
                               const char *func)
{
  (void)use;
  lgcn_state *s = e->state;
  vbpr_status st = vbpr__reserve((void **)&s->final, &s->final_cap, e->n_elems,
                                 sizeof(float), func);
  for (int i = 0; i < 2 && st == VBPR_OK; i++)
    st = vbpr__reserve((void **)&s->layer[i], &s->layer_cap[i], e->n_elems, sizeof(float),
                       func);
  if (st != VBPR_OK) return st;
  propagate(e, s, e->param, s->final, true);
  *nodes = s->final;
  return VBPR_OK;
}

/* G = dL/dF scattered densely into layer[0] (reserved by the forward's
 * source), then dL/dE0 = s * sum_k A^k G added to the gradient. */
static void lgcn_backward(vbpr_encoder *e, const vbpr__batch *b, const vbpr__batch_grad *g)
{
  lgcn_state *s = e->state;
  memset(s->layer[0], 0, e->n_elems * sizeof(float));
  vbpr__encoder_scatter_rows(e, b, g, s->layer[0]);
  propagate(e, s, s->layer[0], e->grad, false);
  s->all_touched = true;
}

static void lgcn_zero_grad(vbpr_encoder *e)
{
  lgcn_state *s = e->state;
  if (!s->all_touched) return;
  memset(e->grad, 0, e->n_elems * sizeof(float));
  s->all_touched = false;
}

/* Back-propagation reaches every connected row: all rows or none. */
static void lgcn_touched_rows(const vbpr_encoder *e, vbpr_table table, const int32_t **rows,
                              int32_t *count)
{
  const lgcn_state *s = e->state;
  *rows = s->iota;
  *count = !s->all_touched ? 0 : table == VBPR_TABLE_USERS ? e->num_users : e->num_items;
}

/* Touched rows are all rows or none (see lgcn_touched_rows). */
static void lgcn_touch_rows(vbpr_encoder *e, vbpr_table table, const int32_t *rows,
                            size_t count)
{
  (void)table, (void)rows;
  lgcn_state *s = e->state;
  if (count > 0) s->all_touched = true;
}

static void lgcn_free_state(void *state)
{
  lgcn_state *s = state;
  vbpr__graph_free(&s->graph);
  vbpr__free(s->final);
  vbpr__free(s->layer[0]);
  vbpr__free(s->layer[1]);
  vbpr__free(s->iota);
  vbpr__free(s);
}

static vbpr_status lgcn_create_for(const vbpr_dataset *train, int32_t dim,
                                   int32_t num_layers, uint64_t seed, vbpr_encoder **out);

const vbpr__encoder_kind_info vbpr__encoder_kind_lightgcn = {
  .kind = VBPR_ENCODER_LIGHTGCN,
  .name = "LightGCN",
  .module = "lightgcn",
  .min_layers = 1,
  .max_layers = VBPR_LIGHTGCN_MAX_LAYERS,
  .built = true,
  .create = lgcn_create_for,
  .init = VBPR_INIT_XAVIER_NORMAL,
  .init_scale = 1.0,
};

static const vbpr__encoder_ops lgcn_ops = {
  .info = &vbpr__encoder_kind_lightgcn,
  .source = lgcn_source,
  .backward = lgcn_backward,
  .zero_grad = lgcn_zero_grad,
  .touched_rows = lgcn_touched_rows,
  .free_state = lgcn_free_state,
  .touch_rows = lgcn_touch_rows,
};

/* ---- construction ------------------------------------------------------ */

/* The state: touched list and graph; the propagation buffers come later. */
static vbpr_status lgcn_state_init(lgcn_state *s, int32_t nu, int32_t ni,
                                   const int64_t *off, const int32_t *items, const char *func)
{
  int32_t n = nu > ni ? nu : ni;
  s->iota = vbpr__malloc_array((size_t)n, sizeof(int32_t));
  if (s->iota == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %d row ids", (int)n);
  for (int32_t i = 0; i < n; i++) s->iota[i] = i;
  return vbpr__graph_build(&s->graph, nu, ni, off, items, func);
}

/* Builds the encoder from a raw CSR (users x items, sorted unique items
 * per user), as the dataset gives it. */
static vbpr_status lgcn_new(int32_t num_users, int32_t num_items, const int64_t *offsets,
                            const int32_t *items, int32_t dim, int32_t num_layers,
                            uint64_t seed, vbpr_encoder **out, const char *func)
{
  vbpr_status st = vbpr__encoder_check_sizes(num_users, num_items, dim, func);
  if (st != VBPR_OK) return st;
  if (num_layers < 1 || num_layers > VBPR_LIGHTGCN_MAX_LAYERS)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "num_layers must be in [1, %d], got %d",
                       VBPR_LIGHTGCN_MAX_LAYERS, (int)num_layers);
  st = vbpr__graph_check_csr(num_users, num_items, offsets, items, func);
  if (st != VBPR_OK) return st;
  vbpr_encoder *e = NULL;
  /* The reference code initialises LightGCN with xavier_normal_. */
  st = vbpr__encoder_alloc(&lgcn_ops, num_users, num_items, dim, num_layers,
                           VBPR_INIT_XAVIER_NORMAL, 1.0, seed, &e, func);
  if (st != VBPR_OK) return st;
  e->state = vbpr__calloc(1, sizeof(lgcn_state));
  st = e->state == NULL
           ? vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate the LightGCN state")
           : lgcn_state_init(e->state, num_users, num_items, offsets, items, func);
  if (st != VBPR_OK) {
    vbpr_encoder_destroy(e);
    return st;
  }
  *out = e;
  return VBPR_OK;
}

static vbpr_status from_dataset(const vbpr_dataset *ds, int32_t dim, int32_t num_layers,
                                uint64_t seed, vbpr_encoder **out, const char *func)
{
  const int64_t *off = NULL;
  const int32_t *items = NULL;
  vbpr_status st = vbpr_dataset_csr(ds, &off, &items, NULL);
  if (st != VBPR_OK) return st;
  return lgcn_new(vbpr_dataset_num_users(ds), vbpr_dataset_num_items(ds), off, items, dim,
                  num_layers, seed, out, func);
}

/* The trainer's way in (registry). */
static vbpr_status lgcn_create_for(const vbpr_dataset *train, int32_t dim,
                                   int32_t num_layers, uint64_t seed, vbpr_encoder **out)
{
  *out = NULL;
  return from_dataset(train, dim, num_layers, seed, out, "vbpr_encoder_create_lightgcn");
}

vbpr_status vbpr_encoder_create_lightgcn(const vbpr_dataset *ds, size_t dim,
                                         size_t num_layers, uint64_t seed,
                                         vbpr_encoder **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  VBPR_CHECK_NULL(ds);
  /* int32 beyond here: what does not fit is refused now, the rest below */
  if (dim > VBPR_ENCODER_MAX_DIM)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "dim must be in [1, %d], got %zu",
                     VBPR_ENCODER_MAX_DIM, dim);
  if (num_layers > VBPR_LIGHTGCN_MAX_LAYERS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "num_layers must be in [1, %d], got %zu",
                     VBPR_LIGHTGCN_MAX_LAYERS, num_layers);
  return from_dataset(ds, (int32_t)dim, (int32_t)num_layers, seed, out, __func__);
}
