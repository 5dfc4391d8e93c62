/* XSimGCL (Yu et al., TKDE 2024): LightGCN's propagation with random noise
 * added to every layer in training, the mean of layers 1..K, and a
 * contrastive InfoNCE term between the final embeddings and layer l*'s.
 *
 * Forward (training), with E0 the tables and A the normalised adjacency:
 *   X_0 = E0;  X_k = A X_{k-1} + eps * sign(A X_{k-1}) * u_k/||u_k||  (rows)
 *   F = (X_1 + ... + X_K) / K;  C = X_{l*}.
 * The noise is a constant for the gradient (sign has zero derivative), so
 * with G = dL/dF and Gc = dL/dC (the contrastive term's, on a few rows):
 *   H_K = G/K + [K = l*] Gc;  H_k = G/K + [k = l*] Gc + A H_{k+1};
 *   dL/dE0 = A H_1   (A is symmetric),
 * one propagation back, as LightGCN's. Rows are computed independently and
 * every sum runs in a fixed order; the noise of a row is keyed by (seed,
 * training step, layer, row): results do not depend on the thread count.
 * Built when the "xsimgcl" module is on; xsimgcl_stub.c stands in
 * otherwise. */
#include <math.h>
#include <string.h>

#include "core/blas.h"
#include "core/core.h"
#include "encoder/encoder_impl.h"
#include "encoder/graph.h"
#include "encoder/xsimgcl.h"
#include "vbpr/dataset.h"

/* F.normalize's floor on a norm, as the reference code. */
#define NORM_FLOOR 1e-12
/* Keys the noise apart from the initialisation's (seed, table, row). */
#define NOISE_KEY UINT64_C(0x58534947434c4e53)

typedef struct xsim_state {
  vbpr__graph graph;
  /* [n_elems] each, allocated at the first propagation: the final
   * embeddings, two layers in turn, and layer l* of the last training
   * forward (its buffer holds dL/dF during backward). */
  float *final, *layer[2], *cl;
  size_t final_cap, layer_cap[2], cl_cap;
  int32_t *iota;    /* [max(nu, ni)] 0, 1, ...: the touched rows */
  uint8_t *mark;    /* [n_nodes], all zero between calls */
  bool all_touched; /* a backward since the last zero_grad */
  uint64_t noise_seed;
  uint64_t step;    /* training forwards so far: the noise stream */
  bool train_views; /* final and cl are the last training forward's */
  /* The contrastive term of the last extra_loss, for backward: its node
   * ids (users, then items) and the gradients of its rows of F and C. */
  int32_t *nodes;
  size_t n_cl, nodes_cap;
  float *g_final, *g_layer, *ws;
  size_t g_final_cap, g_layer_cap, ws_cap;
} xsim_state;

/* ---- propagation ------------------------------------------------------- */

typedef struct pass_ctx {
  const vbpr__graph *g;
  const float *in;
  float *out;
  size_t d;
  const size_t *bounds;
  /* forward: out += noise; acc (=|+=) scale * out */
  float eps, scale;
  bool set;
  float *acc;
  uint64_t seed, stream;
  /* backward: out += add_scale * add; grad += out */
  const float *add;
  float add_scale;
  float *grad;
} pass_ctx;

/* The unit direction of a row's noise: uniform [0, 1) entries divided by
 * their norm (floored as F.normalize does). */
static void noise_dir(uint64_t seed, uint64_t stream, size_t r, size_t d, float *u)
{
  vbpr__rng rng;
  vbpr__rng_init(&rng, seed, stream, (uint64_t)r);
  double ss = 0;
  for (size_t j = 0; j < d; j++) {
    u[j] = (float)vbpr__rng_uniform(&rng);
    ss += (double)u[j] * u[j];
  }
  double norm = sqrt(ss);
  float inv = (float)(1.0 / (norm > NORM_FLOOR ? norm : NORM_FLOOR));
  for (size_t j = 0; j < d; j++) u[j] *= inv;
}

/* Layer k's noise stream at a training step (layers <= 64). */
static uint64_t noise_stream(uint64_t step, int32_t k) { return step * 128u + (uint64_t)k; }

