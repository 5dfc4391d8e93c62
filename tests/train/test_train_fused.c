/* The trainer's fused path (VBPR_TRAINER_FUSED) and the InfoNCE loss kind in
 * the trainer: both learn the structure of small data; the fused path
 * refuses what it cannot train. */
#include <math.h>
#include <stdbool.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

/* Users in two groups that like two item blocks (as test_train.c). */
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
  ck_assert_ok(vbpr_dataset_create(U, I, nt, tu, ti, NULL, NULL, train));
  ck_assert_ok(vbpr_dataset_create(U, I, ns, su, si, NULL, NULL, test));
}

static vbpr_trainer *make(const vbpr_dataset *train, const vbpr_dataset *test,
                          vbpr_loss_kind kind, vbpr_optim_kind opt, int fused)
{
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 16));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_INIT_SCALE, 0.1));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_LOSS, kind));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_OPTIMIZER, opt));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_FUSED, fused));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, 64));
  size_t k = 10;
  ck_assert_ok(vbpr_trainer_set_ks(tr, 1, &k));
  return tr;
}

static double recall_after(vbpr_trainer *tr, int epochs, double *first, double *last)
{
  for (int e = 0; e < epochs; e++) {
    double loss;
    ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
    ck_assert(isfinite(loss));
    if (e == 0) *first = loss;
    *last = loss;
  }
  double recall = -1;
  ck_assert_ok(vbpr_trainer_evaluate(tr));
  ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 10, &recall));
  return recall;
}

/* _i: loss kind (BPR, Variational, InfoNCE) x row-wise optimizer. Chance is
 * about 0.36 (3 test items among ~28 candidates, 10 picks). */
START_TEST(fused_path_learns_the_structure)
{
  const vbpr_loss_kind kinds[] = {VBPR_LOSS_BPR, VBPR_LOSS_VARIATIONAL, VBPR_LOSS_INFONCE};
  const vbpr_optim_kind opts[] = {VBPR_OPTIM_SGD, VBPR_OPTIM_ADAGRAD, VBPR_OPTIM_SPARSE_ADAM};
  const double lrs[] = {0.05, 0.05, 0.01};
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = make(train, test, kinds[_i / 3], opts[_i % 3], 1);
  ck_assert_ok(vbpr_optim_set(vbpr_trainer_optim(tr), VBPR_OPTIM_LR, lrs[_i % 3]));
  double first = 0, last = 0, recall = recall_after(tr, 30, &first, &last);
  ck_assert_msg(last < 0.8 * first, "case %d: loss %g -> %g", _i, first, last);
  ck_assert_msg(recall > 0.6, "case %d: recall@10 %g", _i, recall);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(infonce_learns_on_the_batched_path)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = make(train, test, VBPR_LOSS_INFONCE, VBPR_OPTIM_ADAM, 0);
  ck_assert_ok(vbpr_optim_set(vbpr_trainer_optim(tr), VBPR_OPTIM_LR, 0.01));
  ck_assert_ok(vbpr_loss_set(vbpr_trainer_loss(tr), VBPR_LOSS_NUM_NEG, 8));
  double first = 0, last = 0, recall = recall_after(tr, 30, &first, &last);
  double n = 0;
  ck_assert_ok(vbpr_sampler_get(vbpr_trainer_sampler(tr), VBPR_SAMPLER_NUM_NEG, &n));
  ck_assert(n == 8); /* the sampler follows the loss */
  ck_assert_msg(last < 0.8 * first, "loss %g -> %g", first, last);
  ck_assert_msg(recall > 0.6, "recall@10 %g", recall);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

/* The fused path can be switched on and off between epochs: both work on
 * the same tables and optimizer state. */
START_TEST(fused_path_can_change_between_epochs)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = make(train, test, VBPR_LOSS_VARIATIONAL, VBPR_OPTIM_ADAGRAD, 1);
  double loss = 0, first = 0;
  ck_assert_ok(vbpr_trainer_epoch(tr, &first));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_FUSED, 0));
  for (int e = 0; e < 10; e++) ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_FUSED, 1));
  for (int e = 0; e < 10; e++) ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert(isfinite(loss) && loss < first);
  int64_t steps = 0;
  ck_assert_ok(vbpr_optim_slot_steps(vbpr_trainer_optim(tr), 1, &steps));
  ck_assert_int_gt(steps, 21); /* batches of both paths counted */
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(fused_path_refuses_what_it_cannot_train)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = make(train, test, VBPR_LOSS_BPR, VBPR_OPTIM_ADAM, 1);
  ck_assert_status(vbpr_trainer_epoch(tr, NULL), VBPR_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(vbpr_last_error(), "row-wise optimizer"), "%s", vbpr_last_error());
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 0);
  vbpr_trainer_destroy(tr);
  /* noise diagnosis reads the attention the fused path never stores */
  tr = make(train, test, VBPR_LOSS_VARIATIONAL, VBPR_OPTIM_ADAGRAD, 1);
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_TRACK, 1));
  ck_assert_status(vbpr_trainer_epoch(tr, NULL), VBPR_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(vbpr_last_error(), "noise_track"), "%s", vbpr_last_error());
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_TRACK, 0));
  ck_assert_ok(vbpr_trainer_epoch(tr, NULL));
  vbpr_trainer_destroy(tr);
  if (vbpr_has_module(VBPR_MODULE_LIGHTGCN)) {
    ck_assert_ok(vbpr_trainer_create(train, test, &tr));
    ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_ENCODER, VBPR_ENCODER_LIGHTGCN));
    ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_OPTIMIZER, VBPR_OPTIM_SGD));
    ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_FUSED, 1));
    ck_assert_status(vbpr_trainer_epoch(tr, NULL), VBPR_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(vbpr_last_error(), "MF encoder only"), "%s", vbpr_last_error());
    vbpr_trainer_destroy(tr);
  }
  /* names and values come from the trainer's table */
  vbpr_trainer_param p;
  double v = -1;
  ck_assert_ok(vbpr_trainer_param_from_name("fused", &p));
  ck_assert_int_eq(p, VBPR_TRAINER_FUSED);
  ck_assert_ok(vbpr_trainer_param_parse(VBPR_TRAINER_FUSED, "on", &v));
  ck_assert(v == 1);
  ck_assert_ok(vbpr_trainer_param_parse(VBPR_TRAINER_OPTIMIZER, "sparse-adam", &v));
  ck_assert(v == VBPR_OPTIM_SPARSE_ADAM);
  ck_assert_ok(vbpr_trainer_param_parse(VBPR_TRAINER_LOSS, "infonce", &v));
  ck_assert(v == VBPR_LOSS_INFONCE);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("train_fused");
  TCase *tc = tcase_create("fused");
  tcase_set_timeout(tc, 120);
  if (vbpr_has_module(VBPR_MODULE_MF)) {
    tcase_add_loop_test(tc, fused_path_learns_the_structure, 0, 9);
    tcase_add_test(tc, infonce_learns_on_the_batched_path);
    tcase_add_test(tc, fused_path_can_change_between_epochs);
    tcase_add_test(tc, fused_path_refuses_what_it_cannot_train);
  }
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
