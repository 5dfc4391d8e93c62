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
  ck_assert_ok(vbpr_dataset_create(U, I, nt, tu, ti, NULL, NULL, train));
  ck_assert_ok(vbpr_dataset_create(U, I, ns, su, si, NULL, NULL, test));
}

START_TEST(parameters_are_validated)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = (vbpr_trainer *)&tr;
  ck_assert_status(vbpr_trainer_create(NULL, test, &tr), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(tr); /* *out is NULL after a failed constructor */
  ck_assert_status(vbpr_trainer_create(train, test, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  double v = 0;
  ck_assert_ok(vbpr_trainer_get(tr, VBPR_TRAINER_DIM, &v));
  ck_assert_double_eq(v, 64);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "vbpr_trainer_set: dim must be an integer in") !=
                    NULL, "%s", vbpr_last_error());
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8.5), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_GOOD, NAN),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAINER_LOSS, 0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "bpr (1), variational (2)") != NULL, "%s",
                vbpr_last_error());
  ck_assert_status(vbpr_trainer_set(tr, (vbpr_trainer_param)0, 1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, (vbpr_trainer_param)999, 1),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_get(tr, VBPR_TRAINER_DIM, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_get(tr, VBPR_TRAINER_DIM, &v));
  ck_assert_double_eq(v, 64); /* failed sets changed nothing */
  size_t bad_ks[] = {10, 0};
  ck_assert_status(vbpr_trainer_set_ks(tr, 2, bad_ks), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set_ks(tr, 0, bad_ks), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 20, &v), VBPR_ERR_STATE);
  ck_assert_ptr_null(vbpr_trainer_encoder(tr));
  ck_assert_ptr_null(vbpr_trainer_loss(tr));
  ck_assert_ptr_null(vbpr_trainer_sampler(tr));
  ck_assert_ptr_null(vbpr_trainer_optim(tr));
  ck_assert_ptr_null(vbpr_trainer_evaluator(tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ptr_nonnull(vbpr_trainer_encoder(tr));
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 16), VBPR_ERR_STATE);
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8)); /* no change: fine */
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EPOCHS, 3)); /* not structural */
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_RARITY, 0.5));
  vbpr_trainer_destroy(tr);
  vbpr_trainer_destroy(NULL);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(parts_are_lent_and_configured_on_themselves)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_SEED, 7));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  vbpr_loss *loss = vbpr_trainer_loss(tr);
  vbpr_sampler *s = vbpr_trainer_sampler(tr);
  vbpr_optim *o = vbpr_trainer_optim(tr);
  ck_assert_int_eq(vbpr_loss_get_kind(loss), VBPR_LOSS_VARIATIONAL);
  ck_assert_int_eq(vbpr_optim_get_kind(o), VBPR_OPTIM_ADAM);
  ck_assert_ptr_nonnull(vbpr_trainer_evaluator(tr));
  double v = 0;
  /* what prepare set on the parts: the seed, the reference weight decay,
   * and the loss's M and N on the sampler */
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_SEED, &v));
  ck_assert_double_eq(v, 7);
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_WEIGHT_DECAY, &v));
  ck_assert_double_eq_tol(v, 1e-5, 1e-12);
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_NUM_NEG, &v));
  ck_assert_double_eq(v, 4);
  /* the loss is the one source of M and N: the next epoch follows it */
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, 3));
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, 7));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_BATCH_SIZE, 50));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_LR, 0.01));
  double l = 0;
  ck_assert_ok(vbpr_trainer_epoch(tr, &l));
  ck_assert(isfinite(l));
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_NUM_POS, &v));
  ck_assert_double_eq(v, 3);
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_NUM_NEG, &v));
  ck_assert_double_eq(v, 7);
  size_t batch = 0;
  ck_assert_ok(vbpr_loss_batch_size(loss, &batch));
  ck_assert_uint_le(batch, 50);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(bounds_and_names_come_from_one_table)
{
  vbpr_param_bounds b;
  ck_assert_ok(vbpr_trainer_param_bounds(VBPR_TRAINER_EVAL_EVERY, &b));
  ck_assert_double_eq(b.def, 5);
  ck_assert(b.flags & VBPR_PARAM_INTEGRAL);
  vbpr_trainer_param p;
  ck_assert_ok(vbpr_trainer_param_from_name("eval-every", &p));
  ck_assert_int_eq(p, VBPR_TRAINER_EVAL_EVERY);
  ck_assert_str_eq(vbpr_trainer_param_name(VBPR_TRAINER_PRIOR_BAD), "prior_bad");
  ck_assert_ptr_null(vbpr_trainer_param_name((vbpr_trainer_param)99));
  double v = 0;
  ck_assert_ok(vbpr_trainer_param_parse(VBPR_TRAINER_ENCODER, "lightgcn", &v));
  ck_assert_double_eq(v, VBPR_ENCODER_LIGHTGCN);
  ck_assert_ok(vbpr_trainer_param_parse(VBPR_TRAINER_OPTIMIZER, "lazy-adam", &v));
  ck_assert_double_eq(v, VBPR_OPTIM_LAZY_ADAM);
  ck_assert_status(vbpr_trainer_param_parse(VBPR_TRAINER_OPTIMIZER, "adamw", &v),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "lazy_adam") != NULL, "%s", vbpr_last_error());
  /* a new trainer holds every default of the table */
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  for (int q = 1; vbpr_trainer_param_name((vbpr_trainer_param)q) != NULL; q++) {
    ck_assert_ok(vbpr_trainer_param_bounds((vbpr_trainer_param)q, &b));
    ck_assert_ok(vbpr_trainer_get(tr, (vbpr_trainer_param)q, &v));
    ck_assert_msg(v == b.def, "param %d: %g vs default %g", q, v, b.def);
  }
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

