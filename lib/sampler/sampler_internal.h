/* Internal state of a vbpr_sampler (not installed). */
#ifndef VBPR_LIB_SAMPLER_INTERNAL_H
#define VBPR_LIB_SAMPLER_INTERNAL_H

#include "dataset/dataset_internal.h"
#include "vbpr/sampler.h"

/* Up to this many negatives, duplicates are found by a linear scan of the
 * row; above it, with a small hash set per thread. */
#define VBPR__SAMPLER_SMALL_N 32

struct vbpr_sampler {
  const vbpr_dataset *ds; /* one reference held */
  int64_t batch, num_pos, num_neg;
  uint64_t seed;
  int mode;
  double pop_exponent;
  int64_t epoch, position, users_epoch_rows;
  int64_t rank, world; /* data parallelism: this rank's share of each batch */

  /* users with at least num_neg items outside their positives */
  int32_t *elig_users; /* [num_users], first n_elig used, ascending */
  int32_t n_elig;
  int64_t elig_interactions;

  /* INTERACTIONS mode: this epoch's visiting order (valid when
   * perm_epoch == epoch) */
  uint32_t *perm;
  int64_t perm_epoch;
  int32_t *owner; /* [nnz] the user of each interaction: no search per row */
  /* [2 * nnz] this epoch's (user, item) pairs in visiting order, gathered
   * from perm once per epoch (a loop whose random reads all overlap), so
   * that filling rows reads them in sequence instead of a dependent random
   * read per row */
  int32_t *pairs;

  /* popularity-weighted negatives (pop_exponent > 0) */
  double *weights;    /* [num_items], (count + 1)^a */
  double *alias_prob; /* [num_items] */
  int32_t *alias_idx; /* [num_items] */
  double *top_mass;   /* [num_items], mass of the k+1 heaviest items / total */
  double *user_mass;  /* [num_users], mass of the user's positives / total */

  /* per-thread scratch, ws_stride bytes each */
  void *ws;
  size_t ws_cap, ws_stride;
};

/* Fills rows [begin, end) of the current epoch (row r of the epoch is
 * position + r). Cannot fail: every workspace is in place before. */
typedef struct vbpr__fill_job {
  const vbpr_sampler *s;
  int32_t *users, *pos, *neg;
} vbpr__fill_job;

void vbpr__sampler_fill(void *job, size_t begin, size_t end, int tid);

/* Scratch bytes one thread needs for the current parameters. */
size_t vbpr__sampler_ws_bytes(const vbpr_sampler *s);

#endif
