/*
 * libvbpr: interaction data sets.
 *
 * A vbpr_dataset holds implicit (or rated) feedback as a compressed sparse
 * row (CSR) matrix: for each user, the sorted, unique ids of the items the
 * user interacted with, optionally with one rating (or weight) each.
 *
 * Ids are int32_t in [0, INT32_MAX). The universe sizes (number of users and
 * items) may exceed the largest id seen, so that a train and a test set can
 * share one id space.
 *
 * Lifetime and threads: a dataset is immutable after creation and may be
 * read by any number of threads at once. It is reference counted inside the
 * library: objects built on it (a vbpr_sampler, for one) keep it alive, so
 * vbpr_dataset_destroy() only drops the caller's reference and the memory
 * goes when the last user lets go. Pointers returned by the accessors are
 * borrowed and valid while the caller still holds its reference.
 *
 * Duplicates: a (user, item) pair that occurs several times becomes one
 * interaction; its rating is combined as the VBPR_DATASET_OPTIONS_DUPLICATES
 * policy says (default: the maximum).
 */
#ifndef VBPR_DATASET_H
#define VBPR_DATASET_H

#include "vbpr/common.h"

VBPR_BEGIN_DECLS

typedef struct vbpr_dataset vbpr_dataset;

/** Options for building or loading a dataset: an opaque, growable set of
 * parameters (see vbpr_dataset_options_param). */
typedef struct vbpr_dataset_options vbpr_dataset_options;

/** Pass as num_users / num_items of vbpr_dataset_create() to infer the size
 * from the data. */
#define VBPR_DATASET_INFER SIZE_MAX

/** File formats. Values are explicit and never renumbered. */
typedef enum vbpr_dataset_format {
  /** Decide from the first non-blank line: a tab or a comma means TABLE,
   * otherwise USER_LISTS. */
  VBPR_DATASET_FORMAT_AUTO = 0,
  /** Delimited table, tab- or comma-separated (taken from the first line):
   * columns user, item and optionally rating; further columns are ignored
   * but every row must have as many fields as the first line. An optional
   * header line (see VBPR_DATASET_OPTIONS_HEADER). MovieLens ml-100k style. */
  VBPR_DATASET_FORMAT_TABLE = 1,
  /** One line per user: `user item item ...`, separated by spaces or tabs.
   * A line with only a user id is a user without interactions. No ratings.
   * Gowalla (LightGCN) style. */
  VBPR_DATASET_FORMAT_USER_LISTS = 2
} vbpr_dataset_format;

/** How repeated (user, item) pairs are merged. The interaction is kept once
 * in every case; the policy decides its rating. Explicit values. */
typedef enum vbpr_dataset_duplicates {
  VBPR_DATASET_DUPLICATES_MAX = 0,   /**< the largest rating (default) */
  VBPR_DATASET_DUPLICATES_LAST = 1,  /**< the last one in input order */
  VBPR_DATASET_DUPLICATES_FIRST = 2, /**< the first one in input order */
  VBPR_DATASET_DUPLICATES_MEAN = 3,  /**< the mean of the ratings */
  VBPR_DATASET_DUPLICATES_SUM = 4    /**< the sum (e.g. for visit counts as weights) */
} vbpr_dataset_duplicates;

/**
 * Parameters of a vbpr_dataset_options. Explicit values, append only. All
 * are integers; bounds and defaults: vbpr_dataset_options_param_bounds();
 * names in parentheses.
 */
