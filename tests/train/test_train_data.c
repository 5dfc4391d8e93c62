/* Real data: a short ml-100k run in which Variational BPR must beat BPR by a
 * real margin (fixed seed). Skips without the data; fails without it in CI. */
#include <math.h>
#include <stdbool.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

typedef struct result {
  double recall, ndcg;
} result;

static result train_ml100k(const vbpr_dataset *train, const vbpr_dataset *test,
                           const vbpr_train_param *keys, const double *values, size_t n)
{
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_SEED, 3));
  for (size_t i = 0; i < n; i++) ck_assert_ok(vbpr_trainer_set(tr, keys[i], values[i]));
  for (int e = 0; e < 20; e++) ck_assert_ok(vbpr_trainer_epoch(tr, NULL));
  ck_assert_ok(vbpr_trainer_evaluate(tr));
  result r;
  ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 20, &r.recall));
  ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_NDCG, 20, &r.ndcg));
  vbpr_trainer_destroy(tr);
  return r;
}

START_TEST(variational_bpr_beats_bpr_on_ml100k)
{
  const char *dir = test_data_dir();
  if (dir == NULL) return;
  char tr_path[4096], te_path[4096], all_path[4096];
  test_path(tr_path, sizeof tr_path, dir, "ml-100k/train.tsv");
  test_path(te_path, sizeof te_path, dir, "ml-100k/test.tsv");
  test_path(all_path, sizeof all_path, dir, "ml-100k/ratings.tsv");
  vbpr_dataset *all, *train, *test;
  ck_assert_ok(vbpr_dataset_load(all_path, NULL, &all));
  vbpr_dataset_options *opts;
  ck_assert_ok(vbpr_dataset_options_create(&opts));
  ck_assert_ok(vbpr_dataset_options_set(opts, VBPR_DATASET_OPT_NUM_ITEMS, vbpr_dataset_num_items(all)));
  ck_assert_ok(vbpr_dataset_load_pair(tr_path, te_path, opts, &train, &test));
  ck_assert_int_eq(vbpr_dataset_num_items(train), 1682);

  vbpr_train_param bpr_k[] = {VBPR_TRAIN_LOSS};
  double bpr_v[] = {VBPR_LOSS_BPR};
  result bpr = train_ml100k(train, test, bpr_k, bpr_v, 1);

  /* the paper's estimator at the best grid point of doc/results.md */
  vbpr_train_param paper_k[] = {VBPR_TRAIN_C_POS, VBPR_TRAIN_C_NEG};
  double paper_v[] = {10, 0.1};
  result paper = train_ml100k(train, test, paper_k, paper_v, 2);

  /* the library's best configuration: ELBO, easy attention, priors */
  vbpr_train_param best_k[] = {VBPR_TRAIN_ESTIMATOR, VBPR_TRAIN_NEG_ATTENTION,
                               VBPR_TRAIN_PRIOR_GOOD, VBPR_TRAIN_PRIOR_BAD,
                               VBPR_TRAIN_NEG_HARDNESS};
  double best_v[] = {VBPR_EST_ELBO, VBPR_ATTEND_EASY, 1, 0.5, 0.5};
  result best = train_ml100k(train, test, best_k, best_v, 5);

  fprintf(stderr, "ml-100k, 20 epochs: BPR %.4f/%.4f, paper %.4f/%.4f, best %.4f/%.4f\n",
          bpr.recall, bpr.ndcg, paper.recall, paper.ndcg, best.recall, best.ndcg);
  ck_assert_msg(bpr.recall > 0.2, "BPR itself must learn: recall %g", bpr.recall);
  ck_assert_msg(paper.recall > bpr.recall + 0.02 && paper.ndcg > bpr.ndcg + 0.02,
                "paper estimator %g/%g vs BPR %g/%g", paper.recall, paper.ndcg, bpr.recall,
                bpr.ndcg);
  ck_assert_msg(best.recall > bpr.recall + 0.02 && best.ndcg > bpr.ndcg + 0.02,
                "best configuration %g/%g vs BPR %g/%g", best.recall, best.ndcg, bpr.recall,
                bpr.ndcg);
  vbpr_dataset_options_destroy(opts);
  vbpr_dataset_destroy(all);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("train_data");
  TCase *tc = tcase_create("ml100k");
  tcase_set_timeout(tc, 900);
  if (vbpr_has_module(VBPR_MODULE_MF)) tcase_add_test(tc, variational_bpr_beats_bpr_on_ml100k);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
