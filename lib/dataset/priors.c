#include <math.h>

#include "core/core.h"
#include "dataset/dataset_internal.h"

static double clamped_log(double x) { return log(x < 1e-12 ? 1e-12 : x); }

static bool weight_ok(double w) { return isfinite(w) && w >= 0; }

vbpr_status vbpr_dataset_item_log_priors(const vbpr_dataset *ds, double a1, double a2,
                                         double b1, double b2, size_t len, float *lp_pos,
                                         float *lp_neg)
{
  VBPR_CHECK_NULL(ds);
  VBPR_CHECK_NULL(lp_pos);
  VBPR_CHECK_NULL(lp_neg);
  const double w[4] = {a1, a2, b1, b2};
  static const char *const names[4] = {"a1", "a2", "b1", "b2"};
  for (int k = 0; k < 4; k++)
    if (!weight_ok(w[k]))
      return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "%s must be finite and >= 0, got %g",
                       names[k], w[k]);
  int32_t ni = (int32_t)vbpr_dataset_num_items(ds);
  if (len < (size_t)ni)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "len must be >= num_items = %d, got %zu",
                     (int)ni, len);
  if (ni == 0) return VBPR_OK;
  const int64_t *count;
  const double *sums;
  vbpr_status st = vbpr_dataset_item_counts(ds, &count);
  if (st == VBPR_OK) st = vbpr_dataset_item_rating_sums(ds, &sums);
  if (st != VBPR_OK) return st;
  int64_t max_pop = 1;
  double mean_q = 0;
  for (int32_t i = 0; i < ni; i++) {
    int64_t pop = count[i] + 1;
    if (pop > max_pop) max_pop = pop;
    mean_q += sums[i] / (double)pop;
  }
  mean_q /= ni;
  double denom = log1p((double)max_pop);
  for (int32_t i = 0; i < ni; i++) {
    double pop = (double)(count[i] + 1);
    double popularity = log1p(pop) / denom;
    double good = 1.0 / (1.0 + exp(-((sums[i] / pop - mean_q) / 0.2)));
    lp_pos[i] = (float)(a1 * clamped_log(1.0 - popularity) + a2 * clamped_log(good));
    lp_neg[i] = (float)(b1 * clamped_log(popularity) + b2 * clamped_log(1.0 - good));
  }
  return VBPR_OK;
}
