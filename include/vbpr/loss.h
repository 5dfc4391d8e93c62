/*
 * libvbpr: the loss object. BPR, Variational BPR and InfoNCE, forward and
 * backward, for training loops that own their embeddings and their
 * optimizer.
 *
 * A host computes its embeddings (or its own similarity scores), calls a
 * forward to get the batch loss, then a backward to get the gradients it
 * feeds to its optimizer. Swapping BPR for Variational BPR changes only the
 * kind given to vbpr_loss_create(), the parameters set on the loss and the
 * number of positives (M) and negatives (N) per row the host provides.
 * The mathematics, with the derivation of every gradient, is in doc/loss.md.
 *
 * Per batch row b, with M positive scores s+_m = <u, i_m> and N negative
 * scores s-_n = <u, j_n>, and log-priors lp+_m, lp-_n (0 when not given):
 *   alpha = softmax_m(s+_m / c_pos + lp+_m [+ hardness prior])
 *   beta  = softmax_n(g * s-_n / c_neg + lp-_n [+ hardness prior]),
 *           g = +1 (hard) or -1 (easy)
 *   PROTOTYPE, PROTOTYPE_DETACHED:
 *     loss_b = softplus(-(sum_m alpha_m s+_m - sum_n beta_n s-_n))
 *   ELBO:
 *     loss_b = sum_m sum_n alpha_m beta_n softplus(-(s+_m - s-_n))
 *   BPR (M = N = 1): loss_b = softplus(-(s+ - s-))
 * The batch loss is the mean of loss_b over the rows; a backward gives the
 * gradients of grad_output times it. PROTOTYPE differentiates through alpha
 * and beta; DETACHED and ELBO treat them as constants; the hardness prior is
 * always a constant in backward.
 *
 * Buffers: every array is row-major float32, C-contiguous, and owned by the
 * caller. Output buffers are written, never read or accumulated into, and
 * must not overlap any input or each other. On failure no output buffer is
 * written.
 *
 * Stored forward: a forward keeps what its backward needs inside the loss.
 * Any number of backward calls may follow one successful forward (each gives
 * the same result for the same grad_output). A backward is VBPR_ERR_STATE when
 * there is no stored forward: none was made yet, the last forward failed, or
 * a parameter was set successfully since. The embedding-level backward reads
 * the user, pos and neg arrays of its forward again: they must stay valid and
 * unchanged until the last backward that uses them. Nothing else passed to a
 * forward is kept (log-priors and score arrays may be freed after it returns).
 *
 * Threads: one loss object must not be used by two threads at the same time;
 * different loss objects may be used concurrently. For large batches a call
 * splits its rows over up to vbpr_get_num_threads() threads; results do not
 * depend on the number of threads. A small call (a batch of a few rows, as
 * a per-sample host makes) runs on the calling thread without consulting
 * the thread setting, and once its workspaces exist it makes no system
 * call and no allocation.
 *
 * Memory: workspaces are kept in the loss and only grow; once a call has
 * run with a given batch, M, N and thread count, later calls with the same
 * or a smaller batch (and the same M, N and thread count) allocate nothing.
 */
#ifndef VBPR_LOSS_H
#define VBPR_LOSS_H

#include "vbpr/common.h"

VBPR_BEGIN_DECLS

/** Opaque loss object; create with vbpr_loss_create(). */
typedef struct vbpr_loss vbpr_loss;

/** Loss kinds. Values are part of the ABI and never renumbered. */
typedef enum vbpr_loss_kind {
  VBPR_LOSS_BPR = 1,         /**< classic BPR: one positive, one negative per row */
  VBPR_LOSS_VARIATIONAL = 2, /**< Variational BPR with M positives, N negatives */
  /** InfoNCE (sampled softmax): one positive, N negatives, temperature t:
   * loss_b = -log( e^{z+} / (e^{z+} + sum_n e^{z-_n}) ), z+ = s+ / t + lp+,
   * z-_n = s-_n / t + lp-_n (a log-prior shifts a candidate's logit; with
   * lp- = -log q_n it is the usual correction for negatives drawn with
   * probability q_n). Attention reported: alpha = 1, beta = the softmax of
   * the negatives' logits among themselves. */
  VBPR_LOSS_INFONCE = 3
} vbpr_loss_kind;

