/* Allocation-failure injection through the whole lifecycle of every object.
 *
 * For N = 1, 2, ... the N-th allocation from the start of the scenario fails.
 * Every call must return VBPR_OK or VBPR_ERR_OUT_OF_MEMORY; the scenario stops
 * at the first OOM, but a call that failed on an existing handle is retried
 * with injection off and must then succeed (the handle stayed usable). Then
 * everything is destroyed: run under LeakSanitizer (CK_FORK=no) any leak on
 * an error path fails the test. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "testutil.h"
#include "vbpr/vbpr.h"

enum { U = 24, I = 18, DIM = 8, B = 16, M = 2, NN = 3 };

typedef struct scenario {
  char dir[256];
  vbpr_dataset_options *opts;
  vbpr_dataset *train, *test, *table_ds, *lists_ds, *syn_train, *syn_test;
  vbpr_dataset *split_a, *split_b, *pair_a, *pair_b;
  vbpr_synthetic *syn;
  vbpr_sampler *sampler;
  vbpr_encoder *mf, *gcn, *loaded, *xsim;
  vbpr_loss *loss, *bpr;
  vbpr_optim *opt;
  vbpr_evaluator *ev;
  vbpr_trainer *tr, *tr_gcn;
  int32_t users[B], pos[B * M], neg[B * NN];
  float ue[B * DIM], pe[B * M * DIM], ne[B * NN * DIM];
  float gu[B * DIM], gp[B * M * DIM], gn[B * NN * DIM];
  float sp[B * M], sn[B * NN], gsp[B * M], gsn[B * NN];
  int32_t rec_items[3 * 5];
  float rec_scores[3 * 5];
  vbpr_optim *rowopt; /* the fused path's row-wise optimizer */
  vbpr_loss *nce;
  double dsp[B * M], dsn[B * NN], dgsp[B * M], dgsn[B * NN];
  int ooms;
} scenario;

/* With VBPR_ROBUST_TRACE set, prints the allocation count after each call
 * (to locate a failure point). */
static void trace(const char *call)
{
  if (getenv("VBPR_ROBUST_TRACE") != NULL)
    fprintf(stderr, "%ld %s\n", vbpr__fault_count(), call);
}