typedef enum vbpr_dataset_options_param {
  /** A vbpr_dataset_format ("format": "auto", "table", "user_lists" or
   * "lists"). Default VBPR_DATASET_FORMAT_AUTO. */
  VBPR_DATASET_OPTIONS_FORMAT = 1,
  /** ("header") TABLE format: 1 the first line is a header and is skipped,
   * 0 there is none, -1 (default) there is one when the first field of the
   * first line is not a number. */
  VBPR_DATASET_OPTIONS_HEADER = 2,
  /** A vbpr_dataset_duplicates ("duplicates": "max", "last", "first",
   * "mean", "sum"). Default VBPR_DATASET_DUPLICATES_MAX. */
  VBPR_DATASET_OPTIONS_DUPLICATES = 3,
  /** ("num_users") Exact number of users, or -1 (default) to infer. With an
   * exact size, an id >= it is VBPR_ERR_OUT_OF_RANGE. */
  VBPR_DATASET_OPTIONS_NUM_USERS = 4,
  /** ("num_items") Exact number of items, or -1 (default) to infer. */
  VBPR_DATASET_OPTIONS_NUM_ITEMS = 5,
  /** ("min_users") When inferring, the universe has at least this many
   * users (default 0): e.g. a test set loaded with the train set's sizes. */
  VBPR_DATASET_OPTIONS_MIN_USERS = 6,
  /** ("min_items") When inferring, at least this many items (default 0). */
  VBPR_DATASET_OPTIONS_MIN_ITEMS = 7,
  /** ("remap_ids") Files only. 1: ids in the file are arbitrary
   * non-negative integers below 2^63 ("raw" ids), renumbered densely in
   * ascending raw order; the mapping is kept (vbpr_dataset_raw_user_ids()
   * and friends). 0 (default): ids are used as they are and must be below
   * INT32_MAX. */
  VBPR_DATASET_OPTIONS_REMAP_IDS = 8
} vbpr_dataset_options_param;

/** Bounds and default of @p p (see vbpr_param_bounds). */
VBPR_API vbpr_status vbpr_dataset_options_param_bounds(vbpr_dataset_options_param p,
                                                       vbpr_param_bounds *bounds);
/** The name of @p p ("remap_ids"), static; NULL if unknown. */
VBPR_API const char *vbpr_dataset_options_param_name(vbpr_dataset_options_param p);
/** The parameter named @p name (case-insensitive, '-' matches '_'). */
VBPR_API vbpr_status vbpr_dataset_options_param_from_name(const char *name,
                                                          vbpr_dataset_options_param *p);
/** A value of @p p given as text (a number, or a value name such as
 * "lists" for FORMAT), validated against the bounds. */
VBPR_API vbpr_status vbpr_dataset_options_param_parse(vbpr_dataset_options_param p,
                                                      const char *text, double *value);

/**
 * Creates an options object with every parameter at its default.
 * @param[out] out  receives the handle; free with vbpr_dataset_options_destroy();
 *                  set to NULL on entry.
 */
VBPR_API vbpr_status vbpr_dataset_options_create(vbpr_dataset_options **out);

/** Frees an options object (and its reference dataset, if any). NULL: no-op. */
VBPR_API void vbpr_dataset_options_destroy(vbpr_dataset_options *opts);

/**
 * Sets one parameter. The value must be an integer in the range the
 * parameter documents, else VBPR_ERR_INVALID_ARGUMENT (options unchanged).
 */
VBPR_API vbpr_status vbpr_dataset_options_set(vbpr_dataset_options *opts,
                                              vbpr_dataset_options_param option, double value);

/** Reads one parameter into *value. */
VBPR_API vbpr_status vbpr_dataset_options_get(const vbpr_dataset_options *opts,
                                              vbpr_dataset_options_param option, double *value);

/**
 * Makes datasets loaded with @p opts share the id space of @p reference: the
 * universe is at least reference's (as MIN_USERS / MIN_ITEMS), and with
 * REMAP_IDS the raw ids known to @p reference keep their dense ids (new raw
 * ids are numbered after them, in ascending order). Use it to load a test
 * file for a train set already loaded. The options keep @p reference alive
 * until they are destroyed or another reference is set; NULL clears it.
 */
VBPR_API vbpr_status vbpr_dataset_options_set_reference(vbpr_dataset_options *opts,
                                                        const vbpr_dataset *reference);

/**
 * Builds a dataset from interaction arrays in memory (copied).
 *
 * @param num_users  universe size (<= 2^31-1), or VBPR_DATASET_INFER (largest
 *                   user id + 1, at least the MIN_USERS option). Every id
 *                   must be below it.
 * @param num_items  likewise for items.
 * @param count      number of pairs (0 gives an empty dataset).
 * @param users      [count] user ids (NULL allowed only when count is 0).
 * @param items      [count] item ids.
 * @param ratings    [count] finite ratings or weights, or NULL for none.
 * @param opts       NULL for defaults; DUPLICATES and MIN_USERS / MIN_ITEMS
 *                   are used, the file-related parameters are ignored.
 * @param[out] out   the new dataset, caller-owned (vbpr_dataset_destroy);
 *                   set to NULL on entry.
 * @return VBPR_ERR_OUT_OF_RANGE for an id outside [0, universe) (naming the
 *         index), VBPR_ERR_NUMERIC for a NaN or infinite rating,
 *         VBPR_ERR_INVALID_ARGUMENT for bad sizes or NULL arrays.
 */
