#include "core/core.h"
#include "train/train_internal.h"

/* The per-item priors of vbpr_dataset_item_log_priors(), computed once;
 * NULL when every weight is 0 (the loss then gets no priors at all). */
vbpr_status vbpr__trainer_priors(vbpr_trainer *tr)
{
  double a1 = tr->param[VBPR_TRAIN_PRIOR_RARITY], a2 = tr->param[VBPR_TRAIN_PRIOR_GOOD];
  double b1 = tr->param[VBPR_TRAIN_PRIOR_POPULARITY], b2 = tr->param[VBPR_TRAIN_PRIOR_BAD];
  if (a1 == 0 && a2 == 0 && b1 == 0 && b2 == 0) return VBPR_OK;
  size_t ni = (size_t)vbpr_dataset_num_items(tr->train);
  tr->item_lp_pos = vbpr__malloc_array(ni, sizeof(float));
  tr->item_lp_neg = vbpr__malloc_array(ni, sizeof(float));
  if (tr->item_lp_pos == NULL || tr->item_lp_neg == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, "vbpr_trainer_prepare",
                       "cannot allocate priors for %zu items", ni);
  return vbpr_dataset_item_log_priors(tr->train, a1, a2, b1, b2, tr->item_lp_pos,
                                      tr->item_lp_neg, ni);
}
