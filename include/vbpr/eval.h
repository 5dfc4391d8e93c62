/*
 * libvbpr: full-ranking evaluation (Precision, Recall, NDCG, F1, HitRate,
 * APLT at several K) and top-K recommendation from embedding tables.
 *
 * Scores are inner products of a user row and an item row of two host-owned
 * float32 tables in row-major order: user_emb[num_users x dim] and
 * item_emb[num_items x dim]. Every item of the universe [0, num_items) is
 * ranked for every user, training items excluded (masked through the
 * training CSR; no users x items matrix is ever formed).
 *
 * Ranking rule (both the evaluator and vbpr_recommend): higher score first;
 * equal scores (including -0.0 == +0.0) put the lower item id first. Results
 * do not depend on the number of threads (vbpr_set_num_threads()).
 *
 * See doc/eval.md for the metric definitions and the reasons behind them.
 */
#ifndef VBPR_EVAL_H
#define VBPR_EVAL_H

#include "vbpr/common.h"
#include "vbpr/dataset.h"

VBPR_BEGIN_DECLS

/** Largest K accepted by vbpr_evaluator_set_ks() and vbpr_recommend(). */
#define VBPR_EVALUATOR_MAX_K 65536

/** Largest number of K values one evaluator computes in one pass. */
#define VBPR_EVALUATOR_MAX_KS 64

/** Evaluator handle: opaque. */
typedef struct vbpr_evaluator vbpr_evaluator;

/**
 * Ranking metrics. Values are part of the ABI: explicit, never renumbered,
 * only appended. For a user u with test items T(u) (n = |T(u)|), top-K list
 * L (its length may be below K, see doc/eval.md) and hits h = the number of
 * items of L in T(u):
 */
typedef enum vbpr_metric {
  VBPR_METRIC_PRECISION = 1, /**< h / K (K even when L is shorter) */
  VBPR_METRIC_RECALL = 2,    /**< h / n */
  VBPR_METRIC_NDCG = 3,      /**< DCG / IDCG, log2(r + 1) discounts, IDCG over min(n, K) ranks */
  VBPR_METRIC_F1 = 4,        /**< per user 2PR / (P + R) = 2h / (K + n), 0 when h = 0 */
  VBPR_METRIC_HIT_RATE = 5,  /**< 1 if h >= 1 else 0 */
  VBPR_METRIC_APLT = 6       /**< long-tail items in L / K */
} vbpr_metric;

/**
 * Creates an evaluator of rankings against @p test, excluding @p train's
 * items from each user's candidates and taking item popularity (for APLT)
 * from @p train's per-item counts.
 *
 * The evaluator keeps a reference to each dataset (datasets are reference
 * counted and immutable): the caller may destroy its own handles at any
 * time after this call; the data lives until vbpr_evaluator_destroy(). One
 * evaluator must not be used by two threads at once; evaluators sharing
 * datasets may run concurrently.
 *
 * Users of @p test without test items are skipped; @p test must have at
 * least one user with items. @p train and @p test need not have the same
 * universe sizes: vbpr_evaluator_run() requires tables covering both. A
 * (user, item) pair present in both sets is excluded from the ranking but
 * still counts in the user's n.
 *
 * Defaults: K = {20}; long-tail share 0.85.
 *
 * @param[in]  train  training interactions (mask and popularity); not NULL
 * @param[in]  test   held-out interactions; not NULL
 * @param[out] out    the new evaluator, to free with vbpr_evaluator_destroy();
 *                    set to NULL on entry
 * @return VBPR_OK, VBPR_ERR_INVALID_ARGUMENT (NULL, test without any user
 *         with items) or VBPR_ERR_OUT_OF_MEMORY.
 */
VBPR_API vbpr_status vbpr_evaluator_create(const vbpr_dataset *train, const vbpr_dataset *test,
                                      vbpr_evaluator **out);

/** Frees the evaluator and its workspaces (not the datasets). NULL is a no-op. */
VBPR_API void vbpr_evaluator_destroy(vbpr_evaluator *ev);

/**
 * Sets the list sizes at which metrics are computed, all in one pass (the
 * top max(ks) list is computed once and every K derived from it). Discards
 * the results of the previous run.
 *
 * @param ev  the evaluator
 * @param n   in [1, VBPR_EVALUATOR_MAX_KS]
 * @param ks  @p n distinct values in [1, VBPR_EVALUATOR_MAX_K], any order; copied
 * @return VBPR_OK or VBPR_ERR_INVALID_ARGUMENT (NULL, n out of range, a K
 *         out of range or repeated); on error the previous K set is kept.
 */
VBPR_API vbpr_status vbpr_evaluator_set_ks(vbpr_evaluator *ev, size_t n, const size_t *ks);

