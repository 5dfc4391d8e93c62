/*
 * libvbpr: encoders that turn user and item ids into embeddings, and the
 * model files that store their parameters.
 *
 * Two encoders share one interface (optional modules, see vbpr_has_module()):
 *  - MF (matrix factorisation): a user table and an item table; the
 *    embedding of an id is its row.
 *  - LightGCN: the same two tables propagated over the normalised
 *    user-item graph D^-1/2 A D^-1/2 for K layers; the embedding of a node
 *    is the mean of its layers 0..K (He et al., SIGIR 2020).
 *
 * A training step is: vbpr_encoder_zero_grad(), vbpr_encoder_forward() for
 * a batch laid out as the sampler produces it, the loss's forward/backward on
 * those embeddings, vbpr_encoder_backward() with the loss's embedding
 * gradients, then an optimizer step (vbpr/optim.h, or the host's own through
 * vbpr_encoder_table()).
 *
 * Parameters are two tables, users then items, each row-major
 * [rows x dim] float. Gradients are kept beside them and are accumulated
 * (added to) by vbpr_encoder_backward() until vbpr_encoder_zero_grad().
 *
 * Threads: an encoder must not be used by two threads at once (even
 * vbpr_encoder_embeddings() writes to the handle). LightGCN propagation
 * uses up to vbpr_get_num_threads() threads; its results do not depend on
 * the thread count.
 */
#ifndef VBPR_ENCODER_H
#define VBPR_ENCODER_H

#include "vbpr/common.h"
#include "vbpr/dataset.h"

VBPR_BEGIN_DECLS

/** An encoder (opaque). */
typedef struct vbpr_encoder vbpr_encoder;

/** Encoder kinds. Values are explicit and never renumbered. */
typedef enum vbpr_encoder_kind {
  VBPR_ENCODER_MF = 1,       /**< matrix factorisation (module "mf") */
  VBPR_ENCODER_LIGHTGCN = 2  /**< LightGCN (module "lightgcn") */
} vbpr_encoder_kind;

/** Parameter initialisations. Values are explicit and never renumbered. */
typedef enum vbpr_init {
  /** Normal(0, scale^2) for every entry; scale is the standard deviation. */
  VBPR_INIT_NORMAL = 1,
  /** Xavier (Glorot) normal per table: std = scale * sqrt(2 / (rows + dim)),
   *  as torch.nn.init.xavier_normal_ on an nn.Embedding weight with
   *  gain = scale. */
  VBPR_INIT_XAVIER_NORMAL = 2
} vbpr_init;

/** The two parameter tables. Values are explicit and never renumbered. */
typedef enum vbpr_table {
  VBPR_TABLE_USERS = 0, /**< [num_users x dim] */
  VBPR_TABLE_ITEMS = 1  /**< [num_items x dim] */
} vbpr_table;

/** Number of parameter tables of every encoder (users, items). */
#define VBPR_ENCODER_NUM_TABLES 2
/** Largest embedding dimension accepted. */
#define VBPR_ENCODER_MAX_DIM 4096
/** Largest number of LightGCN layers accepted. */
#define VBPR_LIGHTGCN_MAX_LAYERS 64

/**
 * Creates an MF encoder with tables initialised Normal(0, 0.01^2) (as the
 * reference code), each row from a counter RNG keyed by (seed, table, row),
 * so the values do not depend on the thread count.
 *
 * @param num_users  rows of the user table, >= 1
 * @param num_items  rows of the item table, >= 1 (num_users + num_items < 2^31)
 * @param dim        embedding dimension, 1..VBPR_ENCODER_MAX_DIM
 * @param seed       any value; equal seeds give equal tables
 * @param[out] out   the new encoder, the caller's to destroy; set to NULL on
 *                   failure
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT for a bad size;
 *         VBPR_ERR_OUT_OF_MEMORY; VBPR_ERR_UNSUPPORTED when the library was
 *         built without the "mf" module.
 */
VBPR_API vbpr_status vbpr_encoder_create_mf(size_t num_users, size_t num_items, size_t dim,
                                            uint64_t seed, vbpr_encoder **out);