/**
 * Parameters, set with vbpr_loss_set() and read with vbpr_loss_get(). Values
 * are part of the ABI and never renumbered. Every value is passed as a
 * double and validated against the parameter's bounds, which
 * vbpr_loss_param_bounds() reports (ranges, defaults, integral or not); a
 * value outside them, NaN or Inf is VBPR_ERR_INVALID_ARGUMENT. Names (as in
 * messages and vbpr_loss_param_from_name()) are in parentheses.
 *
 * A BPR loss accepts only NUM_POS and NUM_NEG, and only the value 1 for
 * them. An INFONCE loss accepts NUM_POS (only 1), NUM_NEG (default 4) and
 * TEMPERATURE. Every other parameter is VARIATIONAL-only. A parameter that
 * does not apply to the loss's kind is VBPR_ERR_INVALID_ARGUMENT (for set
 * and get).
 */
typedef enum vbpr_loss_param {
  /** M, positives per row ("num_pos"): integral, 1..VBPR_LOSS_MAX_SAMPLES;
   * default 2 (BPR: 1) */
  VBPR_LOSS_NUM_POS = 1,
  /** N, negatives per row ("num_neg"): integral, 1..VBPR_LOSS_MAX_SAMPLES;
   * default 4 (BPR: 1) */
  VBPR_LOSS_NUM_NEG = 2,
  /** c_pos, positive attention temperature ("c_pos"): in [1e-6, 1e6];
   * default 4 */
  VBPR_LOSS_C_POS = 3,
  /** c_neg, negative attention temperature ("c_neg"): in [1e-6, 1e6];
   * default 4 */
  VBPR_LOSS_C_NEG = 4,
  /** a vbpr_estimator value ("estimator"); default VBPR_ESTIMATOR_PROTOTYPE */
  VBPR_LOSS_ESTIMATOR = 5,
  /** a vbpr_attention value ("neg_attention", 1 or -1); default
   * VBPR_ATTENTION_HARD */
  VBPR_LOSS_NEG_ATTENTION = 6,
  /** lambda_pos, weight of the built-in positive hardness prior
   * ("pos_hardness"): in [0, 1e6]; default 0 (off) */
  VBPR_LOSS_POS_HARDNESS = 7,
  /** lambda_neg, weight of the built-in negative hardness prior
   * ("neg_hardness"): in [0, 1e6]; default 0 (off) */
  VBPR_LOSS_NEG_HARDNESS = 8,
  /** tau, temperature of the hardness priors ("hardness_tau"): in
   * [1e-6, 1e6]; default 0.5 */
  VBPR_LOSS_HARDNESS_TAU = 9,
  /** t, the temperature of an INFONCE loss ("temperature"): in [1e-6, 1e6];
   * default 0.1. INFONCE-only. */
  VBPR_LOSS_TEMPERATURE = 10
} vbpr_loss_param;

/** Largest accepted M or N. */
#define VBPR_LOSS_MAX_SAMPLES 1048576

/**
 * How the Variational loss is estimated and differentiated. Values are part
 * of the ABI and never renumbered. Value names for vbpr_loss_param_parse()
 * are in parentheses.
 */
typedef enum vbpr_estimator {
  /** ("prototype") The paper's prototype loss softplus(-(<u,c+> - <u,c->));
   * gradients flow through alpha and beta, which depend on the scores. */
  VBPR_ESTIMATOR_PROTOTYPE = 1,
  /** ("prototype_detached", "detached", or the reference code's "plugin")
   * The same value; alpha and beta are constants in backward. */
  VBPR_ESTIMATOR_PROTOTYPE_DETACHED = 2,
  /** ("elbo", or the reference code's "exact") The expectation
   * sum_mn alpha_m beta_n softplus(-(s+_m - s-_n)); alpha and beta are
   * constants in backward. Costs O(M*N) per row. */
  VBPR_ESTIMATOR_ELBO = 3
} vbpr_estimator;

