/* Real data: a short ml-100k run in which Variational BPR must beat BPR by a
 * real margin (fixed seed). Skips without the data; fails without it in CI. */
#include <math.h>
#include <stdbool.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

typedef struct result {
  double recall, ndcg;
} result;

/* A configuration: the loss kind, loss parameters and trainer priors. */
typedef struct config {
  vbpr_loss_kind kind;
  size_t n_loss;
  vbpr_loss_param loss_keys[4];
  double loss_values[4];
  double prior_good, prior_bad;
} config;

static result train_ml100k(const vbpr_dataset *train, const vbpr_dataset *test,
                           const config *c)
{
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_SEED, 3));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_LOSS, c->kind));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_GOOD, c->prior_good));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_BAD, c->prior_bad));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  for (size_t i = 0; i < c->n_loss; i++)
    ck_assert_ok(vbpr_loss_set(vbpr_trainer_loss(tr), c->loss_keys[i], c->loss_values[i]));
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
  ck_assert_ok(vbpr_dataset_options_set(opts, VBPR_DATASET_OPTIONS_NUM_ITEMS, vbpr_dataset_num_items(all)));
  ck_assert_ok(vbpr_dataset_load_pair(tr_path, te_path, opts, &train, &test));
  ck_assert_int_eq(vbpr_dataset_num_items(train), 1682);

  const config bpr_c = {.kind = VBPR_LOSS_BPR};
  result bpr = train_ml100k(train, test, &bpr_c);

  /* the paper's estimator at the best grid point of doc/results.md */
  const config paper_c = {VBPR_LOSS_VARIATIONAL, 2, {VBPR_LOSS_C_POS, VBPR_LOSS_C_NEG},
                          {10, 0.1}, 0, 0};
  result paper = train_ml100k(train, test, &paper_c);

  /* the library's best configuration: ELBO, easy attention, priors */
  const config best_c = {VBPR_LOSS_VARIATIONAL, 3,
                         {VBPR_LOSS_ESTIMATOR, VBPR_LOSS_NEG_ATTENTION, VBPR_LOSS_NEG_HARDNESS},
                         {VBPR_ESTIMATOR_ELBO, VBPR_ATTENTION_EASY, 0.5}, 1, 0.5};
  result best = train_ml100k(train, test, &best_c);

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