/* A call creating a new object: OOM ends the scenario. */
#define NEW(call)                                                               \
  do {                                                                          \
    vbpr_status st_ = (call);                                                   \
    trace(#call);                                                               \
    if (st_ == VBPR_ERR_OUT_OF_MEMORY) { sc->ooms++; return; }                  \
    ck_assert_msg(st_ == VBPR_OK, "%s -> %d (%s) at line %d", #call, (int)st_,  \
                  vbpr_last_error(), __LINE__);                                 \
  } while (0)

/* A call on existing handles: after an OOM the same call, with injection
 * off, must succeed; then the scenario ends. */
#define USE(call)                                                               \
  do {                                                                          \
    vbpr_status st_ = (call);                                                   \
    trace(#call);                                                               \
    if (st_ == VBPR_ERR_OUT_OF_MEMORY) {                                        \
      sc->ooms++;                                                               \
      ck_assert_msg(strlen(vbpr_last_error()) > 0, "no message for OOM");       \
      vbpr__fault_arm(0);                                                       \
      vbpr_status again_ = (call);                                              \
      ck_assert_msg(again_ == VBPR_OK, "retry of %s after OOM -> %d (%s)",      \
                    #call, (int)again_, vbpr_last_error());                     \
      return;                                                                   \
    }                                                                           \
    ck_assert_msg(st_ == VBPR_OK, "%s -> %d (%s) at line %d", #call, (int)st_,  \
                  vbpr_last_error(), __LINE__);                                 \
  } while (0)

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fputs(text, f) >= 0, 1);
  ck_assert_int_eq(fclose(f), 0);
}

static void make_arrays(int32_t *u, int32_t *it, float *r, int64_t *n, int salt)
{
  int64_t k = 0;
  for (int32_t a = 0; a < U; a++)
    for (int32_t j = 0; j < 5; j++) {
      u[k] = a;
      it[k] = (a * 5 + j * 3 + salt) % I;
      r[k] = (float)(1 + (a + j) % 5);
      k++;
    }
  *n = k;
}

static void run_datasets(scenario *sc)
{
  int32_t u[U * 5], it[U * 5];
  float r[U * 5];
  int64_t n;
  char path[512];
  NEW(vbpr_dataset_options_create(&sc->opts));
  USE(vbpr_dataset_options_set(sc->opts, VBPR_DATASET_OPTIONS_DUPLICATES, VBPR_DATASET_DUPLICATES_MEAN));
  make_arrays(u, it, r, &n, 0);
  NEW(vbpr_dataset_create(U, I, n, u, it, r, sc->opts, &sc->train));
  make_arrays(u, it, r, &n, 1);
  NEW(vbpr_dataset_create(U, I, n, u, it, r, NULL, &sc->test));
  NEW(vbpr_dataset_load(test_path(path, sizeof path, sc->dir, "d.tsv"), NULL, &sc->table_ds));
  NEW(vbpr_dataset_load(test_path(path, sizeof path, sc->dir, "d.txt"), NULL, &sc->lists_ds));
  NEW(vbpr_dataset_load_pair(test_path(path, sizeof path, sc->dir, "d.tsv"), path, NULL,
                              &sc->pair_a, &sc->pair_b));
  NEW(vbpr_dataset_split(sc->train, 0.25, 0.0, 11, &sc->split_a, &sc->split_b));
  NEW(vbpr_synthetic_create(&sc->syn));
  USE(vbpr_synthetic_set(sc->syn, VBPR_SYNTHETIC_NUM_USERS, 40));
  USE(vbpr_synthetic_set(sc->syn, VBPR_SYNTHETIC_NUM_ITEMS, 30));
  USE(vbpr_synthetic_set(sc->syn, VBPR_SYNTHETIC_DIM, 4));
  USE(vbpr_synthetic_set(sc->syn, VBPR_SYNTHETIC_MEAN_PREFERENCES, 6));
  NEW(vbpr_synthetic_generate(sc->syn, &sc->syn_train, &sc->syn_test));
}

static void run_models(scenario *sc)
{
  size_t rows = 0;
  float l = 0;
  NEW(vbpr_sampler_create(sc->train, &sc->sampler));
  USE(vbpr_sampler_set(sc->sampler, VBPR_SAMPLER_BATCH_SIZE, B));
  USE(vbpr_sampler_set(sc->sampler, VBPR_SAMPLER_NUM_POS, M));
  USE(vbpr_sampler_set(sc->sampler, VBPR_SAMPLER_NUM_NEG, NN));
  USE(vbpr_sampler_next(sc->sampler, sc->users, sc->pos, sc->neg, &rows));
  ck_assert_uint_eq(rows, B);

  NEW(vbpr_encoder_create_mf(U, I, DIM, 7, &sc->mf));
  NEW(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &sc->loss));
  USE(vbpr_loss_set(sc->loss, VBPR_LOSS_NUM_POS, M));
  USE(vbpr_loss_set(sc->loss, VBPR_LOSS_NUM_NEG, NN));
  NEW(vbpr_optim_create(VBPR_OPTIM_ADAM, &sc->opt));
  USE(vbpr_encoder_forward(sc->mf, B, M, NN, sc->users, sc->pos, sc->neg, sc->ue, sc->pe, sc->ne));
  USE(vbpr_loss_forward(sc->loss, B, DIM, sc->ue, sc->pe, sc->ne, NULL, NULL, &l));
  USE(vbpr_loss_backward(sc->loss, 1.0f, sc->gu, sc->gp, sc->gn));
  USE(vbpr_encoder_backward(sc->mf, sc->gu, sc->gp, sc->gn));
  USE(vbpr_optim_step_encoder(sc->opt, sc->mf));
  USE(vbpr_encoder_zero_grad(sc->mf));
  USE(vbpr_loss_forward_backward(sc->loss, B, DIM, sc->ue, sc->pe, sc->ne, NULL, NULL, 1.0f, &l,
                                 sc->gu, sc->gp, sc->gn));
  for (int i = 0; i < B * M; i++) sc->sp[i] = 0.1f * (float)(i % 7);
  for (int i = 0; i < B * NN; i++) sc->sn[i] = -0.05f * (float)(i % 5);
  USE(vbpr_loss_forward_scores(sc->loss, B, sc->sp, sc->sn, NULL, NULL, &l));
  USE(vbpr_loss_backward_scores(sc->loss, 1.0f, sc->gsp, sc->gsn));
  USE(vbpr_loss_forward_backward_scores(sc->loss, B, sc->sp, sc->sn, NULL, NULL, 1.0f, &l,
                                        sc->gsp, sc->gsn));
  NEW(vbpr_loss_create(VBPR_LOSS_BPR, &sc->bpr));
  USE(vbpr_loss_forward_scores(sc->bpr, B, sc->sp, sc->sn, NULL, NULL, &l));
  /* double precision, InfoNCE, and the fused path on the MF tables */
  double dl = 0;
  for (int i = 0; i < B * M; i++) sc->dsp[i] = sc->sp[i];
  for (int i = 0; i < B * NN; i++) sc->dsn[i] = sc->sn[i];
  USE(vbpr_loss_forward_backward_scores_f64(sc->loss, B, sc->dsp, sc->dsn, NULL, NULL, 1.0,
                                            &dl, sc->dgsp, sc->dgsn));
  NEW(vbpr_loss_create(VBPR_LOSS_INFONCE, &sc->nce));
  USE(vbpr_loss_set(sc->nce, VBPR_LOSS_NUM_NEG, NN));
  USE(vbpr_loss_forward_scores(sc->nce, B, sc->sp, sc->sn, NULL, NULL, &l));
  NEW(vbpr_optim_create(VBPR_OPTIM_SPARSE_ADAM, &sc->rowopt));
  float *ut = NULL, *it = NULL;
  USE(vbpr_encoder_table(sc->mf, VBPR_TABLE_USERS, &ut, NULL, NULL, NULL));
  USE(vbpr_encoder_table(sc->mf, VBPR_TABLE_ITEMS, &it, NULL, NULL, NULL));
  USE(vbpr_optim_step_tuples(sc->rowopt, sc->loss, 0, U, I, DIM, ut, it, B, sc->users,
                             sc->pos, sc->neg, NULL, NULL, &dl));

  if (vbpr_has_module(VBPR_MODULE_LIGHTGCN)) {
    const float *eu, *ei;
    NEW(vbpr_encoder_create_lightgcn(sc->train, DIM, 2, 3, &sc->gcn));
    USE(vbpr_encoder_forward(sc->gcn, B, M, NN, sc->users, sc->pos, sc->neg, sc->ue, sc->pe,
                             sc->ne));
    USE(vbpr_encoder_backward(sc->gcn, sc->gu, sc->gp, sc->gn));
    USE(vbpr_optim_step_encoder(sc->opt, sc->gcn));
    USE(vbpr_encoder_zero_grad(sc->gcn));
    USE(vbpr_encoder_embeddings(sc->gcn, &eu, &ei));
  }
  if (vbpr_has_module(VBPR_MODULE_XSIMGCL)) {
    double term = 0;
    NEW(vbpr_encoder_create_xsimgcl(sc->train, DIM, 2, 3, &sc->xsim));
    USE(vbpr_encoder_forward(sc->xsim, B, M, NN, sc->users, sc->pos, sc->neg, sc->ue, sc->pe,
                             sc->ne));
    USE(vbpr_encoder_extra_loss(sc->xsim, &term));
    USE(vbpr_encoder_backward(sc->xsim, sc->gu, sc->gp, sc->gn));
  }
}

