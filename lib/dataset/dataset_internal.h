/*
 * Internal view of a vbpr_dataset, shared by the dataset, synthetic and
 * sampler code. Not installed.
 */
#ifndef VBPR_LIB_DATASET_INTERNAL_H
#define VBPR_LIB_DATASET_INTERNAL_H

#include <stdatomic.h>

#include "core/core.h"
#include "vbpr/dataset.h"

struct vbpr_dataset {
  atomic_long refs;         /* the creator's reference plus one per user */
  int32_t num_users, num_items;
  int32_t num_active_users;
  int64_t nnz;
  int64_t *offsets;         /* [num_users + 1] */
  int32_t *items;           /* [nnz], sorted and unique per user */
  float *ratings;           /* [nnz] or NULL */
  int64_t *item_counts;     /* [num_items] */
  double *item_rating_sums; /* [num_items] */
  /* REMAP_IDS only (else NULL): dense -> raw (-1: none), and the dense ids
   * with a raw id, sorted by raw id, for the reverse lookup. */
  int64_t *raw_users, *raw_items;
  int32_t *users_by_raw, *items_by_raw;
  int32_t num_raw_users, num_raw_items;
};

struct vbpr_dataset_options {
  int format, header, dup, remap;
  int64_t num_users, num_items, min_users, min_items; /* -1: infer */
  vbpr_dataset *ref;                                   /* retained, or NULL */
};

/* Options in effect: opts, or the defaults when NULL. */
void vbpr__options_resolve(const vbpr_dataset_options *opts, vbpr_dataset_options *out);

/* Another reference to ds, for objects that keep using it; const because
 * the data is immutable (only the counter changes). */
vbpr_dataset *vbpr__dataset_retain(const vbpr_dataset *ds);
/* Drops one reference; frees on the last. NULL is a no-op. */
void vbpr__dataset_release(const vbpr_dataset *ds);

/* ---- building ---------------------------------------------------------- */

/* Interactions as they were read: runs of consecutive pairs of one user.
 * Run r covers items[run_begin[r] .. run_begin[r+1]) (the last up to n). */
typedef struct vbpr__pairs {
  int32_t *run_user;
  int64_t *run_begin;
  int64_t nruns, cap_runs;
  int32_t *items;
  float *ratings; /* NULL when there are none */
  int64_t n, cap;
} vbpr__pairs;

void vbpr__pairs_free(vbpr__pairs *p);

/* Builds a dataset from p (which it consumes: p is emptied on success and on
 * failure). Ids must already be valid for the universe. func names the
 * public function for error messages. */
vbpr_status vbpr__dataset_build(vbpr__pairs *p, int32_t num_users, int32_t num_items,
                                int dup_policy, const char *func, vbpr_dataset **out);

/* Gives ds its own copies of the id mapping of src (if any). */
vbpr_status vbpr__dataset_copy_mapping(vbpr_dataset *ds, const vbpr_dataset *src,
                                       const char *func);

/* 1 if key is in the sorted a[0..n). */
static inline int vbpr__sorted_contains(const int32_t *a, int64_t n, int32_t key)
{
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (a[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && a[lo] == key;
}

#endif /* VBPR_LIB_DATASET_INTERNAL_H */
