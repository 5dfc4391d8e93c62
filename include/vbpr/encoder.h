/*
 * libvbpr: encoders that turn user and item ids into embeddings, and the
 * model files that store their parameters.
 *
 * Three encoders share one interface (optional modules, see vbpr_has_module()):
 *  - MF (matrix factorisation): a user table and an item table; the
 *    embedding of an id is its row.
 *  - LightGCN: the same two tables propagated over the normalised
 *    user-item graph D^-1/2 A D^-1/2 for K layers; the embedding of a node
 *    is the mean of its layers 0..K (He et al., SIGIR 2020).
 *  - XSimGCL: LightGCN's propagation with random noise added to every
 *    layer in training, the mean of layers 1..K, and a contrastive InfoNCE
 *    term of its own between the final embeddings and one layer's
 *    (Yu et al., TKDE 2024). Its parameters: vbpr_encoder_param.
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
  VBPR_ENCODER_LIGHTGCN = 2, /**< LightGCN (module "lightgcn") */
  VBPR_ENCODER_XSIMGCL = 3   /**< XSimGCL (module "xsimgcl") */
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
/** Largest number of LightGCN (and XSimGCL) layers accepted. */
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

/**
 * Creates an XSimGCL encoder (Yu et al., "XSimGCL: Towards Extremely Simple
 * Graph Contrastive Learning for Recommendation", TKDE 2024) over the
 * user-item graph of @p ds, copied as for LightGCN. With E0 the tables and
 * A the normalised adjacency, a training forward computes for k = 1..K
 *     X_k = A X_{k-1} + eps * sign(A X_{k-1}) * u_k / ||u_k||   (per row,
 *           u_k uniform in [0, 1)^dim, a fresh draw for every row, layer
 *           and training step),     X_0 = E0,
 * and the embedding of a node is its row of F = (X_1 + ... + X_K) / K
 * (layer 0 is not in the mean). Evaluation (vbpr_encoder_embeddings(),
 * export) uses the same propagation without noise.
 *
 * The encoder adds a loss term of its own (vbpr_encoder_extra_loss(),
 * called between forward and backward; the trainer adds it to the batch
 * loss): the InfoNCE loss, with cosine
 * similarity and temperature tau, between the rows of F and of X_{l*} of
 * the batch's users and of its anchor positives (the first positive of each
 * row), each counted once, weighted by lambda:
 *     lambda * (InfoNCE(F_U, X_l*_U) + InfoNCE(F_I, X_l*_I)).
 * eps, tau, lambda and l* are parameters (vbpr_encoder_set()); the defaults
 * are those of the XSimGCL reference code (eps 0.2, tau 0.15, lambda 0.2,
 * l* 1, with K = 2 layers). The noise comes from the counter RNG keyed by
 * (seed, training step, layer, row): it does not depend on the thread
 * count. Tables are initialised Xavier normal (gain 1).
 *
 * @param ds          the training interactions (as for LightGCN)
 * @param dim         embedding dimension, 1..VBPR_ENCODER_MAX_DIM
 * @param num_layers  propagation layers K, 1..VBPR_LIGHTGCN_MAX_LAYERS
 *                    (the XSimGCL paper uses 2 or 3)
 * @param seed        the initialisation's and the noise's key
 * @param[out] out    the new encoder, the caller's to destroy; set to NULL on entry
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT; VBPR_ERR_OUT_OF_MEMORY;
 *         VBPR_ERR_UNSUPPORTED when built without the "xsimgcl" module.
 */
VBPR_API vbpr_status vbpr_encoder_create_xsimgcl(const vbpr_dataset *ds, size_t dim,
                                                 size_t num_layers, uint64_t seed,
                                                 vbpr_encoder **out);

/**
 * Parameters of encoder kinds that have their own (XSimGCL), set with
 * vbpr_encoder_set(). Values are explicit and never renumbered. Each
 * applies to the kinds named; on another kind it is
 * VBPR_ERR_INVALID_ARGUMENT. Bounds and defaults per kind:
 * vbpr_encoder_param_bounds(); names in parentheses.
 */