/**
 * Sets the share of the item universe that counts as long tail for APLT:
 * the floor(share * num_items) least popular items, by training count, ties
 * broken by lower item id first. Discards the results of the previous run.
 *
 * @param share  in (0, 1]; default 0.85
 * @return VBPR_OK or VBPR_ERR_INVALID_ARGUMENT.
 */
VBPR_API vbpr_status vbpr_evaluator_set_long_tail_share(vbpr_evaluator *ev, double share);

/**
 * Ranks all items for every test user and computes every metric at every K.
 *
 * Requirements: num_users >= the test universe's user count; num_items >=
 * both datasets' item universe sizes (items of the table beyond them are
 * ranked too: they are candidates with training count 0). Every value of
 * the rows used (all item rows, the rows of the evaluated users) must be
 * finite.
 *
 * The tables are read during the call only. Threads: up to
 * vbpr_get_num_threads(); the results are the same for any thread count.
 *
 * @param ev        the evaluator
 * @param num_users rows of @p user_emb, in [1, 2^31-1]
 * @param num_items rows of @p item_emb (the ranking universe), in [1, 2^31-1]
 * @param dim       columns of both tables, >= 1
 * @param user_emb  [num_users x dim] row-major
 * @param item_emb  [num_items x dim] row-major
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL, sizes too small or
 *         overflowing); VBPR_ERR_NUMERIC (a non-finite embedding value, or a
 *         NaN score from overflowing products; the message names the user
 *         and item); VBPR_ERR_OUT_OF_MEMORY. After an error the evaluator
 *         has no results (metric getters return VBPR_ERR_STATE).
 */
VBPR_API vbpr_status vbpr_evaluator_run(vbpr_evaluator *ev, size_t num_users,
                                        size_t num_items, size_t dim,
                                        const float *user_emb, const float *item_emb);

/**
 * The average of @p metric at @p k over the evaluated users of the last
 * successful run (each user weighs the same).
 *
 * @param[out] value  the average; untouched on failure
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL, unknown metric, k not in
 *         the K set); VBPR_ERR_STATE (no successful run since creation or
 *         since the settings changed).
 */
VBPR_API vbpr_status vbpr_evaluator_metric(const vbpr_evaluator *ev, vbpr_metric metric,
                                           size_t k, double *value);

/**
 * Per-user values of @p metric at @p k from the last successful run.
 * values[u] is user u's value, or NaN for a user that was not evaluated (no
 * test items). Writes exactly the num_users entries of that run.
 *
 * @param len          capacity of @p values, >= the run's num_users
 * @param[out] values  [len]; untouched on failure
 * @return as vbpr_evaluator_metric(), plus VBPR_ERR_INVALID_ARGUMENT when @p len
 *         is too small.
 */
VBPR_API vbpr_status vbpr_evaluator_user_metric(const vbpr_evaluator *ev, vbpr_metric metric,
                                                size_t k, size_t len, double *values);

/**
 * Number of users with at least one test item (the users averaged over);
 * fixed at creation. 0 if @p ev is NULL.
 */
VBPR_API size_t vbpr_evaluator_num_users_evaluated(const vbpr_evaluator *ev);

/**
 * Top-@p k items with their scores for each of @p n_users users, best first
 * (higher score, then lower item id). With @p train, the user's training
 * items are excluded (users >= train's user count have none); without it
 * every item is a candidate. When a user has fewer than @p k candidates the
 * rest of its row is filled with item -1 and score -INFINITY.
 *
 * Reentrant and thread-safe (no handle); allocates its workspace per call.
 *
 * @param[in]  train      training data to exclude, or NULL
 * @param      num_users  rows of @p user_emb, in [1, 2^31-1]
 * @param      num_items  rows of @p item_emb, in [1, 2^31-1] and >= train's
 *                        item count
 * @param      dim        >= 1
 * @param[in]  user_emb   [num_users x dim] row-major; the requested rows
 *                        must be finite
 * @param[in]  item_emb   [num_items x dim] row-major; must be finite
 * @param      n_users    >= 1
 * @param[in]  users      [n_users] ids in [0, num_users); repeats allowed
 * @param      k          in [1, VBPR_EVALUATOR_MAX_K]
 * @param[out] items_out  [n_users * k]: row b holds users[b]'s items
 * @param[out] scores_out [n_users * k] matching scores, or NULL
 * @return VBPR_OK, VBPR_ERR_INVALID_ARGUMENT, VBPR_ERR_OUT_OF_RANGE (a user
 *         id), VBPR_ERR_NUMERIC (non-finite values, NaN score) or
 *         VBPR_ERR_OUT_OF_MEMORY. On error nothing is written.
 */
VBPR_API vbpr_status vbpr_recommend(const vbpr_dataset *train, size_t num_users,
                                    size_t num_items, size_t dim, const float *user_emb,
                                    const float *item_emb, size_t n_users,
                                    const int32_t *users, size_t k, int32_t *items_out,
                                    float *scores_out);

VBPR_END_DECLS

#endif /* VBPR_EVAL_H */
