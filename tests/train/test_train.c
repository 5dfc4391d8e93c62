/* The trainer: parameters, life cycle, a real training run on small data. */
#include <math.h>
#include <stdbool.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

/* A small dataset with structure: users in two groups that like two item
 * blocks, so a trained model must beat chance. */
static void make_data(vbpr_dataset **train, vbpr_dataset **test)
{
  enum { U = 60, I = 40, PER = 12 };
  int32_t tu[U * PER], ti[U * PER], su[U * 3], si[U * 3];
  int64_t nt = 0, ns = 0;
  for (int u = 0; u < U; u++) {
    int base = (u % 2) * (I / 2);
    for (int j = 0; j < PER + 3; j++) {
      int item = base + (u * 7 + j * 3) % (I / 2);
      bool dup = false;
      for (int64_t q = (nt > PER ? nt - PER : 0); q < nt; q++) dup |= tu[q] == u && ti[q] == item;
      for (int64_t q = (ns > 3 ? ns - 3 : 0); q < ns; q++) dup |= su[q] == u && si[q] == item;
      if (dup) continue;
      if (j < PER) { tu[nt] = u; ti[nt++] = item; }
      else { su[ns] = u; si[ns++] = item; }
    }
  }
  ck_assert_ok(vbpr_dataset_create(U, I, tu, ti, NULL, nt, NULL, train));
  ck_assert_ok(vbpr_dataset_create(U, I, su, si, NULL, ns, NULL, test));
}

START_TEST(parameters_are_validated)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_status(vbpr_trainer_create(NULL, test, &tr), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(tr);
  ck_assert_status(vbpr_trainer_create(train, test, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  double v = 0;
  ck_assert_ok(vbpr_trainer_get(tr, VBPR_TRAIN_DIM, &v));
  ck_assert_double_eq(v, 64);
  ck_assert_ok(vbpr_trainer_get(tr, VBPR_TRAIN_NUM_NEG, &v));
  ck_assert_double_eq(v, 4);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAIN_DIM, 0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "dim") != NULL, "%s", vbpr_last_error());
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAIN_DIM, 8.5), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAIN_LR, NAN), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAIN_C_POS, -1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAIN_NEG_ATTENTION, 0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, (vbpr_train_param)0, 1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, (vbpr_train_param)999, 1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_get(tr, VBPR_TRAIN_DIM, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_get(tr, VBPR_TRAIN_DIM, &v));
  ck_assert_double_eq(v, 64); /* failed sets changed nothing */
  int32_t bad_ks[] = {10, 0};
  ck_assert_status(vbpr_trainer_set_ks(tr, bad_ks, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set_ks(tr, bad_ks, 0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 20, &v), VBPR_ERR_STATE);
  ck_assert_ptr_null(vbpr_trainer_encoder(tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_DIM, 8));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ptr_nonnull(vbpr_trainer_encoder(tr));
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAIN_DIM, 16), VBPR_ERR_STATE);
  vbpr_trainer_destroy(tr);
  vbpr_trainer_destroy(NULL);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

static double train_and_recall(vbpr_dataset *train, vbpr_dataset *test, vbpr_loss_kind kind,
                               int epochs, double *first_loss, double *last_loss)
{
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_DIM, 16));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_BATCH, 64));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_LR, 0.01));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_INIT_SCALE, 0.1));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_LOSS, kind));
  int32_t ks[] = {5, 10};
  ck_assert_ok(vbpr_trainer_set_ks(tr, ks, 2));
  for (int e = 0; e < epochs; e++) {
    double loss;
    ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
    ck_assert(isfinite(loss));
    if (e == 0) *first_loss = loss;
    *last_loss = loss;
  }
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), epochs);
  ck_assert_ok(vbpr_trainer_evaluate(tr));
  double recall = -1, r5 = -1;
  ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 10, &recall));
  ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 5, &r5));
  ck_assert(r5 <= recall + 1e-12);
  ck_assert_status(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 7, &r5), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_trainer_destroy(tr);
  return recall;
}

START_TEST(training_learns_the_structure)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  /* chance: 3 test items among ~28 candidates, 10 picks -> recall ~ 0.36 */
  for (int kind = VBPR_LOSS_BPR; kind <= VBPR_LOSS_VARIATIONAL; kind++) {
    double first = 0, last = 0;
    double recall = train_and_recall(train, test, (vbpr_loss_kind)kind, 30, &first, &last);
    ck_assert_msg(last < 0.8 * first, "loss %g -> %g", first, last);
    ck_assert_msg(recall > 0.6, "kind %d recall@10 %g", kind, recall);
  }
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

static int stop_at_two(void *p, int32_t epoch, int64_t batch, int64_t n, double loss)
{
  int *calls = p;
  (*calls)++;
  ck_assert_int_eq(epoch, 0);
  ck_assert(batch >= 1 && batch <= n && isfinite(loss));
  return batch == 2;
}

