/* Internal layout of vbpr_encoder, shared by the encoder's source files. */
#ifndef VBPR_LIB_ENCODER_IMPL_H
#define VBPR_LIB_ENCODER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbpr/encoder.h"

/* The normalised adjacency D^-1/2 A D^-1/2 over users (nodes 0..nu-1) and
 * items (nodes nu..nu+ni-1), as a symmetric CSR. Rows keep a fixed order,
 * so every sum is taken in the same order whatever the thread count. */
typedef struct vbpr__graph {
  int64_t *offsets;  /* [n_nodes + 1] */
  int32_t *cols;     /* [nnz] node ids */
  float *vals;       /* [nnz] */
  int64_t nnz;       /* 2 * interactions */
} vbpr__graph;

struct vbpr_encoder {
  vbpr_encoder_kind kind;
  int32_t num_users, num_items, dim, num_layers;
  size_t n_nodes; /* num_users + num_items */
  size_t n_elems; /* n_nodes * dim */

  /* Parameters and gradients: one block each, user rows then item rows, so
   * the concatenated table LightGCN propagates needs no copy. */
  float *param;
  float *grad;

  /* Rows with a possibly non-zero gradient. MF keeps a mark per node and a
   * list per table, so zero_grad costs O(touched). LightGCN touches all. */
  uint8_t *mark;            /* [n_nodes], MF only */
  int32_t *touched[VBPR_ENCODER_NUM_TABLES];
  int32_t n_touched[VBPR_ENCODER_NUM_TABLES];
  bool all_touched;         /* LightGCN after a backward */
  int32_t *iota;            /* [max(nu, ni)] 0..: LightGCN's touched list */

  /* The batch of the last forward, consumed by backward. */
  int32_t *ids;             /* users, then pos, then neg */
  size_t ids_cap;
  size_t batch, m, n;
  bool have_forward;

  /* LightGCN: graph and layer buffers (allocated at the first propagation). */
  vbpr__graph graph;
  float *final;             /* [n_elems] mean of layers 0..K */
  float *layer[2];          /* [n_elems] ping-pong */
  size_t final_cap, layer_cap[2];
};

/* Allocates the common parts (tables, gradients, touched lists) and fills
 * the tables with `init`. Sizes are already validated. */
vbpr_status vbpr__encoder_alloc(vbpr_encoder_kind kind, int32_t num_users,
                                int32_t num_items, int32_t dim, vbpr_init init,
                                double scale, uint64_t seed, vbpr_encoder **out,
                                const char *func);

/* Validates a table size triple for a constructor named `func`. */
vbpr_status vbpr__encoder_check_sizes(int32_t num_users, int32_t num_items,
                                      int32_t dim, const char *func);

/* Fills both tables (rows keyed by (seed, table, row)). */
void vbpr__encoder_fill(vbpr_encoder *enc, vbpr_init init, double scale, uint64_t seed);

/* LightGCN: the final embeddings of all nodes from the current parameters,
 * into enc->final (allocating the layer buffers the first time). */
vbpr_status vbpr__lightgcn_propagate(vbpr_encoder *enc, const char *func);

/* LightGCN: adds to enc->grad the gradient of the base tables given the
 * gradient of the final embeddings, dense in enc->layer[0] (overwritten). */
void vbpr__lightgcn_backprop(vbpr_encoder *enc);

/* Builds the LightGCN encoder from a raw CSR (users x items, sorted unique
 * items per user); the public constructor passes the dataset's. */
vbpr_status vbpr__lightgcn_create_csr(int32_t num_users, int32_t num_items,
                                      const int64_t *offsets, const int32_t *items,
                                      int32_t dim, int32_t num_layers, uint64_t seed,
                                      vbpr_encoder **out, const char *func);

void vbpr__graph_free(vbpr__graph *g);

#endif
