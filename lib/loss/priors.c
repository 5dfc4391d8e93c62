/* Per-item log-priors (see vbpr/loss.h, vbpr_loss_item_log_priors): the one
 * implementation of the formula, and its entry point for plain arrays. */
#include <math.h>

#include "core/core.h"
#include "loss/priors.h"
#include "vbpr/loss.h"

static double clamped_log(double x) { return log(x < 1e-12 ? 1e-12 : x); }

/* Weights up to 1e6 keep every log-prior finite in float: each log is at
 * least ln(1e-12), about -27.6. */
#define MAX_WEIGHT 1e6

static bool weight_ok(double w) { return isfinite(w) && w >= 0 && w <= MAX_WEIGHT; }

/* count + 1: computed in the counts' own type first, so that int64 counts
 * and the same counts as doubles give the same value. */
static double pop_at(const vbpr__item_counts *c, size_t i)
{
  return c->i64 != NULL ? (double)(c->i64[i] + 1) : c->f64[i] + 1.0;
}

static double sum_at(const vbpr__item_counts *c, size_t i)
{
  return c->rating_sums != NULL ? c->rating_sums[i] : 0.0;
}

vbpr_status vbpr__prior_weights_check(const double w[4], const char *func)
{
  static const char *const names[4] = {"a1", "a2", "b1", "b2"};
  for (int k = 0; k < 4; k++)
    if (!weight_ok(w[k]))
      return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                         "%s must be in [0, %g], got %g", names[k], MAX_WEIGHT, w[k]);
  return VBPR_OK;
}

void vbpr__item_log_priors(const vbpr__item_counts *c, const double w[4], float *lp_pos,
                           float *lp_neg)
{
  if (c->n == 0) return;
  double max_pop = 1, mean_q = 0;
  for (size_t i = 0; i < c->n; i++) {
    double pop = pop_at(c, i);
    if (pop > max_pop) max_pop = pop;
    mean_q += sum_at(c, i) / pop;
  }
  mean_q /= (double)c->n;
  double denom = log1p(max_pop);
  for (size_t i = 0; i < c->n; i++) {
    double pop = pop_at(c, i);
    double popularity = log1p(pop) / denom;
    double good = 1.0 / (1.0 + exp(-((sum_at(c, i) / pop - mean_q) / 0.2)));
    lp_pos[i] = (float)(w[0] * clamped_log(1.0 - popularity) + w[1] * clamped_log(good));
    lp_neg[i] = (float)(w[2] * clamped_log(popularity) + w[3] * clamped_log(1.0 - good));
  }
}

/* A per-item input: NaN or Inf is a numeric error, a negative count (when
 * nonneg) a bad argument; the message names the first offending item. */
static vbpr_status check_items(const double *x, size_t n, bool nonneg, const char *name,
                               const char *func)
{
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(x[i]))
      return vbpr__error(VBPR_ERR_NUMERIC, func, "%s[%zu] is %g", name, i, x[i]);
    if (nonneg && x[i] < 0)
      return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s[%zu] must be >= 0, got %g",
                         name, i, x[i]);
  }
  return VBPR_OK;
}

vbpr_status vbpr_loss_item_log_priors(size_t num_items, const double *counts,
                                      const double *rating_sums, double a1, double a2,
                                      double b1, double b2, float *lp_pos, float *lp_neg)
{
  VBPR_CHECK_NULL(counts);
  VBPR_CHECK_NULL(lp_pos);
  VBPR_CHECK_NULL(lp_neg);
  const double w[4] = {a1, a2, b1, b2};
  vbpr_status st = vbpr__prior_weights_check(w, __func__);
  if (st == VBPR_OK) st = check_items(counts, num_items, true, "counts", __func__);
  if (st == VBPR_OK && rating_sums != NULL)
    st = check_items(rating_sums, num_items, false, "rating_sums", __func__);
  if (st != VBPR_OK) return st;
  const vbpr__item_counts c = {num_items, NULL, counts, rating_sums};
  vbpr__item_log_priors(&c, w, lp_pos, lp_neg);
  return VBPR_OK;
}