static double train_and_recall(vbpr_dataset *train, vbpr_dataset *test, vbpr_loss_kind kind,
                               int epochs, double *first_loss, double *last_loss)
{
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 16));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_INIT_SCALE, 0.1));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_LOSS, kind));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, 64));
  ck_assert_ok(vbpr_optim_set(vbpr_trainer_optim(tr), VBPR_OPTIM_LR, 0.01));
  size_t ks[] = {5, 10};
  ck_assert_ok(vbpr_trainer_set_ks(tr, 2, ks));
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

static int stop_at_two(void *p, vbpr_trainer_event ev, int64_t epoch, size_t batch, size_t n,
                       double loss)
{
  int *calls = p;
  (*calls)++;
  ck_assert_int_eq(ev, VBPR_TRAINER_EVENT_BATCH);
  ck_assert_int_eq(epoch, 1);
  ck_assert(batch >= 1 && batch <= n && isfinite(loss));
  return batch == 2;
}

START_TEST(progress_can_stop_an_epoch)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, NULL, &tr));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, 32));
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

static int stop_at_last(void *p, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                        size_t n, double loss)
{
  (void)p, (void)ev, (void)epoch, (void)loss;
  return batch == n;
}

static int count_batches(void *p, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                         size_t n, double loss)
{
  (void)ev, (void)epoch, (void)n, (void)loss;
  *(size_t *)p = batch;
  return 0;
}

START_TEST(a_stop_after_the_last_batch_does_not_skip_an_epoch)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, NULL, &tr));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, 100));
  ck_assert_ok(vbpr_trainer_set_progress(tr, stop_at_last, NULL));
  double stopped = 0;
  ck_assert_status(vbpr_trainer_epoch(tr, &stopped), VBPR_ERR_INTERRUPTED);
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 0);
  size_t batches = 0;
  ck_assert_ok(vbpr_trainer_set_progress(tr, count_batches, &batches));
  /* The next call completes the stopped epoch (all its batches ran): no
   * new batch, the epoch's mean loss, and the sampler on the next epoch. */
  double loss = 0;
  ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert_uint_eq(batches, 0);
  ck_assert(loss > 0 && loss == stopped);
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 1);
  ck_assert_int_eq(vbpr_sampler_epoch(vbpr_trainer_sampler(tr)), 1);
  /* and the one after is a whole epoch, not an empty one */
  ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert_uint_gt(batches, 1);
  ck_assert(loss > 0);
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 2);
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
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_OPTIMIZER, VBPR_OPTIM_SGD));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_INIT_SCALE, 100));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_optim_set(vbpr_trainer_optim(tr), VBPR_OPTIM_LR, 1000));
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
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_RARITY, 1));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_GOOD, 1));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_POPULARITY, 0.5));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_BAD, 0.5));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  vbpr_loss *l = vbpr_trainer_loss(tr);
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_ESTIMATOR, VBPR_ESTIMATOR_ELBO));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NEG_ATTENTION, VBPR_ATTENTION_EASY));
  double loss = 0;
  ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert(isfinite(loss));
  /* the priors follow a change of weight between epochs, and can go */
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_GOOD, 3));
  ck_assert_ok(vbpr_trainer_epoch(tr, &loss));
  ck_assert(isfinite(loss));
  for (int q = VBPR_TRAINER_PRIOR_RARITY; q <= VBPR_TRAINER_PRIOR_BAD; q++)
    ck_assert_ok(vbpr_trainer_set(tr, (vbpr_trainer_param)q, 0));
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
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8));
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
    ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_ENCODER, VBPR_ENCODER_LIGHTGCN));
    ck_assert_status(vbpr_trainer_prepare(tr), VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_null(vbpr_trainer_encoder(tr));
    vbpr_trainer_destroy(tr);
  }
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

