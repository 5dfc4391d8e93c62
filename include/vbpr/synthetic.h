/*
 * libvbpr: synthetic implicit feedback with known ground truth.
 *
 * The built-in data for demos and tests: no download needed, and the truth
 * is known, so that tests can measure how well a model recovers it and how
 * it copes with noise (false positives and false negatives).
 *
 * Model. Users and items get latent factors p_u, q_i ~ N(0, I_dim) and each
 * item a popularity from a power law: items take the ranks 1..num_items in
 * a random order and pop_i = rank_i^-POPULARITY. The affinity is
 *     a_ui = SHARPNESS * <p_u, q_i> / sqrt(dim) + log(pop_i).
 * Each user has T_u true preferences (T_u log-normal around
 * MEAN_PREFERENCES, clipped to [2, num_items / 2]), drawn without
 * replacement with probabilities proportional to exp(a_ui) (Gumbel top-k).
 * round(TEST_FRACTION * T_u) of them form the test set; the rest are the
 * clean training positives. Noise then touches the training set only:
 *  - false negatives: round(FALSE_NEGATIVES * clean) of the clean positives
 *    are held back (in neither set);
 *  - false positives: random items outside the user's true preferences are
 *    added, so that they make up a FALSE_POSITIVES share of the user's
 *    training interactions.
 * The test set depends only on the seed and the model parameters, not on
 * the noise levels, so that runs at several noise levels compare fairly.
 *
 * The defaults (1000 users, 1500 items, 64 preferences per user, 20% test)
 * give about 51k training and 13k test interactions, on which a plain
 * matrix factorisation reaches a clearly non-trivial Recall@20 within
 * seconds.
 *
 * Threads: a configuration may be read by several threads at once;
 * setting parameters needs exclusive access. Results do not depend on the
 * number of threads.
 */
#ifndef VBPR_SYNTHETIC_H
#define VBPR_SYNTHETIC_H

#include "vbpr/common.h"
#include "vbpr/dataset.h"

VBPR_BEGIN_DECLS

/** A synthetic-data configuration (opaque, growable). */
typedef struct vbpr_synthetic vbpr_synthetic;

/**
 * Parameters. Explicit values, append only. Ranges are inclusive; bounds
 * and defaults: vbpr_synthetic_param_bounds(). The name of each parameter
 * is its enumerator without the prefix, in lower case ("false_positives").
 */
typedef enum vbpr_synthetic_param {
  VBPR_SYNTHETIC_NUM_USERS = 1,        /**< integer in [1, 2^24]; default 1000 */
  VBPR_SYNTHETIC_NUM_ITEMS = 2,        /**< integer in [4, 2^24]; default 1500 */
  VBPR_SYNTHETIC_DIM = 3,              /**< latent dimension, integer in [1, 1024]; default 16 */
  VBPR_SYNTHETIC_MEAN_PREFERENCES = 4, /**< mean T_u, in [2, 2^20]; default 64 */
  VBPR_SYNTHETIC_TEST_FRACTION = 5,    /**< in [0, 0.9]; default 0.2 */
  VBPR_SYNTHETIC_POPULARITY = 6,       /**< power-law exponent, in [0, 4]; default 0.8 */
  VBPR_SYNTHETIC_SHARPNESS = 7,        /**< weight of the factors, in [0, 100]; default 3 */
  VBPR_SYNTHETIC_FALSE_POSITIVES = 8,  /**< share of training data, in [0, 0.9]; default 0 */
  VBPR_SYNTHETIC_FALSE_NEGATIVES = 9,  /**< share held back, in [0, 0.9]; default 0 */
  VBPR_SYNTHETIC_SEED = 10,            /**< integer in [0, 2^53]; default 0 */
  /** 1: the training set carries ratings that label each interaction, 1 for
   * a true preference and 0 for an injected false positive (ground truth
   * for analysis; a model must not see it). 0 (default): no ratings. */
  VBPR_SYNTHETIC_LABELS = 11
} vbpr_synthetic_param;

/** Bounds and default of @p p (see vbpr_param_bounds). */
VBPR_API vbpr_status vbpr_synthetic_param_bounds(vbpr_synthetic_param p,
                                                 vbpr_param_bounds *bounds);
/** The name of @p p ("num_users"), static; NULL if unknown. */
VBPR_API const char *vbpr_synthetic_param_name(vbpr_synthetic_param p);
/** The parameter named @p name (case-insensitive, '-' matches '_'). */
VBPR_API vbpr_status vbpr_synthetic_param_from_name(const char *name,
                                                    vbpr_synthetic_param *p);
/** A value of @p p given as text, validated against the bounds. */
VBPR_API vbpr_status vbpr_synthetic_param_parse(vbpr_synthetic_param p, const char *text,
                                                double *value);

/** Creates a configuration with the defaults. Free with
 * vbpr_synthetic_destroy(). *out is set to NULL on entry. */
VBPR_API vbpr_status vbpr_synthetic_create(vbpr_synthetic **out);

/** Frees a configuration. NULL: no-op. */
VBPR_API void vbpr_synthetic_destroy(vbpr_synthetic *cfg);

/** Sets a parameter; out-of-range values are VBPR_ERR_INVALID_ARGUMENT and
 * change nothing. */
VBPR_API vbpr_status vbpr_synthetic_set(vbpr_synthetic *cfg, vbpr_synthetic_param param,
                                        double value);

/** Reads a parameter into *value. */
VBPR_API vbpr_status vbpr_synthetic_get(const vbpr_synthetic *cfg, vbpr_synthetic_param param,
                                        double *value);

/**
 * Generates the training and the test set (same universe: NUM_USERS x
 * NUM_ITEMS; the two never overlap). Deterministic for a configuration.
 * Either both datasets are created (caller-owned) or neither (*train and
 * *test are set to NULL on entry).
 */
VBPR_API vbpr_status vbpr_synthetic_generate(const vbpr_synthetic *cfg, vbpr_dataset **train,
                                             vbpr_dataset **test);

/**
 * The true affinities a_ui of one user for every item, into
 * scores[0 .. num_items-1] (@p len >= num_items): ranking by them is the
 * best any model can do. Costs O(num_items * dim).
 */
VBPR_API vbpr_status vbpr_synthetic_true_scores(const vbpr_synthetic *cfg, int32_t user,
                                                size_t len, float *scores);

VBPR_END_DECLS

#endif /* VBPR_SYNTHETIC_H */
