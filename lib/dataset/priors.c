#include "core/core.h"
#include "dataset/dataset_internal.h"
#include "loss/priors.h"

/* The formula lives in lib/loss/priors.c, shared with
 * vbpr_loss_item_log_priors(); this entry point supplies a dataset's counts. */
vbpr_status vbpr_dataset_item_log_priors(const vbpr_dataset *ds, double a1, double a2,
                                         double b1, double b2, size_t len, float *lp_pos,
                                         float *lp_neg)
{
  VBPR_CHECK_NULL(ds);
  VBPR_CHECK_NULL(lp_pos);
  VBPR_CHECK_NULL(lp_neg);
  const double w[4] = {a1, a2, b1, b2};
  vbpr_status st = vbpr__prior_weights_check(w, __func__);
  if (st != VBPR_OK) return st;
  size_t ni = vbpr_dataset_num_items(ds);
  if (len < ni)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "len must be >= num_items = %zu, got %zu",
                     ni, len);
  const int64_t *count;
  const double *sums;
  st = vbpr_dataset_item_counts(ds, &count);
  if (st == VBPR_OK) st = vbpr_dataset_item_rating_sums(ds, &sums);
  if (st != VBPR_OK) return st;
  const vbpr__item_counts c = {ni, count, NULL, sums};
  vbpr__item_log_priors(&c, w, lp_pos, lp_neg);
  return VBPR_OK;
}