typedef enum vbpr_encoder_param {
  /** XSimGCL: noise magnitude eps ("noise_eps"), in [0, 100]; default 0.2;
   * 0 trains without noise */
  VBPR_ENCODER_NOISE_EPS = 1,
  /** XSimGCL: temperature tau of the contrastive term ("cl_tau"), in
   * [1e-4, 1e4]; default 0.15 */
  VBPR_ENCODER_CL_TAU = 2,
  /** XSimGCL: weight lambda of the contrastive term ("cl_weight"), in
   * [0, 1e6]; default 0.2; 0 leaves the term out */
  VBPR_ENCODER_CL_WEIGHT = 3,
  /** XSimGCL: the layer l* whose embeddings are contrasted with the final
   * ones ("cl_layer"), an integer in [1, the encoder's layers]; default 1 */
  VBPR_ENCODER_CL_LAYER = 4
} vbpr_encoder_param;

/** Bounds and default of @p p on an encoder of @p kind (see
 * vbpr_param_bounds). VBPR_ERR_INVALID_ARGUMENT for an unknown kind or
 * parameter, or one that does not apply to @p kind. The limit of
 * CL_LAYER that depends on the encoder (its layers) is checked by
 * vbpr_encoder_set(). */
VBPR_API vbpr_status vbpr_encoder_param_bounds(vbpr_encoder_kind kind, vbpr_encoder_param p,
                                               vbpr_param_bounds *bounds);
/** The name of @p p ("cl_tau"), static; NULL if unknown. */
VBPR_API const char *vbpr_encoder_param_name(vbpr_encoder_param p);
/** The parameter named @p name (case-insensitive, '-' matches '_'). */
VBPR_API vbpr_status vbpr_encoder_param_from_name(const char *name, vbpr_encoder_param *p);
/** A value of @p p given as text, validated against the bounds of the
 * first kind it applies to. */
VBPR_API vbpr_status vbpr_encoder_param_parse(vbpr_encoder_param p, const char *text,
                                              double *value);

/**
 * Sets one parameter of @p enc; it applies from the next forward.
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL, unknown parameter, one
 *   that does not apply to this kind, a value out of bounds, CL_LAYER above
 *   the encoder's layers); nothing is changed on failure.
 */
VBPR_API vbpr_status vbpr_encoder_set(vbpr_encoder *enc, vbpr_encoder_param p, double value);
/** Reads one parameter of @p enc into *value (untouched on failure). */
VBPR_API vbpr_status vbpr_encoder_get(const vbpr_encoder *enc, vbpr_encoder_param p,
                                      double *value);

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
/** Layers K of LightGCN or XSimGCL; 0 for MF or NULL. */
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
 * The encoder's own loss term for the batch of the last forward, into
 * *value: XSimGCL's weighted contrastive term; 0 for MF and LightGCN. Call
 * it after vbpr_encoder_forward() and before vbpr_encoder_backward(), and
 * add *value to the loss: that backward then adds the term's gradient to
 * the parameter gradients too, on top of the batch's. At most one call per
 * forward counts (a second one recomputes the same term). May allocate its
 * workspace at the first call (or a larger batch).
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL); VBPR_ERR_STATE (no
 *   forward since the last backward, or vbpr_encoder_embeddings() was
 *   called after the forward); VBPR_ERR_OUT_OF_MEMORY;
 *   VBPR_ERR_NUMERIC (a non-finite term). On failure *value is 0 and the
 *   next backward adds the batch's gradient only.
 */
VBPR_API vbpr_status vbpr_encoder_extra_loss(vbpr_encoder *enc, double *value);

/**
 * Adds to the parameter gradients the gradient of a scalar loss whose
 * gradients with respect to the last forward's outputs are given (same
 * shapes as those outputs). Each forward allows one backward: a second call
 * without a new forward is VBPR_ERR_STATE, as is a call before any forward.
 *
 * MF adds to the rows of the batch's ids only and records them as touched
 * (vbpr_encoder_touched_rows()). LightGCN and XSimGCL propagate the
 * gradient back through the K layers (the adjacency is symmetric), which
 * reaches every connected row: all rows count as touched. After a
 * successful vbpr_encoder_extra_loss() for this forward, the gradient of
 * the encoder's own term is added too.
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
 * 0..K for LightGCN, of layers 1..K without noise for XSimGCL (computed by
 * this call from the current parameters).
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
