/*
 * libvbpr: optimizers (SGD, Adam, lazy Adam) for an encoder's parameters or
 * for any float buffer of the host.
 *
 * An optimizer keeps its state (moments, step count) per "slot": a small
 * integer naming one parameter buffer. A slot is sized by its first step;
 * stepping it later with a different size is an error (use another slot, or
 * vbpr_optim_reset()). vbpr_optim_step_encoder() uses slot t for encoder
 * table t (VBPR_TABLE_USERS = 0, VBPR_TABLE_ITEMS = 1): a host mixing it
 * with its own buffers should give those slots 2 and up.
 *
 * Updates, with g the gradient, p the parameter, wd the weight decay:
 *  - SGD:  p -= lr * (g + wd * p)                      (torch.optim.SGD)
 *  - Adam: as torch.optim.Adam (amsgrad off): g += wd * p (L2 added to the
 *          gradient); m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2;
 *          p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),
 *          t the slot's step count; every element is updated, also those
 *          with a zero gradient.
 *  - Lazy Adam: the same formulas applied only to the rows whose gradient
 *          may be non-zero (the encoder's touched rows, or the rows given to
 *          vbpr_optim_step_rows()); other rows and their moments are left
 *          as they are; the bias correction uses the slot's step count. For
 *          big tables where a batch touches few rows.
 *  - Row-wise Adagrad (as FBGEMM's): per row, g += wd * p;
 *          acc_row += mean_k g_k^2; p -= lr * g / (sqrt(acc_row) + eps).
 *          One float of state per row (LIBMF's choice for MF).
 *  - Sparse Adam: the Adam formulas per row, with the row's own number of
 *          updates t in the bias corrections (beta1^t, beta2^t kept per
 *          row), so a row first updated late is not over-stepped as with
 *          lazy Adam's global count. For the fused path, where rows are
 *          updated tuple by tuple and no global step order exists.
 *  The last two (and SGD) are the row-wise kinds: they can update a row on
 *  its own, which the fused path (vbpr_optim_step_tuples) needs. They
 *  update only the listed (touched) rows of vbpr_optim_step_rows() and
 *  vbpr_optim_step_encoder() (SGD as described above); vbpr_optim_step()
 *  treats its buffer as one row. A slot's row width is fixed by its first
 *  step.
 *
 * A gradient holding NaN or an infinity fails with VBPR_ERR_NUMERIC before
 * anything is updated (parameters, moments and step counts unchanged).
 *
 * Threads: one optimizer must not be used by two threads at once. Large
 * updates use up to vbpr_get_num_threads() threads; results do not depend
 * on the thread count.
 */
#ifndef VBPR_OPTIM_H
#define VBPR_OPTIM_H

#include "vbpr/common.h"
#include "vbpr/encoder.h"
#include "vbpr/loss.h"

VBPR_BEGIN_DECLS

/** An optimizer (opaque). */
typedef struct vbpr_optim vbpr_optim;

/** Optimizer kinds. Values are explicit and never renumbered. */
typedef enum vbpr_optim_kind {
  VBPR_OPTIM_SGD = 1,        /**< plain SGD with L2 weight decay */
  VBPR_OPTIM_ADAM = 2,       /**< torch.optim.Adam: dense update */
  VBPR_OPTIM_LAZY_ADAM = 3,  /**< Adam on the touched rows only */
  VBPR_OPTIM_ADAGRAD = 4,    /**< row-wise Adagrad: one accumulator per row */
  VBPR_OPTIM_SPARSE_ADAM = 5 /**< Adam per row, each row with its own step count */
} vbpr_optim_kind;

/**
 * Hyper-parameters. Values are explicit and never renumbered. Bounds and
 * defaults: vbpr_optim_param_bounds(); names in parentheses.
 */