static void run_eval_train(scenario *sc)
{
  const float *eu, *ei;
  double v = 0;
  size_t ks[2] = {3, 5};
  int32_t who[3] = {0, 5, 9};
  char path[512];
  USE(vbpr_encoder_embeddings(sc->mf, &eu, &ei));
  NEW(vbpr_evaluator_create(sc->train, sc->test, &sc->ev));
  USE(vbpr_evaluator_set_ks(sc->ev, 2, ks));
  USE(vbpr_evaluator_run(sc->ev, U, I, DIM, eu, ei));
  USE(vbpr_evaluator_metric(sc->ev, VBPR_METRIC_NDCG, 5, &v));
  USE(vbpr_recommend(sc->train, U, I, DIM, eu, ei, 3, who, 5, sc->rec_items, sc->rec_scores));

  NEW(vbpr_trainer_create(sc->syn_train, sc->syn_test, &sc->tr));
  USE(vbpr_trainer_set(sc->tr, VBPR_TRAINER_DIM, 8));
  USE(vbpr_trainer_set_ks(sc->tr, 2, ks));
  USE(vbpr_trainer_prepare(sc->tr));
  USE(vbpr_sampler_set(vbpr_trainer_sampler(sc->tr), VBPR_SAMPLER_BATCH_SIZE, 64));
  USE(vbpr_trainer_set(sc->tr, VBPR_TRAINER_EPOCHS, 2));
  USE(vbpr_trainer_set(sc->tr, VBPR_TRAINER_EVAL_EVERY, 1));
  USE(vbpr_trainer_set(sc->tr, VBPR_TRAINER_NOISE_TRACK, 1));
  USE(vbpr_trainer_fit(sc->tr));
  USE(vbpr_trainer_save_checkpoint(sc->tr, test_path(path, sizeof path, sc->dir, "t.ckpt")));
  USE(vbpr_trainer_load_checkpoint(sc->tr, path));
  USE(vbpr_trainer_noise_report(sc->tr, VBPR_NOISE_RANK_AUTO, 0,
                                test_path(path, sizeof path, sc->dir, "noise.tsv")));
  USE(vbpr_trainer_evaluate(sc->tr));
  USE(vbpr_trainer_metric(sc->tr, VBPR_METRIC_RECALL, 5, &v));

  if (vbpr_has_module(VBPR_MODULE_LIGHTGCN)) {
    NEW(vbpr_trainer_create(sc->syn_train, NULL, &sc->tr_gcn));
    USE(vbpr_trainer_set(sc->tr_gcn, VBPR_TRAINER_ENCODER, VBPR_ENCODER_LIGHTGCN));
    USE(vbpr_trainer_set(sc->tr_gcn, VBPR_TRAINER_LAYERS, 2));
    USE(vbpr_trainer_set(sc->tr_gcn, VBPR_TRAINER_DIM, 4));
    USE(vbpr_trainer_set(sc->tr_gcn, VBPR_TRAINER_PRIOR_POPULARITY, 0.5));
    USE(vbpr_trainer_prepare(sc->tr_gcn));
    USE(vbpr_sampler_set(vbpr_trainer_sampler(sc->tr_gcn), VBPR_SAMPLER_BATCH_SIZE, 100));
    USE(vbpr_loss_set(vbpr_trainer_loss(sc->tr_gcn), VBPR_LOSS_ESTIMATOR,
                      VBPR_ESTIMATOR_ELBO));
    USE(vbpr_loss_set(vbpr_trainer_loss(sc->tr_gcn), VBPR_LOSS_NUM_NEG, 6));
    USE(vbpr_trainer_epoch(sc->tr_gcn, NULL));
  }

  USE(vbpr_encoder_save(sc->mf, test_path(path, sizeof path, sc->dir, "m.vbpr")));
  NEW(vbpr_encoder_create_mf(U, I, DIM, 99, &sc->loaded));
  USE(vbpr_encoder_load(sc->loaded, path));
  USE(vbpr_encoder_export_npy(sc->loaded, VBPR_TABLE_ITEMS,
                              test_path(path, sizeof path, sc->dir, "items.npy")));
}