/**
 * Creates a LightGCN encoder over the user-item graph of @p ds (every
 * interaction is an edge of weight 1; ratings are ignored). The encoder
 * copies what it needs: @p ds may be destroyed afterwards. Users and items
 * without interactions get no neighbours: their propagated layers are zero,
 * never NaN. Tables are initialised Xavier normal (gain 1), as the
 * reference code.
 *
 * @param ds          the training interactions; its universe sizes give the
 *                    table sizes (num_users + num_items must be < 2^31)
 * @param dim         embedding dimension, 1..VBPR_ENCODER_MAX_DIM
 * @param num_layers  propagation layers K, 1..VBPR_LIGHTGCN_MAX_LAYERS
 *                    (the LightGCN paper uses 1 to 4, the reference code 2)
 * @param seed        any value; equal seeds give equal tables
 * @param[out] out    the new encoder, the caller's to destroy; set to NULL on entry
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT; VBPR_ERR_OUT_OF_MEMORY;
 *         VBPR_ERR_UNSUPPORTED when built without the "lightgcn" module.
 */
VBPR_API vbpr_status vbpr_encoder_create_lightgcn(const vbpr_dataset *ds, size_t dim,
                                                  size_t num_layers, uint64_t seed,
                                                  vbpr_encoder **out);

/** Frees @p enc and everything it owns; NULL is a no-op. Pointers obtained
 *  from its getters become invalid. */
VBPR_API void vbpr_encoder_destroy(vbpr_encoder *enc);

/** The kind of @p enc, or 0 if @p enc is NULL. */
VBPR_API vbpr_encoder_kind vbpr_encoder_get_kind(const vbpr_encoder *enc);
/** Rows of the user table, or 0 if @p enc is NULL. */
VBPR_API size_t vbpr_encoder_num_users(const vbpr_encoder *enc);
/** Rows of the item table, or 0 if @p enc is NULL. */
VBPR_API size_t vbpr_encoder_num_items(const vbpr_encoder *enc);
/** Embedding dimension, or 0 if @p enc is NULL. */
VBPR_API size_t vbpr_encoder_dim(const vbpr_encoder *enc);
/** LightGCN layers K; 0 for MF or NULL. */
VBPR_API size_t vbpr_encoder_num_layers(const vbpr_encoder *enc);

/**
 * Re-initialises both tables (gradients are left alone).
 *
 * @param init   VBPR_INIT_NORMAL or VBPR_INIT_XAVIER_NORMAL
 * @param scale  the standard deviation (NORMAL) or the gain (XAVIER_NORMAL);
 *               finite, in (0, 1000]
 * @param seed   the counter RNG key; rows are drawn from (seed, table, row)
 */
VBPR_API vbpr_status vbpr_encoder_init_params(vbpr_encoder *enc, vbpr_init init,
                                              double scale, uint64_t seed);

/**
 * Embeddings of a batch, in the layout of the sampler and of
 * vbpr_loss_forward(): row b has user users[b], positives
 * pos[b*m .. b*m+m-1] and negatives neg[b*n .. b*n+n-1].
 *
 * LightGCN propagates the whole graph at every call (as the reference code
 * does per batch), into buffers kept in the handle: only the first call (or
 * a larger batch) allocates.
 *
 * Ids are validated before anything is written; on failure the outputs and
 * the recorded batch are unchanged. The batch is recorded for the next
 * vbpr_encoder_backward().
 *
 * @param batch     rows, >= 1
 * @param m, n      positives and negatives per row (each may be 0)
 * @param users     [batch] user ids in [0, num_users)
 * @param pos       [batch*m] item ids in [0, num_items); may be NULL if m == 0
 * @param neg       [batch*n] item ids in [0, num_items); may be NULL if n == 0
 * @param[out] user_emb  [batch*dim]
 * @param[out] pos_emb   [batch*m*dim]; may be NULL if m == 0
 * @param[out] neg_emb   [batch*n*dim]; may be NULL if n == 0
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL, zero batch, sizes that
 *         overflow); VBPR_ERR_OUT_OF_RANGE naming the array, position and
 *         id; VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_encoder_forward(vbpr_encoder *enc, size_t batch, size_t m,
                                          size_t n, const int32_t *users,
                                          const int32_t *pos, const int32_t *neg,
                                          float *user_emb, float *pos_emb,
                                          float *neg_emb);

/**
 * Adds to the parameter gradients the gradient of a scalar loss whose
 * gradients with respect to the last forward's outputs are given (same
 * shapes as those outputs). Each forward allows one backward: a second call
 * without a new forward is VBPR_ERR_STATE, as is a call before any forward.
 *
 * MF adds to the rows of the batch's ids only and records them as touched
 * (vbpr_encoder_touched_rows()). LightGCN propagates the gradient back
 * through the K layers (the adjacency is symmetric), which reaches every
 * connected row: all rows count as touched.
 *
 * @param grad_user  [batch*dim]
 * @param grad_pos   [batch*m*dim]; may be NULL if m == 0
 * @param grad_neg   [batch*n*dim]; may be NULL if n == 0
 * @return VBPR_OK; VBPR_ERR_STATE; VBPR_ERR_INVALID_ARGUMENT;
 *         VBPR_ERR_NUMERIC when a gradient entry is NaN or infinite
 *         (nothing is added).
 */
