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
#include "vbpr/dataset.h"

/* The normalised adjacency D^-1/2 A D^-1/2 over users (nodes 0..nu-1) and
 * items (nodes nu..nu+ni-1), as a symmetric CSR. Rows keep a fixed order,
 * so every sum is taken in the same order whatever the thread count. */
typedef struct graph {
  int64_t *offsets; /* [n_nodes + 1] */
  int32_t *cols;    /* [nnz] node ids */
  float *vals;      /* [nnz] */
  int64_t nnz;      /* 2 * interactions */
} graph;

typedef struct lgcn_state {
  graph graph;
  /* Allocated at the first propagation (source), so that an encoder only
   * saved or loaded costs no more than its tables. */
  float *final;    /* [n_elems] mean of layers 0..K */
  float *layer[2]; /* [n_elems] ping-pong; layer[0] holds dL/dF in backward */
  size_t final_cap, layer_cap[2];
  int32_t *iota;    /* [max(nu, ni)] 0, 1, ...: the touched rows */
  bool all_touched; /* a backward since the last zero_grad */
} lgcn_state;

static void graph_free(graph *g)
{
  vbpr__free(g->offsets);
  vbpr__free(g->cols);
  vbpr__free(g->vals);
  memset(g, 0, sizeof *g);
}

/* ---- graph ------------------------------------------------------------- */

static vbpr_status check_csr(int32_t nu, int32_t ni, const int64_t *off,
                             const int32_t *items, const char *func)
{
  if (off[0] != 0)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "CSR offsets[0] must be 0, got %lld", (long long)off[0]);
  for (int32_t u = 0; u < nu; u++)
    if (off[u + 1] < off[u])
      return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                         "CSR offsets decrease at user %d", (int)u);
  for (int64_t e = 0; e < off[nu]; e++)
    if (items[e] < 0 || items[e] >= ni)
      return vbpr__error(VBPR_ERR_OUT_OF_RANGE, func,
                         "CSR items[%lld] = %d is out of range [0, %d)",
                         (long long)e, (int)items[e], (int)ni);
  return VBPR_OK;
}

/* 1/sqrt(degree), 0 for isolated nodes (as the reference code: no NaN). */
static double inv_sqrt_deg(int64_t deg) { return deg > 0 ? 1.0 / sqrt((double)deg) : 0.0; }

static void fill_graph(graph *g, int32_t nu, int32_t ni, const int64_t *off,
                       const int32_t *items, int64_t *cursor, double *dinv)
{
  int64_t nnz_ui = off[nu];
  size_t n = (size_t)nu + (size_t)ni;
  memset(cursor, 0, (size_t)ni * sizeof *cursor);
  for (int64_t e = 0; e < nnz_ui; e++) cursor[items[e]]++;
  for (int32_t u = 0; u < nu; u++) dinv[u] = inv_sqrt_deg(off[u + 1] - off[u]);
  for (int32_t i = 0; i < ni; i++) dinv[(size_t)nu + (size_t)i] = inv_sqrt_deg(cursor[i]);
  /* User rows keep the dataset's order; item rows list users ascending. */
  for (int32_t u = 0; u <= nu; u++) g->offsets[u] = off[u];
  int64_t at = nnz_ui;
  for (int32_t i = 0; i < ni; i++) {
    g->offsets[(size_t)nu + (size_t)i] = at;
    int64_t c = cursor[i];
    cursor[i] = at;
    at += c;
  }
  g->offsets[n] = at;
  for (int32_t u = 0; u < nu; u++)
    for (int64_t e = off[u]; e < off[u + 1]; e++) {
      int32_t item = items[e];
      int32_t node = nu + item;
      float w = (float)(dinv[u] * dinv[node]);
      g->cols[e] = node;
      g->vals[e] = w;
      int64_t back = cursor[item]++;
      g->cols[back] = u;
      g->vals[back] = w;
    }
}

static vbpr_status build_graph(graph *g, int32_t nu, int32_t ni,
                               const int64_t *off, const int32_t *items,
                               const char *func)
{
  int64_t nnz_ui = off[nu];
  size_t n = (size_t)nu + (size_t)ni, nnz;
  if (nnz_ui > INT64_MAX / 2 || !vbpr__mul_ok((size_t)nnz_ui, 2, &nnz))
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "graph of %lld edges is too large",
                       (long long)nnz_ui);
  g->nnz = (int64_t)nnz;
  g->offsets = vbpr__malloc_array(n + 1, sizeof(int64_t));
  g->cols = vbpr__malloc_array(nnz, sizeof(int32_t));
  g->vals = vbpr__malloc_array(nnz, sizeof(float));
  int64_t *cursor = vbpr__malloc_array((size_t)ni, sizeof(int64_t));
  double *dinv = vbpr__malloc_array(n, sizeof(double));
  vbpr_status st = VBPR_OK;
  if (!g->offsets || !g->cols || !g->vals || !cursor || !dinv)
    st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                     "cannot allocate a graph of %zu nodes and %zu edges", n, nnz);
  else
    fill_graph(g, nu, ni, off, items, cursor, dinv);
  vbpr__free(cursor);
  vbpr__free(dinv);
  if (st != VBPR_OK) graph_free(g);
  return st;
}

/* ---- propagation ------------------------------------------------------- */

enum { MAX_CHUNKS = 64 };

typedef struct spmm_ctx {
  const graph *g;
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
  const int64_t *off = c->g->offsets;
  for (size_t r = r0; r < r1; r++) {
    float *restrict o = c->out + r * d;
    float *restrict a = c->acc + r * d;
    memset(o, 0, d * sizeof(float));
    for (int64_t e = off[r]; e < off[r + 1]; e++) {
      const float w = c->g->vals[e];
      const float *restrict x = c->in + (size_t)c->g->cols[e] * d;
      for (size_t j = 0; j < d; j++) o[j] += w * x[j];
    }
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

/* Splits rows into nt chunks of about equal cost (edges + rows), so one
 * thread does not get all the popular items. */
static void balance(const graph *g, size_t n, int nt, size_t *bounds)
{
  size_t total = (size_t)g->offsets[n] + n;
  bounds[0] = 0;
  for (int t = 1; t < nt; t++) {
    size_t target = total / (size_t)nt * (size_t)t + total % (size_t)nt * (size_t)t / (size_t)nt;
    size_t lo = bounds[t - 1], hi = n; /* first r with cost(r) >= target */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if ((size_t)g->offsets[mid] + mid < target) lo = mid + 1;
      else hi = mid;
    }
    bounds[t] = lo;
  }
  bounds[nt] = n;
}

/* acc (=|+=) s * sum_{k=0..K} A^k in; uses both layer buffers. `in` may be
 * layer[0] itself (backward): layer k goes to layer[k % 2], and layer
 * k-1 is only read while layer k is written. */
static void propagate(const vbpr_encoder *e, lgcn_state *st, const float *in, float *acc,
                      bool set)
{
  size_t n = e->n_nodes, d = (size_t)e->dim;
  size_t work = ((size_t)st->graph.nnz + n) * d;
  int nt = vbpr__threads_for(work, 1 << 16);
  if (nt > MAX_CHUNKS) nt = MAX_CHUNKS;
  size_t bounds[MAX_CHUNKS + 1];
  balance(&st->graph, n, nt, bounds);
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
  graph_free(&s->graph);
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
  return build_graph(&s->graph, nu, ni, off, items, func);
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
  st = check_csr(num_users, num_items, offsets, items, func);
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