typedef struct events {
  int batches, epochs, evaluations;
  int64_t last_epoch;
  int stop_at_epoch;
} events;

static int count_events(void *p, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                        size_t n, double loss)
{
  events *e = p;
  (void)batch, (void)n;
  ck_assert(isfinite(loss));
  if (ev == VBPR_TRAINER_EVENT_BATCH) e->batches++;
  if (ev == VBPR_TRAINER_EVENT_EPOCH) {
    e->epochs++;
    ck_assert_int_eq(epoch, e->last_epoch + 1);
    e->last_epoch = epoch;
  }
  if (ev == VBPR_TRAINER_EVENT_EVALUATION) e->evaluations++;
  return ev == VBPR_TRAINER_EVENT_EPOCH && epoch == e->stop_at_epoch;
}

START_TEST(fit_follows_the_schedule_and_keeps_the_history)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EPOCHS, 7));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EVAL_EVERY, 3));
  size_t ks[] = {5, 10};
  ck_assert_ok(vbpr_trainer_set_ks(tr, 2, ks));
  events e = {.stop_at_epoch = 4};
  ck_assert_ok(vbpr_trainer_set_progress(tr, count_events, &e));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, 100));
  ck_assert_status(vbpr_trainer_fit(tr), VBPR_ERR_INTERRUPTED);
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 4);
  ck_assert_ok(vbpr_trainer_fit(tr)); /* continues to EPOCHS */
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 7);
  ck_assert_int_eq(e.epochs, 7);
  ck_assert_int_gt(e.batches, 7);
  /* after epochs 3, 6 and the last, 7 */
  ck_assert_int_eq(e.evaluations, 3);
  ck_assert_uint_eq(vbpr_trainer_evaluation_count(tr), 3);
  int64_t epoch = 0;
  double v = -1, last = -1;
  ck_assert_ok(vbpr_trainer_evaluation(tr, 1, VBPR_METRIC_RECALL, 10, &epoch, &v));
  ck_assert_int_eq(epoch, 6);
  ck_assert(v >= 0 && v <= 1);
  ck_assert_ok(vbpr_trainer_evaluation(tr, 2, VBPR_METRIC_NDCG, 5, &epoch, &v));
  ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_NDCG, 5, &last));
  ck_assert_double_eq(v, last);
  ck_assert_status(vbpr_trainer_evaluation(tr, 3, VBPR_METRIC_NDCG, 5, &epoch, &v),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_evaluation(tr, 0, VBPR_METRIC_NDCG, 20, &epoch, &v),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_fit(tr)); /* nothing left to do */
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 7);
  ck_assert_ok(vbpr_trainer_evaluate(tr)); /* an explicit one joins the history */
  ck_assert_uint_eq(vbpr_trainer_evaluation_count(tr), 4);
  vbpr_trainer_destroy(tr);
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
  tcase_add_test(tc, parts_are_lent_and_configured_on_themselves);
  tcase_add_test(tc, bounds_and_names_come_from_one_table);
  tcase_add_test(tc, fit_follows_the_schedule_and_keeps_the_history);
  tcase_add_test(tc, trainer_keeps_its_datasets_alive);
  tcase_add_test(tc, training_learns_the_structure);
  tcase_add_test(tc, progress_can_stop_an_epoch);
  tcase_add_test(tc, a_stop_after_the_last_batch_does_not_skip_an_epoch);
  tcase_add_test(tc, divergence_is_reported_with_the_batch);
  tcase_add_test(tc, priors_need_no_ratings_and_stay_finite);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