void vbpr__xsimgcl_noise(const vbpr_encoder *e, uint64_t step, int32_t layer, size_t row,
                         float *u)
{
  const xsim_state *s = e->state;
  noise_dir(s->noise_seed, noise_stream(step, layer), row, (size_t)e->dim, u);
}

uint64_t vbpr__xsimgcl_step(const vbpr_encoder *e)
{
  return ((const xsim_state *)e->state)->step;
}

static void forward_rows(const pass_ctx *c, size_t r0, size_t r1)
{
  const size_t d = c->d;
  float u[VBPR_ENCODER_MAX_DIM];
  for (size_t r = r0; r < r1; r++) {
    float *restrict o = c->out + r * d;
    vbpr__graph_row(c->g, c->in, d, r, o);
    if (c->eps > 0) {
      noise_dir(c->seed, c->stream, r, d, u);
      for (size_t j = 0; j < d; j++)
        o[j] += o[j] > 0 ? c->eps * u[j] : o[j] < 0 ? -c->eps * u[j] : 0.0f;
    }
    float *restrict a = c->acc + r * d;
    if (c->set)
      for (size_t j = 0; j < d; j++) a[j] = c->scale * o[j];
    else
      for (size_t j = 0; j < d; j++) a[j] += c->scale * o[j];
  }
}

static void backward_rows(const pass_ctx *c, size_t r0, size_t r1)
{
  const size_t d = c->d;
  for (size_t r = r0; r < r1; r++) {
    float *restrict o = c->out + r * d;
    vbpr__graph_row(c->g, c->in, d, r, o);
    if (c->add != NULL) {
      const float *restrict g = c->add + r * d;
      for (size_t j = 0; j < d; j++) o[j] += c->add_scale * g[j];
    }
    if (c->grad != NULL) {
      float *restrict gr = c->grad + r * d;
      for (size_t j = 0; j < d; j++) gr[j] += o[j];
    }
  }
}

static void forward_chunk(void *vctx, size_t begin, size_t end, int tid)
{
  (void)tid;
  const pass_ctx *c = vctx;
  for (size_t k = begin; k < end; k++) forward_rows(c, c->bounds[k], c->bounds[k + 1]);
}

static void backward_chunk(void *vctx, size_t begin, size_t end, int tid)
{
  (void)tid;
  const pass_ctx *c = vctx;
  for (size_t k = begin; k < end; k++) backward_rows(c, c->bounds[k], c->bounds[k + 1]);
}

/* One pass over all rows, split in balanced chunks. */
static void run_pass(const vbpr_encoder *e, pass_ctx *c, vbpr__range_fn fn)
{
  size_t bounds[VBPR__GRAPH_MAX_CHUNKS + 1];
  int nt = vbpr__graph_threads(c->g, e->n_nodes, c->d);
  vbpr__graph_balance(c->g, e->n_nodes, nt, bounds);
  c->bounds = bounds;
  vbpr__parallel_for((size_t)nt, nt, fn, c);
}

/* F into final from the current parameters; with noise (and layer l* into
 * cl) for a training forward. Layer k goes to cl when it is l*, else to
 * layer[k % 2]: never the buffer it reads. */
static void propagate(vbpr_encoder *e, xsim_state *s, bool train)
{
  int32_t K = e->num_layers, lstar = train ? (int32_t)e->params[VBPR_ENCODER_CL_LAYER] : 0;
  pass_ctx c = {.g = &s->graph, .in = e->param, .d = (size_t)e->dim,
                .eps = train ? (float)e->params[VBPR_ENCODER_NOISE_EPS] : 0.0f,
                .scale = 1.0f / (float)K, .set = true, .acc = s->final,
                .seed = s->noise_seed};
  for (int32_t k = 1; k <= K; k++) {
    c.out = k == lstar ? s->cl : s->layer[k % 2];
    c.stream = noise_stream(s->step, k);
    run_pass(e, &c, forward_chunk);
    c.in = c.out;
    c.set = false;
  }
}

/* ---- ops: embeddings and gradients ------------------------------------- */