VBPR_API vbpr_status vbpr_dataset_create(size_t num_users, size_t num_items, size_t count,
                                         const int32_t *users, const int32_t *items,
                                         const float *ratings,
                                         const vbpr_dataset_options *opts,
                                         vbpr_dataset **out);

/**
 * Loads a dataset from a file (see vbpr_dataset_format).
 *
 * Input rules, one per messy case:
 *  - A UTF-8 byte order mark at the start is skipped; a UTF-16 one is an
 *    error. CRLF line ends are accepted (the CR is dropped). The last line
 *    may lack its newline. Blank lines are skipped.
 *  - A file with no data line and no header is VBPR_ERR_PARSE ("empty
 *    file"); a TABLE file with only its header is a valid empty dataset.
 *  - A non-numeric id, an empty field, a missing column or a NUL byte is
 *    VBPR_ERR_PARSE; a negative id or one >= INT32_MAX (or >= an exact
 *    NUM_USERS / NUM_ITEMS) is VBPR_ERR_OUT_OF_RANGE; a NaN or infinite
 *    rating is VBPR_ERR_NUMERIC. The message names the file, the line and
 *    the column (1-based, in bytes), and quotes the offending field.
 *  - Ratings are read with '.' as the decimal point whatever the locale.
 * On any error no dataset is created.
 *
 * @param path      file to read.
 * @param opts      NULL for defaults.
 * @param[out] out  the new dataset, caller-owned; set to NULL on entry.
 */
VBPR_API vbpr_status vbpr_dataset_load(const char *path, const vbpr_dataset_options *opts,
                                       vbpr_dataset **out);

/**
 * Loads a train and a test file into one shared id space: both datasets get
 * the same universe (the larger of the two files' inferred sizes, or what
 * @p opts fixes) and, with REMAP_IDS, one common mapping. Either both are
 * created or neither (*train and *test are set to NULL on entry).
 */
VBPR_API vbpr_status vbpr_dataset_load_pair(const char *train_path, const char *test_path,
                                            const vbpr_dataset_options *opts,
                                            vbpr_dataset **train, vbpr_dataset **test);

/** Drops the caller's reference (frees the dataset when no sampler or
 * options object still uses it). NULL: no-op. */
VBPR_API void vbpr_dataset_destroy(vbpr_dataset *ds);

/** Universe sizes (ids are below them, so they fit an int32_t); 0 if @p ds
 * is NULL. */
VBPR_API size_t vbpr_dataset_num_users(const vbpr_dataset *ds);
VBPR_API size_t vbpr_dataset_num_items(const vbpr_dataset *ds);

/** Number of interactions after merging duplicates; 0 if @p ds is NULL. */
VBPR_API size_t vbpr_dataset_num_interactions(const vbpr_dataset *ds);

/** Number of users with at least one interaction; 0 if @p ds is NULL. */
VBPR_API size_t vbpr_dataset_num_active_users(const vbpr_dataset *ds);

/** 1 if the dataset carries ratings (or weights), else 0 (also for NULL). */
VBPR_API int vbpr_dataset_has_ratings(const vbpr_dataset *ds);

/**
 * The whole CSR, borrowed: offsets[num_users + 1], items[num_interactions],
 * each user's items sorted ascending and unique. Any out-pointer may be
 * NULL. *ratings gets NULL when the data has no ratings, else
 * ratings[num_interactions] aligned with items.
 */
VBPR_API vbpr_status vbpr_dataset_csr(const vbpr_dataset *ds, const int64_t **offsets,
                                      const int32_t **items, const float **ratings);

/** One user's positives, borrowed and sorted ascending: items[*count].
 * VBPR_ERR_OUT_OF_RANGE if @p user is not in [0, num_users). */
VBPR_API vbpr_status vbpr_dataset_user_items(const vbpr_dataset *ds, int32_t user,
                                             const int32_t **items, size_t *count);

/** 1 if (user, item) is an interaction, 0 if not, out of range or ds NULL.
 * O(log degree). */