/** Sign g of the negative attention. Values are part of the ABI. */
typedef enum vbpr_attention {
  /** ("hard") beta = softmax(+s-/c_neg + lp-): high-scoring (hard) negatives
   * weigh more (the paper's Eq. 13). */
  VBPR_ATTENTION_HARD = 1,
  /** ("easy") beta = softmax(-s-/c_neg + lp-): likely false negatives weigh
   * less; a negative hardness prior can then mine hard ones. */
  VBPR_ATTENTION_EASY = -1
} vbpr_attention;

/**
 * Creates a loss with default parameters: for VBPR_LOSS_VARIATIONAL M = 2,
 * N = 4, c_pos = c_neg = 4, VBPR_ESTIMATOR_PROTOTYPE, VBPR_ATTENTION_HARD,
 * no hardness prior (tau 0.5); for VBPR_LOSS_BPR M = N = 1.
 *
 * For VBPR_LOSS_INFONCE: M = 1, N = 4, temperature 0.1.
 *
 * @param kind  VBPR_LOSS_BPR, VBPR_LOSS_VARIATIONAL or VBPR_LOSS_INFONCE;
 *              anything else is VBPR_ERR_INVALID_ARGUMENT.
 * @param[out] out  receives the new loss, owned by the caller, released with
 *              vbpr_loss_destroy(); set to NULL on entry.
 * @return VBPR_OK, VBPR_ERR_INVALID_ARGUMENT or VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_loss_create(vbpr_loss_kind kind, vbpr_loss **out);

/** Releases a loss and its workspaces. NULL is a no-op. */
VBPR_API void vbpr_loss_destroy(vbpr_loss *loss);

/** The kind of @p loss, or 0 if @p loss is NULL. */
VBPR_API vbpr_loss_kind vbpr_loss_get_kind(const vbpr_loss *loss);

/**
 * The bounds and default of parameter @p p on a loss of @p kind (see
 * vbpr_param_bounds in vbpr/common.h). Enum-valued parameters (ESTIMATOR,
 * NEG_ATTENTION) have VBPR_PARAM_NAMED set.
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT for an unknown kind or
 *   parameter, a parameter that does not apply to @p kind, or NULL bounds.
 */
VBPR_API vbpr_status vbpr_loss_param_bounds(vbpr_loss_kind kind, vbpr_loss_param p,
                                            vbpr_param_bounds *bounds);

/** The name of @p p ("c_pos" for VBPR_LOSS_C_POS), static; NULL if unknown. */
VBPR_API const char *vbpr_loss_param_name(vbpr_loss_param p);

/**
 * The parameter named @p name into *p: the names of vbpr_loss_param_name(),
 * compared without regard to case and with '-' matching '_' ("c-pos",
 * "C_POS" and "c_pos" all give VBPR_LOSS_C_POS).
 * @return VBPR_OK or VBPR_ERR_INVALID_ARGUMENT (unknown name, listing the
 *   known ones; NULL pointer).
 */
VBPR_API vbpr_status vbpr_loss_param_from_name(const char *name, vbpr_loss_param *p);

/**
 * Reads a value of parameter @p p given as text into *value: a number, or
 * for enum-valued parameters one of the value names given in parentheses at
 * the enum values above ("elbo", "exact", "easy"; matched as parameter
 * names are). The value is validated as vbpr_loss_set() would on a
 * VARIATIONAL loss.
 * @return VBPR_OK or VBPR_ERR_INVALID_ARGUMENT (the message lists the valid
 *   names); *value is untouched on failure.
 */
VBPR_API vbpr_status vbpr_loss_param_parse(vbpr_loss_param p, const char *text,
                                           double *value);

