/* Building and splitting the normalised user-item graph (graph.h). */
#include <math.h>

#include "core/core.h"
#include "encoder/graph.h"

vbpr_status vbpr__graph_check_csr(int32_t nu, int32_t ni, const int64_t *off,
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

static void fill_graph(vbpr__graph *g, int32_t nu, int32_t ni, const int64_t *off,
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

void vbpr__graph_free(vbpr__graph *g)
{
  vbpr__free(g->offsets);
  vbpr__free(g->cols);
  vbpr__free(g->vals);
  memset(g, 0, sizeof *g);
}

vbpr_status vbpr__graph_build(vbpr__graph *g, int32_t nu, int32_t ni, const int64_t *off,
                              const int32_t *items, const char *func)
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
  if (st != VBPR_OK) vbpr__graph_free(g);
  return st;
}

void vbpr__graph_balance(const vbpr__graph *g, size_t n, int nt, size_t *bounds)
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

int vbpr__graph_threads(const vbpr__graph *g, size_t n, size_t dim)
{
  size_t work = ((size_t)g->nnz + n) * dim;
  int nt = vbpr__threads_for(work, 1 << 16);
  return nt > VBPR__GRAPH_MAX_CHUNKS ? VBPR__GRAPH_MAX_CHUNKS : nt;
}
