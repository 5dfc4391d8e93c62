/* The normalised user-item graph shared by the graph encoder kinds
 * (LightGCN, XSimGCL): A = D^-1/2 Adj D^-1/2 over users (nodes 0..nu-1)
 * and items (nodes nu..nu+ni-1), as a symmetric CSR built once from the
 * training data. Rows keep a fixed order, so every sum is taken in the same
 * order whatever the thread count. Internal to lib/encoder. */
#ifndef VBPR_LIB_ENCODER_GRAPH_H
#define VBPR_LIB_ENCODER_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vbpr/common.h"

typedef struct vbpr__graph {
  int64_t *offsets; /* [n_nodes + 1] */
  int32_t *cols;    /* [nnz] node ids */
  float *vals;      /* [nnz] */
  int64_t nnz;      /* 2 * interactions */
} vbpr__graph;

/* Checks a users x items CSR (offsets from 0, non-decreasing; item ids in
 * range) for the constructor named `func`. */
vbpr_status vbpr__graph_check_csr(int32_t nu, int32_t ni, const int64_t *offsets,
                                  const int32_t *items, const char *func);

/* Builds the normalised adjacency of a checked CSR. Nodes without edges get
 * D^-1/2 = 0: their rows are empty, so their propagated layers are zero,
 * never NaN. On failure g is left empty. */
vbpr_status vbpr__graph_build(vbpr__graph *g, int32_t nu, int32_t ni,
                              const int64_t *offsets, const int32_t *items,
                              const char *func);

void vbpr__graph_free(vbpr__graph *g);

/* Most chunks a propagation is split into (the bounds array of
 * vbpr__graph_balance holds nt + 1 entries). */
#define VBPR__GRAPH_MAX_CHUNKS 64

/* Splits rows [0, n) into nt chunks of about equal cost (edges + rows), so
 * that one thread does not get all the popular items: chunk t is rows
 * [bounds[t], bounds[t+1]). 1 <= nt <= VBPR__GRAPH_MAX_CHUNKS. */
void vbpr__graph_balance(const vbpr__graph *g, size_t n, int nt, size_t *bounds);

/* Threads for one propagation of dim-wide rows: by the work, at most
 * VBPR__GRAPH_MAX_CHUNKS. */
int vbpr__graph_threads(const vbpr__graph *g, size_t n, size_t dim);

/* out = row r of A x, x row-major [n x d]. */
static inline void vbpr__graph_row(const vbpr__graph *g, const float *x, size_t d, size_t r,
                                   float *restrict out)
{
  memset(out, 0, d * sizeof(float));
  for (int64_t e = g->offsets[r]; e < g->offsets[r + 1]; e++) {
    const float w = g->vals[e];
    const float *restrict xr = x + (size_t)g->cols[e] * d;
    for (size_t j = 0; j < d; j++) out[j] += w * xr[j];
  }
}

#endif