/**
 * Named configurations ("presets") of a VARIATIONAL loss, so that a host
 * swaps BPR for a known-good Variational BPR in one call. A preset sets the
 * estimator, the negative attention, the temperatures and the hardness
 * priors; it leaves M and N (the host's sampling) alone. The presets:
 *  - "paper": the paper's estimator (prototype, hard negative attention,
 *    c_pos = c_neg = 4, no hardness prior);
 *  - "reference-plugin": the later reference code's default (prototype
 *    detached, easy attention, negative hardness 0.5, tau 0.5);
 *  - "reference-exact": the same with the ELBO estimator;
 *  - "best": the library's best measured configuration, the winner on
 *    ml-100k under Adam in batches and under per-sample SGD, Adagrad and
 *    Adam (doc/loss.md, "Presets" and "Optimizer settings"): the ELBO
 *    estimator, easy attention, negative hardness 0.5, with item priors
 *    (vbpr_loss_preset_prior_weights()).
 * Names are matched without regard to case, '-' matching '_'.
 */
/** Number of presets. */
VBPR_API size_t vbpr_loss_preset_count(void);
/** Name of preset @p i (static), or NULL when i >= vbpr_loss_preset_count(). */
VBPR_API const char *vbpr_loss_preset_name(size_t i);
/**
 * Sets the parameters of preset @p name on @p loss. Like a successful
 * vbpr_loss_set() it discards the stored forward.
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL, unknown name listing the
 *   known ones, or a loss that is not VBPR_LOSS_VARIATIONAL); nothing is
 *   changed on failure.
 */
VBPR_API vbpr_status vbpr_loss_set_preset(vbpr_loss *loss, const char *name);

/**
 * The item-prior weights that go with preset @p name (matched as by
 * vbpr_loss_set_preset()): a1 (log rarity) and a2 (log good) of the
 * positive log-prior, b1 (log popularity) and b2 (log bad) of the negative
 * one, for vbpr_loss_item_log_priors() or vbpr_dataset_item_log_priors().
 * All zero for a preset measured without priors. A host that cannot
 * compute priors may use the preset without them (doc/loss.md gives both
 * figures).
 * @return VBPR_OK or VBPR_ERR_INVALID_ARGUMENT (NULL pointer, unknown name);
 *   the out-parameters are untouched on failure.
 */
VBPR_API vbpr_status vbpr_loss_preset_prior_weights(const char *name, double *a1,
                                                    double *a2, double *b1, double *b2);

/**
 * Per-item log-priors from plain arrays, for hosts without a vbpr_dataset:
 * the formulas of vbpr_dataset_item_log_priors() (vbpr/dataset.h), from the
 * same implementation, so that a dataset's counts and rating sums passed
 * here give bit-identical results:
 *   pop = counts[i] + 1, popularity = log1p(pop) / log1p(max pop),
 *   rarity = 1 - popularity, quality = rating_sums[i] / pop,
 *   good = sigmoid((quality - mean quality over all items) / 0.2),
 *   bad = 1 - good, each factor clamped at 1e-12 before its log;
 *   lp_pos[i] = a1 log rarity + a2 log good,
 *   lp_neg[i] = b1 log popularity + b2 log bad.
 * Gather them per sampled item into the log_prior_pos/neg arrays of a
 * forward (lp_pos for the positives, lp_neg for the negatives).
 *
 * @param num_items  items (0: nothing to do).
 * @param counts  [num_items]: each item's number of training interactions,
 *                or the host's own popularity (any finite value >= 0).
 * @param rating_sums  [num_items]: the sum of each item's ratings (or
 *                weights), or NULL when there are none (every quality is
 *                then 0, so good and bad are constant).
 * @param a1, a2, b1, b2  weights in [0, 1e6] (vbpr_loss_preset_prior_weights()
 *                gives a preset's).
 * @param[out] lp_pos, lp_neg  [num_items] each.
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL array, weight out of
 *   range, negative count); VBPR_ERR_NUMERIC (NaN or Inf in counts or
 *   rating_sums, named with its index). Nothing is written on failure.
 */
VBPR_API vbpr_status vbpr_loss_item_log_priors(size_t num_items, const double *counts,
                                               const double *rating_sums, double a1,
                                               double a2, double b1, double b2,
                                               float *lp_pos, float *lp_neg);

/**
 * Sets a parameter (see vbpr_loss_param for ranges and defaults). A
 * successful set discards the stored forward: the next backward is
 * VBPR_ERR_STATE until a new forward. A failed set changes nothing.
 *
 * @return VBPR_OK or VBPR_ERR_INVALID_ARGUMENT (NULL loss, unknown parameter,
 *         value out of range, not integral, NaN or Inf, or a parameter that
 *         does not apply to this kind).
 */
