/*
 * libvbpr: training tuple sampler for (Variational) BPR.
 *
 * Each row of a batch is a tuple (u, i_1..i_M, j_1..j_N):
 *  - u and i_1 come from the training data. In the INTERACTIONS mode
 *    (default) an epoch visits every training interaction once, in a
 *    shuffled order; in the USERS mode each row draws u uniformly among the
 *    users with at least one positive, then i_1 uniformly among u's items.
 *  - i_2..i_M are drawn uniformly, with replacement, from u's positives (so
 *    they may repeat i_1).
 *  - j_1..j_N are N distinct items u never interacted with in the training
 *    data (exact exclusion), uniformly or, with NEG_POP_EXPONENT a > 0, by
 *    successive sampling with weights (count_j + 1)^a, count_j being j's
 *    popularity in the data.
 * M = N = 1 is plain BPR sampling.
 *
 * Users with fewer than N items outside their positives cannot give N
 * distinct negatives: they are left out (their interactions are not visited
 * and they are never drawn). vbpr_sampler_rows_per_epoch() counts what is
 * left.
 *
 * Reproducibility: the epoch order depends only on (seed, epoch) and row r
 * of an epoch only on (seed, epoch, r, the parameters and the data), never
 * on the number of threads or the batch size. Large batches are filled in
 * parallel (vbpr_set_num_threads()).
 *
 * Lifetime and threads: the sampler keeps its dataset alive (it holds a
 * reference), so the dataset may be destroyed first. One sampler must not
 * be used by two threads at once; several samplers may share a dataset.
 */
#ifndef VBPR_SAMPLER_H
#define VBPR_SAMPLER_H

#include "vbpr/common.h"
#include "vbpr/dataset.h"

VBPR_BEGIN_DECLS

typedef struct vbpr_sampler vbpr_sampler;

/** How anchors (u, i_1) are chosen. Explicit values, never renumbered. */
typedef enum vbpr_sampler_mode {
  VBPR_SAMPLER_MODE_INTERACTIONS = 0, /**< every interaction once per epoch, shuffled */
  VBPR_SAMPLER_MODE_USERS = 1         /**< uniform user, then uniform positive */
} vbpr_sampler_mode;

/**
 * Parameters (vbpr_sampler_set / _get). Explicit values, append only.
 * Bounds and defaults: vbpr_sampler_param_bounds(); names (in parentheses)
 * for vbpr_sampler_param_from_name().
 */
typedef enum vbpr_sampler_param {
  /** Rows per vbpr_sampler_next(), B ("batch_size"): integer in [1, 2^24].
   * Default 1024. */
  VBPR_SAMPLER_BATCH_SIZE = 1,
  /** Positives per row, M ("num_pos"): integer in [1, 2^16]. Default 1. */
  VBPR_SAMPLER_NUM_POS = 2,
  /** Negatives per row, N ("num_neg"): integer in [1, min(2^16, num_items)].
   * Default 1. */
  VBPR_SAMPLER_NUM_NEG = 3,
  /** Seed ("seed"): integer in [0, 2^53]. Default 0. */
  VBPR_SAMPLER_SEED = 4,
  /** A vbpr_sampler_mode ("mode": "interactions" or "users"). Default
   * VBPR_SAMPLER_MODE_INTERACTIONS. */
  VBPR_SAMPLER_MODE = 5,
  /** Popularity exponent a of the negative distribution
   * ("neg_pop_exponent"), in [0, 16]; 0 (default) is uniform. */
  VBPR_SAMPLER_NEG_POP_EXPONENT = 6,
  /** The current epoch ("epoch"), an integer in [0, 2^53]. Setting it moves
   * to the start of that epoch (e.g. to resume a run). Starts at 0. */
  VBPR_SAMPLER_EPOCH = 7,
  /** USERS mode: rows per epoch ("users_epoch_rows"), an integer in
   * [0, 2^53]; 0 (default) means as many as the visited interactions of the
   * INTERACTIONS mode. */
  VBPR_SAMPLER_USERS_EPOCH_ROWS = 8,
  /** Data parallelism: the number of ranks W ("world_size"), an integer in
   * [1, 2^16], above RANK. Default 1. With W > 1 every batch of BATCH_SIZE
   * rows (the "global batch": exactly the rows one process with the same
   * parameters draws) is split into W contiguous shares, rank r filling
   * rows [r*n/W, (r+1)*n/W) of the batch's n rows; the union over the ranks
   * is the global batch. See vbpr_sampler_next_shard(). */
  VBPR_SAMPLER_WORLD_SIZE = 9,
  /** Data parallelism: this process's rank ("rank"), an integer in
   * [0, WORLD_SIZE). Default 0. Set WORLD_SIZE first (the enum's order). */
  VBPR_SAMPLER_RANK = 10
} vbpr_sampler_param;