static vbpr_status xsim_source(vbpr_encoder *e, vbpr__source_use use, const float **nodes,
                               const char *func)
{
  xsim_state *s = e->state;
  vbpr_status st = vbpr__reserve((void **)&s->final, &s->final_cap, e->n_elems,
                                 sizeof(float), func);
  for (int i = 0; i < 2 && st == VBPR_OK; i++)
    st = vbpr__reserve((void **)&s->layer[i], &s->layer_cap[i], e->n_elems, sizeof(float),
                       func);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&s->cl, &s->cl_cap, e->n_elems, sizeof(float), func);
  if (st != VBPR_OK) return st;
  bool train = use == VBPR__SOURCE_FORWARD;
  propagate(e, s, train);
  if (train) s->step++;
  s->train_views = train;
  *nodes = s->final;
  return VBPR_OK;
}

/* Adds the rows of g [count x d] to the rows `nodes` of dst. */
static void add_rows(float *dst, const int32_t *nodes, size_t count, const float *g, size_t d,
                     float scale)
{
  for (size_t i = 0; i < count; i++) {
    float *restrict o = dst + (size_t)nodes[i] * d;
    const float *restrict x = g + i * d;
    for (size_t j = 0; j < d; j++) o[j] += scale * x[j];
  }
}

/* G = dL/dF scattered densely into cl (free once extra_loss has run), then
 * the recursion of the header into layer[0] and layer[1]. */
static void xsim_backward(vbpr_encoder *e, const vbpr__batch *b, const vbpr__batch_grad *g)
{
  xsim_state *s = e->state;
  size_t d = (size_t)e->dim;
  int32_t K = e->num_layers, lstar = (int32_t)e->params[VBPR_ENCODER_CL_LAYER];
  bool extra = b->extra && s->n_cl > 0;
  float *G = s->cl, *cur = s->layer[0], *other = s->layer[1];
  memset(G, 0, e->n_elems * sizeof(float));
  vbpr__encoder_scatter_rows(e, b, g, G);
  if (extra) add_rows(G, s->nodes, s->n_cl, s->g_final, d, 1.0f);
  const float inv_k = 1.0f / (float)K;
  for (size_t i = 0; i < e->n_elems; i++) cur[i] = inv_k * G[i];
  if (extra && lstar == K) add_rows(cur, s->nodes, s->n_cl, s->g_layer, d, 1.0f);
  pass_ctx c = {.g = &s->graph, .d = d, .add = G, .add_scale = inv_k};
  for (int32_t k = K - 1; k >= 1; k--) {
    c.in = cur;
    c.out = other;
    run_pass(e, &c, backward_chunk);
    if (extra && lstar == k) add_rows(other, s->nodes, s->n_cl, s->g_layer, d, 1.0f);
    float *t = cur;
    cur = other;
    other = t;
  }
  pass_ctx last = {.g = &s->graph, .in = cur, .out = other, .d = d, .grad = e->grad};
  run_pass(e, &last, backward_chunk);
  s->all_touched = true;
  s->train_views = false; /* cl now holds G */
}

static void xsim_zero_grad(vbpr_encoder *e)
{
  xsim_state *s = e->state;
  if (!s->all_touched) return;
  memset(e->grad, 0, e->n_elems * sizeof(float));
  s->all_touched = false;
}

/* Back-propagation reaches every connected row: all rows or none. */
static void xsim_touched_rows(const vbpr_encoder *e, vbpr_table table, const int32_t **rows,
                              int32_t *count)
{
  const xsim_state *s = e->state;
  *rows = s->iota;
  *count = !s->all_touched ? 0 : table == VBPR_TABLE_USERS ? e->num_users : e->num_items;
}

/* ---- the contrastive term ---------------------------------------------- */

