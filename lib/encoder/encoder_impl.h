/* Internal interface between the common encoder code (encoder.c,
 * model_file.c, registry.c) and the kinds (mf.c, lightgcn.c, ...), in the
 * style of libgit2's git_odb_backend and ggml's ggml_backend_i: the handle
 * holds a const table of operations and a private state per kind.
 *
 * Common code owns the sizes, the parameter and gradient tables, the
 * validation of ids, sizes and gradients, the recorded batch, the gather of
 * forward and the getters. It never tests the kind and never reads a kind's
 * state. A kind owns its state, fills a vbpr__encoder_ops and a registry
 * entry (vbpr__encoder_kind_info, encoder_internal.h), and uses the common
 * tables and the helpers below. How to add a kind: doc/encoder.md.
 *
 * Rules for every op (each op's own contract follows below):
 * - Threads: ops run on the thread that called the public function, one at
 *   a time per handle (the handle is single-threaded). An op may split its
 *   own work with vbpr__parallel_for, in a fixed order, so that results do
 *   not depend on the thread count.
 * - Memory: the kind allocates and frees its state with the vbpr__ memory
 *   functions (so allocation failures can be injected in tests). Only
 *   `source` may allocate, and only when a buffer must first be created or
 *   grow; backward, zero_grad and touched_rows never allocate.
 * - Errors: an op that can fail records the error with vbpr__error(...,
 *   func, ...) using the `func` it was given (the public function's name)
 *   and leaves the handle as it was. Ops never print, exit or abort.
 * - Growth: the table is filled with designated initialisers; fields added
 *   later are optional (NULL = not provided), so existing kinds need no
 *   change when the table grows.
 */
#ifndef VBPR_LIB_ENCODER_IMPL_H
#define VBPR_LIB_ENCODER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ckpt.h"
#include "encoder/encoder_internal.h"
#include "vbpr/encoder.h"

/* Why the all-node embeddings are wanted. A kind with noise or dropout
 * (XSimGCL) perturbs them, and advances its per-step random stream, for a
 * training forward only. MF and LightGCN ignore it. */
typedef enum vbpr__source_use {
  VBPR__SOURCE_FORWARD = 1, /* vbpr_encoder_forward: a training step */
  VBPR__SOURCE_EVAL = 2     /* vbpr_encoder_embeddings, export: the model */
} vbpr__source_use;

/* The batch of the last forward, as validated and recorded by common code:
 * ids in range, row b's positives at pos[b*m ...]. */
typedef struct vbpr__batch {
  const int32_t *users; /* [batch] in [0, num_users) */
  const int32_t *pos;   /* [batch*m] in [0, num_items); NULL if m == 0 */
  const int32_t *neg;   /* [batch*n] in [0, num_items); NULL if n == 0 */
  size_t batch, m, n;
  /* For backward: extra_loss succeeded for this batch, so its pending
   * gradient is to be added too. Common code keeps this flag, so that a
   * kind never has to guess whether what it keeps is stale. */
  bool extra;
} vbpr__batch;

/* The gradient of the loss with respect to the batch's embeddings, in the
 * layout of the forward's outputs: one row of dim floats per id above. All
 * entries are finite (checked by common code). */
typedef struct vbpr__batch_grad {
  const float *user; /* [batch*dim] */
  const float *pos;  /* [batch*m*dim]; NULL if m == 0 */
  const float *neg;  /* [batch*n*dim]; NULL if n == 0 */
} vbpr__batch_grad;