VBPR_API vbpr_status vbpr_loss_set(vbpr_loss *loss, vbpr_loss_param p, double value);

/**
 * Reads a parameter into *value (untouched on failure).
 * @return VBPR_OK or VBPR_ERR_INVALID_ARGUMENT.
 */
VBPR_API vbpr_status vbpr_loss_get(const vbpr_loss *loss, vbpr_loss_param p,
                                   double *value);

/**
 * Embedding-level forward with inner-product scores.
 *
 * @param batch  rows, >= 1.
 * @param dim    embedding size, >= 1.
 * @param user   [batch * dim]: the user embedding of each row.
 * @param pos    [batch * M * dim]: M positive item embeddings per row.
 * @param neg    [batch * N * dim]: N negative item embeddings per row.
 * @param log_prior_pos  [batch * M] or NULL (all zero).
 * @param log_prior_neg  [batch * N] or NULL (all zero).
 * @param[out] loss_out  the mean loss over the rows.
 *
 * user, pos and neg are read again by vbpr_loss_backward(): keep them valid
 * and unchanged until then.
 *
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL pointer, zero batch or
 *   dim, sizes whose product overflows size_t); VBPR_ERR_NUMERIC (NaN or Inf
 *   in an input, named with its row and position in the message, or a score
 *   or gradient overflowing float); VBPR_ERR_OUT_OF_MEMORY (workspace).
 */
VBPR_API vbpr_status vbpr_loss_forward(vbpr_loss *loss, size_t batch, size_t dim,
                                       const float *user, const float *pos,
                                       const float *neg,
                                       const float *log_prior_pos,
                                       const float *log_prior_neg,
                                       float *loss_out);

/**
 * Gradients of grad_output * (the loss of the stored embedding-level forward)
 * with respect to its user, pos and neg arrays. Written, not added.
 *
 * @param grad_output  the upstream gradient (1 for a plain training loop).
 * @param[out] grad_user  [batch * dim]
 * @param[out] grad_pos   [batch * M * dim]
 * @param[out] grad_neg   [batch * N * dim]
 * @return VBPR_OK; VBPR_ERR_STATE (no stored forward, or the stored one was
 *   score-level); VBPR_ERR_INVALID_ARGUMENT (NULL pointer);
 *   VBPR_ERR_NUMERIC (grad_output NaN or Inf).
 */
VBPR_API vbpr_status vbpr_loss_backward(vbpr_loss *loss, float grad_output,
                                        float *grad_user, float *grad_pos,
                                        float *grad_neg);

/**
 * Score-level forward, for hosts with their own similarity.
 *
 * @param pos_scores  [batch * M]
 * @param neg_scores  [batch * N]
 * Other parameters and return values as for vbpr_loss_forward(). The score
 * arrays are not kept.
 */
VBPR_API vbpr_status vbpr_loss_forward_scores(vbpr_loss *loss, size_t batch,
                                              const float *pos_scores,
                                              const float *neg_scores,
                                              const float *log_prior_pos,
                                              const float *log_prior_neg,
                                              float *loss_out);

/**
 * Gradients of grad_output * loss with respect to the scores of the stored
 * forward (score-level or embedding-level). Written, not added.
 *
 * @param[out] grad_pos_scores  [batch * M]
 * @param[out] grad_neg_scores  [batch * N]
 * @return VBPR_OK, VBPR_ERR_STATE, VBPR_ERR_INVALID_ARGUMENT or
 *   VBPR_ERR_NUMERIC, as for vbpr_loss_backward().
 */
VBPR_API vbpr_status vbpr_loss_backward_scores(vbpr_loss *loss, float grad_output,
                                               float *grad_pos_scores,
                                               float *grad_neg_scores);

/**
 * Fused forward and backward at the embedding level: the same results as
 * vbpr_loss_forward() followed by vbpr_loss_backward(), in one call that
 * validates once and spreads both passes over the same threads. This is the
 * fastest path for a training loop. The forward is stored as by
 * vbpr_loss_forward(), so further backward calls are allowed.
 *
 * @return as for vbpr_loss_forward(), plus VBPR_ERR_NUMERIC when grad_output
 *   is NaN or Inf. On failure neither loss_out nor any gradient is written.
 */