/* x / max(||x||, floor) row by row into a, norms into nrm. */
static void normalize_rows(const float *x, size_t n, size_t d, float *a, double *nrm)
{
  for (size_t i = 0; i < n; i++) {
    double ss = 0;
    for (size_t j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
    nrm[i] = sqrt(ss) > NORM_FLOOR ? sqrt(ss) : NORM_FLOOR;
    float inv = (float)(1.0 / nrm[i]);
    for (size_t j = 0; j < d; j++) a[i * d + j] = x[i * d + j] * inv;
  }
}

/* dL/dx from dL/da for a = x / ||x||: (g - a (a.g)) / ||x||, in place;
 * below the floor the norm is a constant. */
static void normalize_backward(const float *a, const double *nrm, size_t n, size_t d,
                               float *g)
{
  for (size_t i = 0; i < n; i++) {
    const float *ai = a + i * d;
    float *gi = g + i * d;
    double dot = 0;
    for (size_t j = 0; j < d; j++) dot += (double)ai[j] * gi[j];
    if (nrm[i] <= NORM_FLOOR) dot = 0;
    for (size_t j = 0; j < d; j++) gi[j] = (float)((gi[j] - ai[j] * dot) / nrm[i]);
  }
}

/* Row softmax of S [n x n] in place into (P - I) * coef; returns the mean
 * over rows of log-sum-exp(S_i) - S_ii. One exponential per entry (after
 * the row's maximum is taken off, every exponent is <= 0). */
static double softmax_minus_identity(float *S, size_t n, double coef)
{
  double total = 0;
  for (size_t i = 0; i < n; i++) {
    float *restrict row = S + i * n;
    float mx = row[0], diag = row[i];
    for (size_t j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
    double sum = 0;
    for (size_t j = 0; j < n; j++) sum += row[j] = expf(row[j] - mx);
    total += (double)mx + log((double)sum) - diag;
    const float scale = (float)(coef / sum);
    for (size_t j = 0; j < n; j++) row[j] *= scale;
    row[i] -= (float)coef;
  }
  return total / (double)n;
}

/* In place, by tiles that stay in cache. */
static void transpose_square(float *S, size_t n)
{
  enum { T = 32 };
  for (size_t i0 = 0; i0 < n; i0 += T)
    for (size_t j0 = i0; j0 < n; j0 += T)
      for (size_t i = i0; i < i0 + T && i < n; i++)
        for (size_t j = j0 == i0 ? i + 1 : j0; j < j0 + T && j < n; j++) {
          float t = S[i * n + j];
          S[i * n + j] = S[j * n + i];
          S[j * n + i] = t;
        }
}

/* weight * InfoNCE between the rows of F (view 1) and C (view 2) of n
 * nodes, cosine similarity over tau; the gradients of its value with
 * respect to those rows into gf and gc [n x d]. ws holds 2 n doubles (first,
 * so they are aligned), then 2 n d and n^2 floats. */
static double info_nce(const vbpr_encoder *e, const xsim_state *s, const int32_t *nodes,
                       size_t n, float *gf, float *gc, float *ws)
{
  size_t d = (size_t)e->dim;
  double tau = e->params[VBPR_ENCODER_CL_TAU], w = e->params[VBPR_ENCODER_CL_WEIGHT];
  double *na = (double *)ws, *nb = na + n;
  float *a = (float *)(nb + n), *b = a + n * d, *S = b + n * d;
  for (size_t i = 0; i < n; i++) {
    memcpy(gf + i * d, s->final + (size_t)nodes[i] * d, d * sizeof(float));
    memcpy(gc + i * d, s->cl + (size_t)nodes[i] * d, d * sizeof(float));
  }
  normalize_rows(gf, n, d, a, na);
  normalize_rows(gc, n, d, b, nb);
  int nt = vbpr__threads_for(n * n * d, (size_t)1 << 20);
  vbpr__sgemm_nt(n, n, d, (float)(1.0 / tau), a, d, b, d, 0.0f, S, n, nt);
  double loss = softmax_minus_identity(S, n, w / ((double)n * tau));
  vbpr__sgemm_nn(n, d, n, 1.0f, S, n, b, d, 0.0f, gf, d, nt); /* dA = D b */
  transpose_square(S, n);
  vbpr__sgemm_nn(n, d, n, 1.0f, S, n, a, d, 0.0f, gc, d, nt); /* dB = D^T a */
  normalize_backward(a, na, n, d, gf);
  normalize_backward(b, nb, n, d, gc);
  return w * loss;
}

/* The batch's users and anchor positives, each once, as node ids. */
static size_t collect_nodes(const vbpr_encoder *e, xsim_state *s, const vbpr__batch *b,
                            size_t *n_users)
{
  size_t n = 0;
  for (size_t r = 0; r < b->batch; r++) {
    int32_t node = b->users[r];
    if (!s->mark[node]) s->mark[node] = 1, s->nodes[n++] = node;
  }
  *n_users = n;
  for (size_t r = 0; r < b->batch && b->m > 0; r++) {
    int32_t node = e->num_users + b->pos[r * b->m];
    if (!s->mark[node]) s->mark[node] = 1, s->nodes[n++] = node;
  }
  for (size_t i = 0; i < n; i++) s->mark[s->nodes[i]] = 0;
  return n;
}

/* Workspace for the term of up to n nodes: ids, gradients and InfoNCE's
 * largest view. */
static vbpr_status reserve_term(const vbpr_encoder *e, xsim_state *s, size_t n,
                                const char *func)
{
  size_t d = (size_t)e->dim, nd, nn, ws;
  if (!vbpr__mul_ok(n, d, &nd) || !vbpr__mul_ok(n, n, &nn) || !vbpr__mul_ok(nd, 2, &ws) ||
      !vbpr__add_ok(ws, nn, &ws) || !vbpr__add_ok(ws, 4 * n, &ws))
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                       "a contrastive term over %zu rows of dim %zu is too large", n, d);
  vbpr_status st = vbpr__reserve((void **)&s->nodes, &s->nodes_cap, n, sizeof(int32_t), func);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&s->g_final, &s->g_final_cap, nd, sizeof(float), func);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&s->g_layer, &s->g_layer_cap, nd, sizeof(float), func);
  if (st == VBPR_OK) st = vbpr__reserve((void **)&s->ws, &s->ws_cap, ws, sizeof(float), func);
  return st;
}