static void destroy_all(scenario *sc)
{
  vbpr_trainer_destroy(sc->tr_gcn);
  vbpr_trainer_destroy(sc->tr);
  vbpr_evaluator_destroy(sc->ev);
  vbpr_optim_destroy(sc->opt);
  vbpr_optim_destroy(sc->rowopt);
  vbpr_loss_destroy(sc->nce);
  vbpr_loss_destroy(sc->bpr);
  /* VBPR_ROBUST_SELFTEST_LEAK=1 leaks the loss on purpose: the ASan build
   * must then fail, which shows that leaks are detected. */
  if (getenv("VBPR_ROBUST_SELFTEST_LEAK") == NULL) vbpr_loss_destroy(sc->loss);
  vbpr_encoder_destroy(sc->xsim);
  vbpr_encoder_destroy(sc->loaded);
  vbpr_encoder_destroy(sc->gcn);
  vbpr_encoder_destroy(sc->mf);
  vbpr_sampler_destroy(sc->sampler);
  vbpr_synthetic_destroy(sc->syn);
  vbpr_dataset_destroy(sc->syn_test);
  vbpr_dataset_destroy(sc->syn_train);
  vbpr_dataset_destroy(sc->pair_b);
  vbpr_dataset_destroy(sc->pair_a);
  vbpr_dataset_destroy(sc->split_b);
  vbpr_dataset_destroy(sc->split_a);
  vbpr_dataset_destroy(sc->lists_ds);
  vbpr_dataset_destroy(sc->table_ds);
  vbpr_dataset_destroy(sc->test);
  vbpr_dataset_destroy(sc->train);
  vbpr_dataset_options_destroy(sc->opts);
}