typedef enum vbpr_optim_param {
  /** learning rate ("lr"), in [0, 1e6]; default 1e-3 (Adam) or 1e-2 (SGD) */
  VBPR_OPTIM_LR = 1,
  /** Adam's first-moment decay ("beta1"), in [0, 1); default 0.9 */
  VBPR_OPTIM_BETA1 = 2,
  /** Adam's second-moment decay ("beta2"), in [0, 1); default 0.999 */
  VBPR_OPTIM_BETA2 = 3,
  /** Adam's denominator term ("eps"), in (0, 1e6]; default 1e-8 */
  VBPR_OPTIM_EPS = 4,
  /** L2 weight decay added to the gradient ("weight_decay"), in [0, 1e6];
   * default 0 */
  VBPR_OPTIM_WEIGHT_DECAY = 5
} vbpr_optim_param;

/** Bounds and default of @p p for an optimizer of @p kind. */
VBPR_API vbpr_status vbpr_optim_param_bounds(vbpr_optim_kind kind, vbpr_optim_param p,
                                             vbpr_param_bounds *bounds);
/** The name of @p p ("weight_decay"), static; NULL if unknown. */
VBPR_API const char *vbpr_optim_param_name(vbpr_optim_param p);
/** The parameter named @p name (case-insensitive, '-' matches '_'). */
VBPR_API vbpr_status vbpr_optim_param_from_name(const char *name, vbpr_optim_param *p);
/** A value of @p p given as text, validated against the bounds. */
VBPR_API vbpr_status vbpr_optim_param_parse(vbpr_optim_param p, const char *text,
                                            double *value);

/** Largest slot number plus one. */
#define VBPR_OPTIM_MAX_SLOTS 1024

/**
 * Creates an optimizer with the default hyper-parameters of @p kind.
 * @param[out] out  the caller's to destroy; set to NULL on entry
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (unknown kind);
 *         VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_optim_create(vbpr_optim_kind kind, vbpr_optim **out);

/** Frees @p opt and its state; NULL is a no-op. */
VBPR_API void vbpr_optim_destroy(vbpr_optim *opt);

/**
 * Sets one hyper-parameter; it applies from the next step (so a host can
 * schedule the learning rate). Parameters Adam does not use are accepted
 * and ignored by SGD.
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT naming the parameter and value
 *         when out of its range (see vbpr_optim_param) or unknown.
 */
VBPR_API vbpr_status vbpr_optim_set(vbpr_optim *opt, vbpr_optim_param param, double value);

/** Reads one hyper-parameter into @p value. */
VBPR_API vbpr_status vbpr_optim_get(const vbpr_optim *opt, vbpr_optim_param param,
                                    double *value);

/** The kind of @p opt, or 0 if NULL. */
VBPR_API vbpr_optim_kind vbpr_optim_get_kind(const vbpr_optim *opt);

/**
 * Steps a dense buffer: every element is updated (for LAZY_ADAM too, as if
 * every row were touched).
 * @param slot   0..VBPR_OPTIM_MAX_SLOTS-1, naming this buffer's state
 * @param n      >= 1; must equal the slot's size if it was used before
 * @param param  [n] parameters, updated in place
 * @param grad   [n] gradients, read only
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT; VBPR_ERR_NUMERIC (non-finite
 *         gradient, nothing updated); VBPR_ERR_OUT_OF_MEMORY (state).
 */
VBPR_API vbpr_status vbpr_optim_step(vbpr_optim *opt, int32_t slot, size_t n, float *param,
                                     const float *grad);

/**
 * Steps a table [rows x dim] whose gradient is zero outside the rows listed
 * in @p row_ids (their order does not matter; repeats count once). Only
 * those rows of @p grad are read. LAZY_ADAM updates only those rows; SGD
 * and ADAM update every row (a zero-gradient row still decays and moves
 * with its moments), giving exactly the dense result.
 * @param row_ids  [count] ids in [0, rows); may be NULL if count == 0
 * @return as vbpr_optim_step(); VBPR_ERR_OUT_OF_RANGE for a bad row id.
 */
VBPR_API vbpr_status vbpr_optim_step_rows(vbpr_optim *opt, int32_t slot, size_t rows,
                                          size_t dim, float *param, const float *grad,
                                          size_t count, const int32_t *row_ids);