VBPR_API int vbpr_dataset_contains(const vbpr_dataset *ds, int32_t user, int32_t item);

/** Per-item interaction counts (popularity), borrowed: counts[num_items]. */
VBPR_API vbpr_status vbpr_dataset_item_counts(const vbpr_dataset *ds, const int64_t **counts);

/** Per-item sums of ratings, borrowed: sums[num_items] (for quality
 * priors); all zero when the data has no ratings. */
VBPR_API vbpr_status vbpr_dataset_item_rating_sums(const vbpr_dataset *ds,
                                                   const double **sums);

/**
 * Writes each item's mean rating to means[0 .. num_items-1]; items without
 * interactions (or all items when the data has no ratings) get
 * @p empty_value. @p len must be >= num_items (else nothing is written).
 */
VBPR_API vbpr_status vbpr_dataset_item_mean_ratings(const vbpr_dataset *ds, double empty_value,
                                                    size_t len, double *means);

/**
 * Per-item log-priors for the Variational BPR loss, as the later reference
 * code defines them, from this (training) dataset:
 *   pop = count + 1, popularity = log1p(pop) / log1p(max pop),
 *   rarity = 1 - popularity, quality = rating sum / pop,
 *   good = sigmoid((quality - mean quality over all items) / 0.2),
 *   bad = 1 - good, each factor clamped at 1e-12 before its log;
 *   lp_pos[i] = a1 log rarity + a2 log good,
 *   lp_neg[i] = b1 log popularity + b2 log bad.
 * Gather them per sampled item into the loss's log_prior_pos/neg arrays.
 * Without ratings every item's quality is 0, so good and bad are constant.
 * vbpr_loss_item_log_priors() (vbpr/loss.h) computes the same from plain
 * arrays, for hosts without a dataset.
 *
 * @param a1, a2, b1, b2  weights in [0, 1e6]
 * @param[out] lp_pos, lp_neg  [len] each, len >= num_items; entries from
 *                             num_items on are left alone. Nothing is
 *                             written on error.
 */
VBPR_API vbpr_status vbpr_dataset_item_log_priors(const vbpr_dataset *ds, double a1, double a2,
                                                  double b1, double b2, size_t len,
                                                  float *lp_pos, float *lp_neg);

/**
 * Raw ids of a dataset loaded with REMAP_IDS, borrowed: raw[num_users]
 * (resp. [num_items]) gives each dense id's id in the file, -1 for ids in
 * the universe that no file used. *raw is NULL when the ids were not
 * remapped (then a dense id is its own raw id).
 */
VBPR_API vbpr_status vbpr_dataset_raw_user_ids(const vbpr_dataset *ds, const int64_t **raw);
VBPR_API vbpr_status vbpr_dataset_raw_item_ids(const vbpr_dataset *ds, const int64_t **raw);

/**
 * Dense id of a raw id (identity, range-checked, when not remapped).
 * VBPR_ERR_OUT_OF_RANGE when @p raw is unknown. O(log n).
 */
VBPR_API vbpr_status vbpr_dataset_find_user(const vbpr_dataset *ds, int64_t raw, int32_t *user);
VBPR_API vbpr_status vbpr_dataset_find_item(const vbpr_dataset *ds, int64_t raw, int32_t *item);

/**
 * Per-user random hold-out: for each user, round(test_fraction * k) of its
 * k eligible interactions go to @p test, everything else to @p train.
 * Eligible are the interactions with rating >= @p min_rating; -INFINITY
 * makes all eligible (and is the only value allowed when the data has no
 * ratings). NaN is VBPR_ERR_INVALID_ARGUMENT.
 * Rounding is to nearest, halves up. The choice depends only on @p seed and
 * the user (not on threads). Both results keep the universe, ratings and id
 * mapping of @p ds; either both are created or neither (*train and *test
 * are set to NULL on entry).
 *
 * The paper's ml-100k protocol is test_fraction 0.5, min_rating 4.
 */
VBPR_API vbpr_status vbpr_dataset_split(const vbpr_dataset *ds, double test_fraction,
                                        double min_rating, uint64_t seed,
                                        vbpr_dataset **train, vbpr_dataset **test);

VBPR_END_DECLS

#endif /* VBPR_DATASET_H */