static void scenario_run(scenario *sc)
{
  run_datasets(sc);
  if (sc->ooms) return;
  run_models(sc);
  if (sc->ooms) return;
  run_eval_train(sc);
}

/* Removes what a run wrote (the input files stay for the next run). */
static void clean_outputs(const char *dir)
{
  char path[512];
  unlink(test_path(path, sizeof path, dir, "m.vbpr"));
  unlink(test_path(path, sizeof path, dir, "items.npy"));
  unlink(test_path(path, sizeof path, dir, "t.ckpt"));
  unlink(test_path(path, sizeof path, dir, "noise.tsv"));
}

START_TEST(every_allocation_failure_is_clean)
{
  scenario base;
  memset(&base, 0, sizeof base);
  snprintf(base.dir, sizeof base.dir, "%s/vbpr-faults-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(base.dir));
  char path[512];
  write_file(test_path(path, sizeof path, base.dir, "d.tsv"),
             "user\titem\trating\n0\t1\t5\n0\t2\t3\n1\t2\t4\n2\t0\t1\n2\t1\t2\n");
  write_file(test_path(path, sizeof path, base.dir, "d.txt"), "0 1 2\n1 2\n2 0 1\n3\n");

  /* A failure can be absorbed on purpose (e.g. a shrinking realloc keeps
   * the old block), so a run without OOM is not the end: stop when the
   * N-th allocation was never reached. */
  long n = 1, injected = 0, absorbed = 0;
  for (;; n++) {
    scenario *sc = malloc(sizeof *sc);
    ck_assert_ptr_nonnull(sc);
    memcpy(sc, &base, sizeof *sc);
    vbpr__fault_arm(n);
    scenario_run(sc);
    long made = vbpr__fault_count();
    vbpr__fault_arm(0);
    destroy_all(sc);
    clean_outputs(base.dir);
    int ooms = sc->ooms;
    free(sc);
    if (ooms > 0) injected++;
    else if (made >= n) {
      absorbed++;
      if (getenv("VBPR_ROBUST_TRACE") != NULL) fprintf(stderr, "absorbed: %ld\n", n);
    }
    else break;
  }
  fprintf(stderr, "fault injection: %ld allocations, %ld failures reported as OOM, "
                  "%ld absorbed\n", n - 1, injected, absorbed);
  ck_assert_int_gt(injected, 50);
  unlink(test_path(path, sizeof path, base.dir, "d.tsv"));
  unlink(test_path(path, sizeof path, base.dir, "d.txt"));
  ck_assert_int_eq(rmdir(base.dir), 0);
}
END_TEST

int main(void)
{
  if (!vbpr_has_module(VBPR_MODULE_MF)) {
    fprintf(stderr, "SKIP: the mf module is not built\n");
    return 77; /* Meson's skip code */
  }
  Suite *s = suite_create("robust_faults");
  TCase *tc = tcase_create("faults");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, every_allocation_failure_is_clean);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