typedef struct vbpr__encoder_ops {
  /* The kind's registry entry: number, name (for messages), layer range. */
  const vbpr__encoder_kind_info *info;

  /* Required. The embeddings of all nodes, users then items, row-major
   * [n_nodes x dim], from the current parameters: what forward gathers the
   * batch from and vbpr_encoder_embeddings returns. MF returns enc->param;
   * LightGCN propagates into a buffer of its state. The pointer is borrowed:
   * valid until the next source call, a parameter change or destroy.
   * May allocate its buffers (first call only); fails only with
   * VBPR_ERR_OUT_OF_MEMORY, leaving the previous result valid. */
  vbpr_status (*source)(vbpr_encoder *enc, vbpr__source_use use, const float **nodes,
                        const char *func);

  /* Required. Adds to enc->grad the gradient of the loss with respect to the
   * parameters, given its gradient with respect to the batch's embeddings
   * (and, if batch->extra, the gradient extra_loss kept), and records the rows whose
   * gradient may now be non-zero (touched_rows). Called at most once per
   * forward, after a successful source(VBPR__SOURCE_FORWARD): buffers it
   * needs were reserved there. Must not allocate and cannot fail.
   * MF adds each row to its id's row; a graph kind scatters into a dense
   * buffer of its own (vbpr__encoder_scatter_rows) and back-propagates. */
  void (*backward)(vbpr_encoder *enc, const vbpr__batch *batch,
                   const vbpr__batch_grad *grad);

  /* Required. Sets enc->grad to zero and clears the touched rows, at the
   * cost of what was touched. Must not allocate and cannot fail. */
  void (*zero_grad)(vbpr_encoder *enc);

  /* Required. The rows of `table` (already validated) whose gradient may be
   * non-zero since the last zero_grad, each once: *rows is never NULL, even
   * when *count is 0, and stays valid until the next backward, zero_grad or
   * destroy. Reads only. */
  void (*touched_rows)(const vbpr_encoder *enc, vbpr_table table, const int32_t **rows,
                       int32_t *count);

  /* Required. Frees the kind's state (enc->state, never NULL here) and all
   * it owns. Called by vbpr_encoder_destroy, including on a constructor's
   * failure path once the state is attached. */
  void (*free_state)(void *state);

  /* Optional (NULL: the kind has no loss term of its own). The kind's own
   * loss term for the batch of the last forward, into *value: e.g. XSimGCL's
   * contrastive InfoNCE term between two views of the batch's users and
   * positive items, with its weight and temperature from the kind's
   * constructor. The term's gradient is kept in the state (overwriting any
   * earlier one) and added by the backward of the same batch, which common
   * code calls with batch->extra set (so a graph kind back-propagates once).
   * May allocate on first use. Randomness (noise) comes from the counter
   * RNG keyed by (seed, a step count kept in the state, row), so that it
   * does not depend on the thread count. */
  vbpr_status (*extra_loss)(vbpr_encoder *enc, const vbpr__batch *batch, double *value,
                            const char *func);

  /* Optional (NULL: the kind cannot train data-parallel). Records rows of
   * `table` (already validated, in range, possibly repeated or already
   * touched) as touched: their gradient was written from outside (the sum
   * over ranks of data-parallel training, lib/train/collective.c), so
   * touched_rows and zero_grad must cover them. Must not allocate and
   * cannot fail. MF adds them to its lists; LightGCN marks every row. */
  void (*touch_rows)(vbpr_encoder *enc, vbpr_table table, const int32_t *rows,
                     size_t count);
  /* Optional (NULL: nothing beyond the tables and parameters). The kind's
   * own training state in a checkpoint (encoder_state.c), e.g. XSimGCL's
   * step count, which keys its noise: state_write puts it, state_read gets
   * it back (reporting malformed content through the reader) into an
   * encoder built from the same data. */
  void (*state_write)(const vbpr_encoder *enc, vbpr__ckpt_writer *w);
  vbpr_status (*state_read)(vbpr_encoder *enc, vbpr__ckpt_reader *r);
} vbpr__encoder_ops;

struct vbpr_encoder {
  const vbpr__encoder_ops *ops;
  void *state; /* the kind's, freed by ops->free_state */

  int32_t num_users, num_items, dim;
  int32_t num_layers; /* set by the kind, in [info->min_layers, info->max_layers] */
  /* vbpr_encoder_param values, from the kind's table (info->params); the
   * kind reads them at every forward. */
  double params[VBPR__ENCODER_NPARAMS];
  size_t n_nodes;     /* num_users + num_items */
  size_t n_elems;     /* n_nodes * dim */

  /* Parameters and gradients: one block each, user rows then item rows, so
   * that a kind propagating the concatenated table needs no copy. Node u is
   * user u; node num_users + i is item i. */
  float *param;
  float *grad;

  /* The batch of the last forward, consumed by backward. */
  int32_t *ids; /* users, then pos, then neg */
  size_t ids_cap;
  size_t batch, m, n;
  bool have_forward;
  bool have_extra; /* extra_loss succeeded for the recorded batch */
};

/* ---- helpers for kinds -------------------------------------------------- */

/* Validates a table size triple for the constructor named `func`. */
vbpr_status vbpr__encoder_check_sizes(size_t num_users, size_t num_items, size_t dim,
                                      const char *func);

/* Allocates the common parts (tables, zeroed gradients) of an encoder with
 * these ops and no state yet, and fills the tables with `init`. Sizes are
 * already validated. The kind then attaches its state (enc->state) and, on
 * failure, calls vbpr_encoder_destroy. */
vbpr_status vbpr__encoder_alloc(const vbpr__encoder_ops *ops, int32_t num_users,
                                int32_t num_items, int32_t dim, int32_t num_layers,
                                vbpr_init init, double scale, uint64_t seed,
                                vbpr_encoder **out, const char *func);

/* Adds each gradient row of the batch to its node's row of dst
 * [n_nodes x dim] (users at row u, items at row num_users + i); repeated
 * ids add up. For kinds that back-propagate a dense gradient. */
void vbpr__encoder_scatter_rows(const vbpr_encoder *enc, const vbpr__batch *batch,
                                const vbpr__batch_grad *grad, float *dst);

#endif
