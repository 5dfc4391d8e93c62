/* Internal: the evaluator's state, shared by its settings and run code. */
#ifndef VBPR_LIB_EVAL_INTERNAL_H
#define VBPR_LIB_EVAL_INTERNAL_H

#include <stdint.h>

#include "eval/rank.h"
#include "vbpr/eval.h"

#define VBPR__N_METRICS 6 /* VBPR_METRIC_PRECISION .. VBPR_METRIC_APLT */

/* One user's counts at one K. */
typedef struct vbpr__user_rec {
  double dcg;
  int32_t hits;
  int32_t tail; /* long-tail items in the list */
} vbpr__user_rec;

struct vbpr_evaluator {
  const vbpr_dataset *train, *test; /* retained */
  const int64_t *test_off;          /* test's CSR, borrowed from test */
  const int32_t *test_items;
  int32_t *users;                   /* users with test items, ascending */
  int32_t n_users;
  int32_t ks[VBPR_EVALUATOR_MAX_KS]; /* ascending, distinct */
  size_t nk;
  double tail_share;
  /* disc[r] = 1/log2(r + 2), the discount of rank r+1; idcg[c] = disc[0] +
   * ... + disc[c-1] summed in the order DCG is, so a perfect list has NDCG
   * exactly 1. */
  double *disc, *idcg;
  size_t disc_cap, idcg_cap;
  uint8_t *tail; /* [tail_items]: 1 = long-tail item */
  size_t tail_cap;
  int32_t tail_items; /* universe the mask was built for; 0 = none yet */
  vbpr__user_rec *recs; /* [n_users * nk], user-major */
  size_t recs_cap;
  double avg[VBPR__N_METRICS][VBPR_EVALUATOR_MAX_KS];
  int have_results;
  int32_t run_num_users; /* num_users of the last successful run */
  vbpr__rank_pool pool;
};

/* INVALID_ARGUMENT when a [num_users x dim] or [num_items x dim] float
 * table would not fit in size_t; shared by evaluation and recommendation. */
vbpr_status vbpr__check_table_sizes(size_t num_users, size_t num_items, size_t dim,
                                    const char *func);

/* The two halves of vbpr_evaluator_run(), for a run split over ranks
 * (lib/train/collective.c): rank_users validates the tables and fills the
 * records of users[first .. first+count) (records must hold all n_users;
 * the rows of the other users are not read); finish averages every
 * record, in user order, and marks the results valid. */
vbpr_status vbpr__evaluator_rank_users(vbpr_evaluator *ev, size_t first, size_t count,
                                       size_t num_users, size_t num_items, size_t dim,
                                       const float *user_emb, const float *item_emb,
                                       const char *func);
void vbpr__evaluator_finish(vbpr_evaluator *ev, size_t num_users);

#endif
