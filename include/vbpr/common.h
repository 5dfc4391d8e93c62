/*
 * libvbpr: common definitions shared by every public header.
 *
 * Conventions that hold for the whole API (stated once here):
 *  - Every fallible call returns a vbpr_status; VBPR_OK (0) is success and
 *    every error is negative. On failure nothing the caller owns is modified
 *    unless the function's comment says otherwise, and vbpr_last_error()
 *    describes what went wrong on the calling thread.
 *  - A handle returned through an `**out` parameter belongs to the caller,
 *    who releases it with the matching vbpr_<object>_destroy(). Destroying
 *    NULL is a no-op. Pointers returned by getters are borrowed: they stay
 *    valid until their owner is destroyed or modified.
 *  - Unless a header says otherwise, one handle must not be used by two
 *    threads at the same time; different handles may be used concurrently.
 *  - The library never prints, exits or aborts.
 *
 * Signature rules, applied to every function:
 *  - Names are vbpr_<object>_<verb>, <object> being the handle's type
 *    without "vbpr_" (vbpr_evaluator_run for a vbpr_evaluator). An enum's
 *    values are its type name in upper case followed by the value's name,
 *    without a trailing _PARAM or _KIND (vbpr_estimator: VBPR_ESTIMATOR_ELBO;
 *    vbpr_loss_param: VBPR_LOSS_C_POS; vbpr_loss_kind: VBPR_LOSS_BPR).
 *  - Ids of users, items and table rows are int32_t. Sizes and counts
 *    (batch, dim, rows, lengths, numbers of users or interactions, K) are
 *    size_t. Epoch and step numbers are int64_t.
 *  - A size comes before the arrays it describes: (n, array).
 *  - Constructors return a status and take the new object's `**out` last;
 *    they set *out to NULL on entry (when out is not NULL), so a failed
 *    constructor never leaves a stale or half-built pointer behind.
 *  - A getter of a plain property returns the value (0 or NULL for a NULL
 *    handle); a getter that can fail returns a status and writes through
 *    its out-parameters, which come last and are untouched on failure.
 *  - Kinds are returned as their enum type.
 *  - Objects configured by parameters (loss, sampler, optimizer, trainer,
 *    encoder, dataset options, synthetic data) share one pattern:
 *    vbpr_<object>_set(obj, param, double) and _get(obj, param, double *),
 *    plus vbpr_<object>_param_bounds() (range, default, flags),
 *    _param_name(), _param_from_name() (case-insensitive, '-' matching '_')
 *    and _param_parse() (a number or a value name as text), all answered by
 *    one table in the library. Error messages name a parameter by that name:
 *    "vbpr_loss_set: c_pos must be in [1e-06, 1000000], got -1".
 */
#ifndef VBPR_COMMON_H
#define VBPR_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(VBPR_BUILDING_LIBRARY)
#  define VBPR_API __declspec(dllexport)
#elif defined(_WIN32) && !defined(VBPR_STATIC)
#  define VBPR_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#  define VBPR_API __attribute__((visibility("default")))
#else
#  define VBPR_API
#endif

#ifdef __cplusplus
#  define VBPR_BEGIN_DECLS extern "C" {
#  define VBPR_END_DECLS }
#else
#  define VBPR_BEGIN_DECLS
#  define VBPR_END_DECLS
#endif

VBPR_BEGIN_DECLS

/**
 * Status codes. Values are part of the ABI: they are explicit, never
 * renumbered, and new codes are only ever appended (more negative).
 */
typedef enum vbpr_status {
  VBPR_OK = 0,                  /**< success */
  VBPR_ERR_INVALID_ARGUMENT = -1, /**< NULL pointer, bad size or parameter */
  VBPR_ERR_OUT_OF_MEMORY = -2,  /**< an allocation failed or a size overflowed */
  VBPR_ERR_IO = -3,             /**< a file could not be opened, read or written */
  VBPR_ERR_PARSE = -4,          /**< malformed input file */
  VBPR_ERR_OUT_OF_RANGE = -5,   /**< an id or index outside its universe */
  VBPR_ERR_STATE = -6,          /**< call out of order (e.g. backward before forward) */
  VBPR_ERR_UNSUPPORTED = -7,    /**< feature not compiled in or not applicable */
  VBPR_ERR_NUMERIC = -8,        /**< non-finite input or result */
  VBPR_ERR_INTERRUPTED = -9     /**< stopped on request before completion */
} vbpr_status;

/** Lowest status value currently defined (for bindings that map codes). */
#define VBPR_STATUS_MIN (-9)

/** Flags of vbpr_param_bounds. */
#define VBPR_PARAM_INTEGRAL 1u      /**< only integral values are valid */
#define VBPR_PARAM_MIN_EXCLUSIVE 2u /**< the value must be > min (not >=) */
#define VBPR_PARAM_MAX_EXCLUSIVE 4u /**< the value must be < max (not <=) */
/** Only the parameter's named values are valid (an enum such as
 * vbpr_estimator); vbpr_<object>_param_parse() turns a name into its value,
 * and min, max bound the set. */
#define VBPR_PARAM_NAMED 8u

/**
 * What a parameter of an object configured through vbpr_<object>_set()
 * accepts, filled by vbpr_<object>_param_bounds() so that hosts, command
 * lines and bindings read ranges from the library instead of copying them
 * (as zstd's ZSTD_cParam_getBounds). Every value passed to a setter must
 * also be finite. The layout of this struct is fixed: new information comes
 * as new flags or new functions, never new fields.
 */
typedef struct vbpr_param_bounds {
  double min;      /**< smallest valid value (see VBPR_PARAM_MIN_EXCLUSIVE) */
  double max;      /**< largest valid value (see VBPR_PARAM_MAX_EXCLUSIVE) */
  double def;      /**< the value of a newly created object */
  unsigned flags;  /**< VBPR_PARAM_* bits */
} vbpr_param_bounds;

VBPR_END_DECLS

#endif /* VBPR_COMMON_H */
