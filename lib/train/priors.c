#include <math.h>

#include "core/core.h"
#include "train/train_internal.h"

/* Item priors as the later reference code defines them:
 *   pop = count + 1, popularity = log1p(pop) / log1p(max pop),
 *   rarity = 1 - popularity, quality = rating sum / pop,
 *   good = sigmoid((quality - mean quality) / 0.2), bad = 1 - good,
 *   lp+ = a1 log rarity + a2 log good, lp- = b1 log popularity + b2 log bad,
 * every factor clamped at 1e-12 before its log. */
static double clamped_log(double x) { return log(x < 1e-12 ? 1e-12 : x); }

vbpr_status vbpr__trainer_priors(vbpr_trainer *tr)
{
  double a1 = tr->param[VBPR_TRAIN_PRIOR_RARITY], a2 = tr->param[VBPR_TRAIN_PRIOR_GOOD];
  double b1 = tr->param[VBPR_TRAIN_PRIOR_POPULARITY], b2 = tr->param[VBPR_TRAIN_PRIOR_BAD];
  if (a1 == 0 && a2 == 0 && b1 == 0 && b2 == 0) return VBPR_OK;
  int32_t ni = vbpr_dataset_num_items(tr->train);
  const int64_t *count;
  const double *sums;
  vbpr_status st = vbpr_dataset_item_counts(tr->train, &count);
  if (st == VBPR_OK) st = vbpr_dataset_item_rating_sums(tr->train, &sums);
  if (st != VBPR_OK) return st;
  tr->item_lp_pos = vbpr__malloc_array((size_t)ni, sizeof(float));
  tr->item_lp_neg = vbpr__malloc_array((size_t)ni, sizeof(float));
  if (tr->item_lp_pos == NULL || tr->item_lp_neg == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, "vbpr_trainer_prepare",
                       "cannot allocate priors for %d items", (int)ni);
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
    tr->item_lp_pos[i] = (float)(a1 * clamped_log(1.0 - popularity) + a2 * clamped_log(good));
    tr->item_lp_neg[i] = (float)(b1 * clamped_log(popularity) + b2 * clamped_log(1.0 - good));
  }
  return VBPR_OK;
}
