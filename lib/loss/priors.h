/* The per-item log-prior formula of the later reference code, shared by
 * vbpr_dataset_item_log_priors() (counts from a dataset) and
 * vbpr_loss_item_log_priors() (counts from the host's arrays), so that the
 * two give the same bits for the same counts. Not installed. */
#ifndef VBPR_LIB_LOSS_PRIORS_H
#define VBPR_LIB_LOSS_PRIORS_H

#include <stddef.h>
#include <stdint.h>

#include "vbpr/common.h"

/* Per-item popularity: exactly one of the two arrays is non-NULL (a
 * dataset's int64 counts, or a host's counts or popularity as doubles). */
typedef struct vbpr__item_counts {
  size_t n;
  const int64_t *i64;
  const double *f64;
  const double *rating_sums; /* [n], or NULL: no ratings (quality 0) */
} vbpr__item_counts;

/* The weights w = {a1, a2, b1, b2} must be in [0, 1e6]; the message
 * names the first bad one. */
vbpr_status vbpr__prior_weights_check(const double w[4], const char *func);

/* Writes lp_pos[0, n) and lp_neg[0, n); counts and weights are valid
 * (finite, >= 0). */
void vbpr__item_log_priors(const vbpr__item_counts *c, const double w[4], float *lp_pos,
                           float *lp_neg);

#endif
