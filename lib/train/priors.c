#include "core/core.h"
#include "train/train_internal.h"

/* The per-item priors of vbpr_dataset_item_log_priors(), computed again only
 * when a PRIOR_* weight changed; NULL when every weight is 0 (the loss then
 * gets no priors at all). */
vbpr_status vbpr__trainer_priors(vbpr_trainer *tr, const char *func)
{
  const double w[4] = {tr->param[VBPR_TRAINER_PRIOR_RARITY],
                       tr->param[VBPR_TRAINER_PRIOR_GOOD],
                       tr->param[VBPR_TRAINER_PRIOR_POPULARITY],
                       tr->param[VBPR_TRAINER_PRIOR_BAD]};
  bool any = w[0] != 0 || w[1] != 0 || w[2] != 0 || w[3] != 0;
  bool same = true;
  for (int k = 0; k < 4; k++) same = same && w[k] == tr->prior_weights[k];
  if (same && (tr->item_lp_pos != NULL) == any) return VBPR_OK;
  if (!any) {
    vbpr__free(tr->item_lp_pos);
    vbpr__free(tr->item_lp_neg);
    tr->item_lp_pos = tr->item_lp_neg = NULL;
  } else {
    size_t ni = vbpr_dataset_num_items(tr->train);
    if (tr->item_lp_pos == NULL) {
      tr->item_lp_pos = vbpr__malloc_array(ni, sizeof(float));
      tr->item_lp_neg = vbpr__malloc_array(ni, sizeof(float));
    }
    if (tr->item_lp_pos == NULL || tr->item_lp_neg == NULL) {
      vbpr__free(tr->item_lp_pos);
      vbpr__free(tr->item_lp_neg);
      tr->item_lp_pos = tr->item_lp_neg = NULL;
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate priors for %zu items",
                         ni);
    }
    vbpr_status st = vbpr_dataset_item_log_priors(tr->train, w[0], w[1], w[2], w[3], ni,
                                                  tr->item_lp_pos, tr->item_lp_neg);
    if (st != VBPR_OK) return st;
  }
  for (int k = 0; k < 4; k++) tr->prior_weights[k] = w[k];
  return VBPR_OK;
}