/**
 * Steps both tables of @p enc from its accumulated gradients (slots 0 and
 * 1). LAZY_ADAM updates the touched rows only (vbpr_encoder_touched_rows());
 * SGD and ADAM update every row, reading the gradient of the touched rows
 * only (the others are zero), which gives exactly the dense step.
 * Gradients are not cleared: call vbpr_encoder_zero_grad() before the next
 * backward. Both tables are checked before either is updated.
 */
VBPR_API vbpr_status vbpr_optim_step_encoder(vbpr_optim *opt, vbpr_encoder *enc);

/**
 * The fused path: trains a host's own user and item tables on sampled
 * tuples, one tuple at a time, in place. For each tuple (users[t],
 * pos[t*M .. t*M+M-1], neg[t*N .. t*N+N-1]), with M and N those of
 * @p loss, it computes the scores s = <user row, item row>, the gradients of
 * that tuple's loss (any kind of vbpr_loss, with its parameters) with
 * respect to them, and updates the item rows (gradient ds * user row) then
 * the user row (sum of ds * item row, from the items as they were) with
 * this optimizer's row-wise rule, while the rows are in cache: no batch
 * buffers, gradient tables or separate optimizer sweep. Per tuple, not per
 * batch mean: the learning rate applies to each tuple's gradient.
 *
 * @p opt must be row-wise: VBPR_OPTIM_SGD, VBPR_OPTIM_ADAGRAD or
 * VBPR_OPTIM_SPARSE_ADAM (else VBPR_ERR_UNSUPPORTED). Its state for the user
 * table is in @p slot, for the item table in slot + 1 (sized by the first
 * call; each call counts one step of both).
 *
 * Threads: the tuples are split over up to vbpr_get_num_threads() threads
 * that update shared rows without locks (Hogwild). With one thread the
 * result is reproducible bit for bit; with more it varies from run to run,
 * as with any Hogwild trainer. The tables must not be used by the host
 * during the call.
 *
 * Errors: arguments and every id are checked before anything is updated
 * (VBPR_ERR_INVALID_ARGUMENT, VBPR_ERR_OUT_OF_RANGE naming the array,
 * position and id, VBPR_ERR_UNSUPPORTED, VBPR_ERR_OUT_OF_MEMORY: nothing
 * changed). The update is in place and cannot be undone: a tuple whose
 * scores, log-priors or gradients are not finite is skipped, the others are
 * applied, and the call returns VBPR_ERR_NUMERIC naming the first skipped
 * tuple and their number.
 *
 * @p loss is used for its parameters and workspace; its stored forward is
 * kept.
 *
 * @param slot        user state slot; the items use slot + 1
 * @param num_users, num_items, dim   the table sizes, rows >= 1, < 2^31
 * @param user_table  [num_users * dim], updated in place
 * @param item_table  [num_items * dim], updated in place
 * @param count       tuples (0: nothing to do)
 * @param users       [count] ids in [0, num_users)
 * @param pos         [count * M] ids in [0, num_items)
 * @param neg         [count * N] ids in [0, num_items)
 * @param item_log_prior_pos  [num_items] per-item log-prior of a positive
 *                    (vbpr_dataset_item_log_priors()), or NULL (0)
 * @param item_log_prior_neg  [num_items] the same for negatives, or NULL
 * @param[out] mean_loss  the mean loss of the applied tuples; may be NULL
 */
VBPR_API vbpr_status vbpr_optim_step_tuples(vbpr_optim *opt, vbpr_loss *loss, int32_t slot,
                                            size_t num_users, size_t num_items, size_t dim,
                                            float *user_table, float *item_table,
                                            size_t count, const int32_t *users,
                                            const int32_t *pos, const int32_t *neg,
                                            const float *item_log_prior_pos,
                                            const float *item_log_prior_neg,
                                            double *mean_loss);

/** Number of steps taken on @p slot (0 if never used). */
VBPR_API vbpr_status vbpr_optim_slot_steps(const vbpr_optim *opt, int32_t slot,
                                           int64_t *steps);

/** Forgets all state (moments, step counts, slot sizes); keeps the
 *  hyper-parameters. */
VBPR_API vbpr_status vbpr_optim_reset(vbpr_optim *opt);

VBPR_END_DECLS

#endif /* VBPR_OPTIM_H */