VBPR_API vbpr_status vbpr_loss_forward_backward(vbpr_loss *loss, size_t batch,
                                                size_t dim, const float *user,
                                                const float *pos, const float *neg,
                                                const float *log_prior_pos,
                                                const float *log_prior_neg,
                                                float grad_output, float *loss_out,
                                                float *grad_user, float *grad_pos,
                                                float *grad_neg);

/**
 * Fused forward and backward at the score level: vbpr_loss_forward_scores()
 * followed by vbpr_loss_backward_scores() in one call.
 */
VBPR_API vbpr_status vbpr_loss_forward_backward_scores(vbpr_loss *loss, size_t batch,
                                                       const float *pos_scores,
                                                       const float *neg_scores,
                                                       const float *log_prior_pos,
                                                       const float *log_prior_neg,
                                                       float grad_output,
                                                       float *loss_out,
                                                       float *grad_pos_scores,
                                                       float *grad_neg_scores);

/**
 * Double-precision fused forward and backward at the embedding level, for
 * hosts whose factors are double: the loss of vbpr_loss_forward_backward()
 * with every array, the mean loss and grad_output in double, and inner
 * products and embedding gradients computed in double (the per-row math is
 * double on every path). The same checks, errors and buffer rules (outputs
 * written, not added; nothing written on failure), the same threads and
 * workspaces.
 *
 * What it stores: the attention weights, row losses and batch size (read
 * with vbpr_loss_attention(), vbpr_loss_row_losses(), vbpr_loss_batch_size()),
 * not a forward for the float backward calls, which are VBPR_ERR_STATE
 * after it: its gradients are already computed, in double.
 */
VBPR_API vbpr_status vbpr_loss_forward_backward_f64(vbpr_loss *loss, size_t batch,
                                                    size_t dim, const double *user,
                                                    const double *pos, const double *neg,
                                                    const double *log_prior_pos,
                                                    const double *log_prior_neg,
                                                    double grad_output, double *loss_out,
                                                    double *grad_user, double *grad_pos,
                                                    double *grad_neg);

/**
 * Double-precision fused forward and backward at the score level:
 * vbpr_loss_forward_backward_scores() with double arrays. Stores as
 * vbpr_loss_forward_backward_f64().
 */
VBPR_API vbpr_status vbpr_loss_forward_backward_scores_f64(
    vbpr_loss *loss, size_t batch, const double *pos_scores, const double *neg_scores,
    const double *log_prior_pos, const double *log_prior_neg, double grad_output,
    double *loss_out, double *grad_pos_scores, double *grad_neg_scores);

/**
 * The attention weights of the stored forward: alpha [batch * M] and
 * beta [batch * N]; each row sums to 1 (up to rounding). A BPR loss gives 1.
 * Either pointer may be NULL to skip it, not both.
 * @return VBPR_OK, VBPR_ERR_STATE (no stored forward) or
 *   VBPR_ERR_INVALID_ARGUMENT.
 */
VBPR_API vbpr_status vbpr_loss_attention(const vbpr_loss *loss, float *alpha,
                                         float *beta);

/**
 * The per-row losses loss_b of the stored forward, [batch] (their mean is
 * the batch loss). For monitoring or host-side weighting.
 * @return VBPR_OK, VBPR_ERR_STATE or VBPR_ERR_INVALID_ARGUMENT.
 */
VBPR_API vbpr_status vbpr_loss_row_losses(const vbpr_loss *loss, float *row_loss);

/**
 * The batch size of the stored forward into *batch (untouched on failure),
 * so that a host can size its gradient buffers.
 * @return VBPR_OK, VBPR_ERR_STATE or VBPR_ERR_INVALID_ARGUMENT.
 */
VBPR_API vbpr_status vbpr_loss_batch_size(const vbpr_loss *loss, size_t *batch);

VBPR_END_DECLS

#endif /* VBPR_LOSS_H */