/** Bounds and default of @p p (see vbpr_param_bounds). The data-dependent
 * limit of NUM_NEG (at most num_items) is checked by vbpr_sampler_set(). */
VBPR_API vbpr_status vbpr_sampler_param_bounds(vbpr_sampler_param p,
                                               vbpr_param_bounds *bounds);
/** The name of @p p ("batch_size"), static; NULL if unknown. */
VBPR_API const char *vbpr_sampler_param_name(vbpr_sampler_param p);
/** The parameter named @p name (case-insensitive, '-' matches '_'). */
VBPR_API vbpr_status vbpr_sampler_param_from_name(const char *name,
                                                  vbpr_sampler_param *p);
/** A value of @p p given as text (a number, or "users" for MODE), validated
 * against the bounds. */
VBPR_API vbpr_status vbpr_sampler_param_parse(vbpr_sampler_param p, const char *text,
                                              double *value);

/**
 * Creates a sampler over @p ds with default parameters, at the start of
 * epoch 0. @p ds gains a reference and stays alive while the sampler does.
 * @return VBPR_ERR_INVALID_ARGUMENT when @p ds has no interaction or no user
 *         with at least one item outside its positives.
 * @param[out] out  the new sampler; free with vbpr_sampler_destroy(); set to
 *                  NULL on entry.
 */
VBPR_API vbpr_status vbpr_sampler_create(const vbpr_dataset *ds, vbpr_sampler **out);

/** Frees a sampler and drops its dataset reference. NULL: no-op. */
VBPR_API void vbpr_sampler_destroy(vbpr_sampler *s);

/**
 * Sets a parameter. Out-of-range values are VBPR_ERR_INVALID_ARGUMENT and
 * change nothing, as is an N that leaves no user with N negatives, or a
 * B * M or B * N of 2^31 or more. Any parameter but BATCH_SIZE restarts the
 * current epoch from its first row (EPOCH moves to the given one).
 */
VBPR_API vbpr_status vbpr_sampler_set(vbpr_sampler *s, vbpr_sampler_param param, double value);

/** Reads a parameter into *value. */
VBPR_API vbpr_status vbpr_sampler_get(const vbpr_sampler *s, vbpr_sampler_param param,
                                      double *value);

/**
 * Fills the next rows of the current epoch: users[rows], pos[rows * M] and
 * neg[rows * N], row-major (row b's positives are pos[b*M .. b*M+M-1]).
 * Buffers must hold B, B * M and B * N int32_t values (B = BATCH_SIZE).
 *
 * *rows gets the number of rows filled: B, fewer for the last batch of an
 * epoch, and 0 once the epoch is over. That 0 also starts the next epoch:
 * the following call returns its first rows. Nothing is written on error.
 *
 * With WORLD_SIZE > 1 it fills this rank's share of the global batch. A
 * share can be empty (a last batch with fewer rows than ranks), which this
 * function cannot tell from the end of the epoch: it then fails with
 * VBPR_ERR_STATE and changes nothing; data-parallel loops use
 * vbpr_sampler_next_shard().
 */
VBPR_API vbpr_status vbpr_sampler_next(vbpr_sampler *s, int32_t *users, int32_t *pos,
                                       int32_t *neg, size_t *rows);

/**
 * This rank's share of the next global batch (see VBPR_SAMPLER_WORLD_SIZE),
 * for data-parallel loops whose ranks must stay in step: *rows gets the rows
 * filled (the share, which may be 0 when the global batch has fewer rows
 * than there are ranks) and *batch_rows the rows of the whole global batch,
 * 0 once the epoch is over (that call also starts the next epoch, as for
 * vbpr_sampler_next()). The share's rows are written from index 0 of the
 * buffers, which must hold what vbpr_sampler_next() needs. With
 * WORLD_SIZE 1, *rows == *batch_rows. Nothing is written on error.
 */
VBPR_API vbpr_status vbpr_sampler_next_shard(vbpr_sampler *s, int32_t *users, int32_t *pos,
                                             int32_t *neg, size_t *rows,
                                             size_t *batch_rows);

/**
 * Abandons the rest of the current epoch and starts the next one. At the
 * very start of an epoch (no rows drawn yet) it does nothing.
 */
VBPR_API vbpr_status vbpr_sampler_reset(vbpr_sampler *s);

/** The current epoch (0 for NULL). */
VBPR_API int64_t vbpr_sampler_epoch(const vbpr_sampler *s);

/** Rows in each epoch with the current parameters (0 for NULL). */
VBPR_API size_t vbpr_sampler_rows_per_epoch(const vbpr_sampler *s);

/** Rows of the current epoch already returned (0 for NULL). */
VBPR_API size_t vbpr_sampler_position(const vbpr_sampler *s);

VBPR_END_DECLS

#endif /* VBPR_SAMPLER_H */