static vbpr_status xsim_extra_loss(vbpr_encoder *e, const vbpr__batch *b, double *value,
                                   const char *func)
{
  xsim_state *s = e->state;
  s->n_cl = 0;
  if (!s->train_views)
    return vbpr__error(VBPR_ERR_STATE, func,
                       "the training forward's embeddings were replaced by an evaluation "
                       "(vbpr_encoder_embeddings): call this right after vbpr_encoder_forward");
  if (e->params[VBPR_ENCODER_CL_WEIGHT] == 0.0) return VBPR_OK;
  vbpr_status st = reserve_term(e, s, b->batch + (b->m > 0 ? b->batch : 0), func);
  if (st != VBPR_OK) return st;
  size_t nu = 0, n = collect_nodes(e, s, b, &nu), d = (size_t)e->dim;
  double v = info_nce(e, s, s->nodes, nu, s->g_final, s->g_layer, s->ws);
  if (n > nu)
    v += info_nce(e, s, s->nodes + nu, n - nu, s->g_final + nu * d, s->g_layer + nu * d,
                  s->ws);
  if (!isfinite(v) || vbpr__find_nonfinite(s->g_final, n * d) != n * d ||
      vbpr__find_nonfinite(s->g_layer, n * d) != n * d)
    return vbpr__error(VBPR_ERR_NUMERIC, func, "the contrastive term is not finite (%g)", v);
  s->n_cl = n;
  *value = v;
  return VBPR_OK;
}

/* The noise stream's position: a resumed run draws the same noise. */
static void xsim_state_write(const vbpr_encoder *e, vbpr__ckpt_writer *w)
{
  vbpr__ckpt_put_u64(w, ((const xsim_state *)e->state)->step);
}

static vbpr_status xsim_state_read(vbpr_encoder *e, vbpr__ckpt_reader *r)
{
  uint64_t step = vbpr__ckpt_get_u64(r);
  if (r->st == VBPR_OK) ((xsim_state *)e->state)->step = step;
  return r->st;
}

static void xsim_free_state(void *state)
{
  xsim_state *s = state;
  vbpr__graph_free(&s->graph);
  void *bufs[] = {s->final, s->layer[0], s->layer[1], s->cl, s->iota, s->mark,
                  s->nodes, s->g_final, s->g_layer, s->ws};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vbpr__free(bufs[i]);
  vbpr__free(s);
}

static vbpr_status xsim_create_for(const vbpr_dataset *train, int32_t dim,
                                   int32_t num_layers, uint64_t seed, vbpr_encoder **out);