VBPR_API vbpr_status vbpr_encoder_backward(vbpr_encoder *enc, const float *grad_user,
                                           const float *grad_pos,
                                           const float *grad_neg);

/**
 * Sets the gradients to zero and clears the touched rows. Costs
 * O(touched rows * dim) for MF, O((num_users + num_items) * dim) for
 * LightGCN after a backward.
 */
VBPR_API vbpr_status vbpr_encoder_zero_grad(vbpr_encoder *enc);

/**
 * Borrowed access to one parameter table and its gradient, for a host's own
 * optimizer. The host may write the parameters (not the gradients). The
 * pointers stay valid until @p enc is destroyed; their contents change with
 * backward, zero_grad, optimizer steps, init_params and load.
 *
 * @param table       VBPR_TABLE_USERS or VBPR_TABLE_ITEMS
 * @param[out] param  [rows*dim] parameters; may be NULL if not wanted
 * @param[out] grad   [rows*dim] gradients; may be NULL if not wanted
 * @param[out] rows   table rows; may be NULL
 * @param[out] dim    embedding dimension; may be NULL
 */
VBPR_API vbpr_status vbpr_encoder_table(vbpr_encoder *enc, vbpr_table table,
                                        float **param, const float **grad,
                                        size_t *rows, size_t *dim);

/**
 * The rows of @p table whose gradient may be non-zero since the last
 * zero_grad, each once, in no particular order: what a sparse ("lazy")
 * optimizer updates. Borrowed; valid until the next backward, zero_grad or
 * destroy. For LightGCN after a backward this is every row.
 *
 * @param[out] rows   [count] row ids (not NULL even when count is 0)
 * @param[out] count  number of rows
 */
VBPR_API vbpr_status vbpr_encoder_touched_rows(const vbpr_encoder *enc, vbpr_table table,
                                               const int32_t **rows, size_t *count);

/**
 * The final embeddings of all users and all items, for scoring and
 * evaluation: the tables themselves for MF, the propagated mean of layers
 * 0..K for LightGCN (computed by this call from the current parameters).
 * Borrowed: [num_users*dim] and [num_items*dim], valid until the next
 * forward, embeddings, parameter change (optimizer step, host write,
 * init_params, load) or destroy of @p enc, whichever comes first.
 *
 * @param[out] users  may be NULL if not wanted
 * @param[out] items  may be NULL if not wanted
 */
VBPR_API vbpr_status vbpr_encoder_embeddings(vbpr_encoder *enc, const float **users,
                                             const float **items);

/**
 * Saves the parameters of @p enc to @p path in the libvbpr model format
 * (doc/model-format.md: header with magic, format version, byte order,
 * kind and sizes; little-endian float32 tables; FNV-1a 64 checksums).
 * Written atomically: to a temporary file in the same directory, flushed to
 * disk, then renamed over @p path, so @p path holds either the old file or
 * the complete new one, never a partial one.
 *
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT; VBPR_ERR_IO naming the path
 *         and the system error.
 */
VBPR_API vbpr_status vbpr_encoder_save(const vbpr_encoder *enc, const char *path);

/**
 * Loads parameters saved by vbpr_encoder_save() into @p enc, which must
 * have the same kind, dim, num_users, num_items (and layers for LightGCN).
 * The whole file is read and checked before @p enc is touched: on any error
 * @p enc is unchanged. Gradients and the recorded batch are kept.
 *
 * @return VBPR_OK; VBPR_ERR_IO (cannot open or read); VBPR_ERR_PARSE (not a
 *         model file, truncated, trailing bytes, checksum mismatch, bad
 *         header, non-finite values); VBPR_ERR_UNSUPPORTED (newer format
 *         version, foreign byte order or element type);
 *         VBPR_ERR_INVALID_ARGUMENT (kind or sizes differ from @p enc);
 *         VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_encoder_load(vbpr_encoder *enc, const char *path);

/**
 * Writes the final embeddings of one table (those of
 * vbpr_encoder_embeddings()) as a NumPy .npy file, format 1.0, dtype '<f4',
 * C order, shape (rows, dim), atomically like vbpr_encoder_save().
 * Load in Python with numpy.load(path).
 *
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT; VBPR_ERR_IO;
 *         VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_encoder_export_npy(vbpr_encoder *enc, vbpr_table table,
                                             const char *path);

VBPR_END_DECLS

#endif /* VBPR_ENCODER_H */