START_TEST(progress_can_stop_an_epoch)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, NULL, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_BATCH, 32));
  int calls = 0;
  ck_assert_ok(vbpr_trainer_set_progress(tr, stop_at_two, &calls));
  double loss = -1;
  ck_assert_status(vbpr_trainer_epoch(tr, &loss), VBPR_ERR_INTERRUPTED);
  ck_assert_int_eq(calls, 2);
  ck_assert(isfinite(loss) && loss > 0);
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 0);
  /* the rest of the interrupted epoch, then a whole one */
  ck_assert_ok(vbpr_trainer_set_progress(tr, NULL, NULL));
  ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 2);
  /* without a test set there is nothing to evaluate */
  ck_assert_status(vbpr_trainer_evaluate(tr), VBPR_ERR_STATE);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

static int stop_at_last(void *p, int32_t epoch, int64_t batch, int64_t n, double loss)
{
  (void)p, (void)epoch, (void)loss;
  return batch == n;
}

static int count_batches(void *p, int32_t epoch, int64_t batch, int64_t n, double loss)
{
  (void)epoch, (void)n, (void)loss;
  *(int64_t *)p = batch;
  return 0;
}

START_TEST(a_stop_after_the_last_batch_does_not_skip_an_epoch)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, NULL, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_BATCH, 100));
  ck_assert_ok(vbpr_trainer_set_progress(tr, stop_at_last, NULL));
  ck_assert_status(vbpr_trainer_epoch(tr, NULL), VBPR_ERR_INTERRUPTED);
  int64_t batches = 0;
  ck_assert_ok(vbpr_trainer_set_progress(tr, count_batches, &batches));
  double loss = 0;
  ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert_int_gt(batches, 1); /* a whole epoch, not an empty one */
  ck_assert(loss > 0);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(divergence_is_reported_with_the_batch)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_OPTIMIZER, VBPR_OPTIM_SGD));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_LR, 1000));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_INIT_SCALE, 100));
  vbpr_status st = VBPR_OK;
  for (int e = 0; e < 20 && st == VBPR_OK; e++) st = vbpr_trainer_epoch(tr, NULL);
  ck_assert_status(st, VBPR_ERR_NUMERIC);
  ck_assert_msg(strstr(vbpr_last_error(), "epoch") && strstr(vbpr_last_error(), "batch"),
                "%s", vbpr_last_error());
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(priors_need_no_ratings_and_stay_finite)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_PRIOR_RARITY, 1));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_PRIOR_GOOD, 1));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_PRIOR_POPULARITY, 0.5));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_PRIOR_BAD, 0.5));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_ESTIMATOR, VBPR_EST_ELBO));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_NEG_ATTENTION, VBPR_ATTEND_EASY));
  double loss = 0;
  ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert(isfinite(loss));
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(trainer_keeps_its_datasets_alive)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  vbpr_dataset_destroy(train); /* the caller's handles only */
  vbpr_dataset_destroy(test);
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_DIM, 8));
  ck_assert_ok(vbpr_trainer_epoch(tr, NULL));
  ck_assert_ok(vbpr_trainer_evaluate(tr));
  double recall = -1;
  ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 20, &recall));
  ck_assert(recall >= 0 && recall <= 1);
  vbpr_trainer_destroy(tr);
}
END_TEST

START_TEST(missing_module_is_unsupported)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  if (!vbpr_has_module(VBPR_MODULE_MF)) {
    ck_assert_ok(vbpr_trainer_create(train, test, &tr));
    ck_assert_status(vbpr_trainer_epoch(tr, NULL), VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_null(vbpr_trainer_encoder(tr)); /* nothing half-built kept */
    vbpr_trainer_destroy(tr);
  }
  if (!vbpr_has_module(VBPR_MODULE_LIGHTGCN)) {
    ck_assert_ok(vbpr_trainer_create(train, test, &tr));
    ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAIN_ENCODER, VBPR_ENCODER_LIGHTGCN));
    ck_assert_status(vbpr_trainer_prepare(tr), VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_null(vbpr_trainer_encoder(tr));
    vbpr_trainer_destroy(tr);
  }
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("train");
  TCase *tc = tcase_create("train");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, missing_module_is_unsupported);
  if (!vbpr_has_module(VBPR_MODULE_MF)) { /* the rest trains MF */
    suite_add_tcase(s, tc);
    return test_run_suite(s);
  }
  tcase_add_test(tc, parameters_are_validated);
  tcase_add_test(tc, trainer_keeps_its_datasets_alive);
  tcase_add_test(tc, training_learns_the_structure);
  tcase_add_test(tc, progress_can_stop_an_epoch);
  tcase_add_test(tc, a_stop_after_the_last_batch_does_not_skip_an_epoch);
  tcase_add_test(tc, divergence_is_reported_with_the_batch);
  tcase_add_test(tc, priors_need_no_ratings_and_stay_finite);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