const vbpr__encoder_kind_info vbpr__encoder_kind_xsimgcl = {
  .kind = VBPR_ENCODER_XSIMGCL,
  .name = "XSimGCL",
  .module = "xsimgcl",
  .min_layers = 1,
  .max_layers = VBPR_LIGHTGCN_MAX_LAYERS,
  .built = true,
  .create = xsim_create_for,
  .init = VBPR_INIT_XAVIER_NORMAL,
  .init_scale = 1.0,
  .params = &vbpr__xsimgcl_params,
};

static const vbpr__encoder_ops xsim_ops = {
  .info = &vbpr__encoder_kind_xsimgcl,
  .source = xsim_source,
  .backward = xsim_backward,
  .zero_grad = xsim_zero_grad,
  .touched_rows = xsim_touched_rows,
  .free_state = xsim_free_state,
  .extra_loss = xsim_extra_loss,
  .state_write = xsim_state_write,
  .state_read = xsim_state_read,
};

/* ---- construction ------------------------------------------------------ */

static vbpr_status state_init(xsim_state *s, int32_t nu, int32_t ni, const int64_t *off,
                              const int32_t *items, uint64_t seed, const char *func)
{
  int32_t n = nu > ni ? nu : ni;
  s->iota = vbpr__malloc_array((size_t)n, sizeof(int32_t));
  s->mark = vbpr__calloc((size_t)nu + (size_t)ni, 1);
  if (s->iota == NULL || s->mark == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %d row ids", (int)n);
  for (int32_t i = 0; i < n; i++) s->iota[i] = i;
  s->noise_seed = vbpr__mix64(seed ^ NOISE_KEY);
  return vbpr__graph_build(&s->graph, nu, ni, off, items, func);
}

static vbpr_status from_dataset(const vbpr_dataset *ds, int32_t dim, int32_t num_layers,
                                uint64_t seed, vbpr_encoder **out, const char *func)
{
  const int64_t *off = NULL;
  const int32_t *items = NULL;
  vbpr_status st = vbpr_dataset_csr(ds, &off, &items, NULL);
  if (st != VBPR_OK) return st;
  int32_t nu = (int32_t)vbpr_dataset_num_users(ds), ni = (int32_t)vbpr_dataset_num_items(ds);
  st = vbpr__encoder_check_sizes((size_t)nu, (size_t)ni, (size_t)dim, func);
  if (st != VBPR_OK) return st;
  if (num_layers < 1 || num_layers > VBPR_LIGHTGCN_MAX_LAYERS)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "num_layers must be in [1, %d], got %d",
                       VBPR_LIGHTGCN_MAX_LAYERS, (int)num_layers);
  vbpr_encoder *e = NULL;
  st = vbpr__encoder_alloc(&xsim_ops, nu, ni, dim, num_layers, VBPR_INIT_XAVIER_NORMAL, 1.0,
                           seed, &e, func);
  if (st != VBPR_OK) return st;
  e->state = vbpr__calloc(1, sizeof(xsim_state));
  st = e->state == NULL
           ? vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate the XSimGCL state")
           : state_init(e->state, nu, ni, off, items, seed, func);
  if (st != VBPR_OK) {
    vbpr_encoder_destroy(e);
    return st;
  }
  *out = e;
  return VBPR_OK;
}

/* The trainer's way in (registry). */
static vbpr_status xsim_create_for(const vbpr_dataset *train, int32_t dim,
                                   int32_t num_layers, uint64_t seed, vbpr_encoder **out)
{
  *out = NULL;
  return from_dataset(train, dim, num_layers, seed, out, "vbpr_encoder_create_xsimgcl");
}

vbpr_status vbpr_encoder_create_xsimgcl(const vbpr_dataset *ds, size_t dim, size_t num_layers,
                                        uint64_t seed, vbpr_encoder **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  VBPR_CHECK_NULL(ds);
  if (dim > VBPR_ENCODER_MAX_DIM)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "dim must be in [1, %d], got %zu",
                     VBPR_ENCODER_MAX_DIM, dim);
  if (num_layers > VBPR_LIGHTGCN_MAX_LAYERS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "num_layers must be in [1, %d], got %zu",
                     VBPR_LIGHTGCN_MAX_LAYERS, num_layers);
  return from_dataset(ds, (int32_t)dim, (int32_t)num_layers, seed, out, __func__);
}
