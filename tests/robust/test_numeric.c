/* Numerical robustness: extreme but finite scores and temperatures, size
 * products that overflow size_t, denormal inputs, and divergence during
 * training reported with its epoch and batch. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

enum { B = 8, M = 3, N = 5 };

static void assert_finite(const float *x, size_t n, const char *what)
{
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(isfinite(x[i]), "%s[%zu] = %g is not finite", what, i, (double)x[i]);
}

static vbpr_loss *make_loss(int est, int att, double c)
{
  vbpr_loss *loss = NULL;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss));
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, M));
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, N));
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_ESTIMATOR, est));
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_NEG_ATTENTION, att));
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_C_POS, c));
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_C_NEG, c));
  return loss;
}

/* Scores of magnitude 1e4 with temperatures at both ends of their range:
 * the loss stays finite, near the hinge value, with finite gradients. */
START_TEST(extreme_scores_and_temperatures)
{
  static const double cs[] = {1e-6, 1.0, 1e6};
  static const int ests[] = {VBPR_ESTIMATOR_PROTOTYPE, VBPR_ESTIMATOR_PROTOTYPE_DETACHED, VBPR_ESTIMATOR_ELBO};
  static const int atts[] = {VBPR_ATTENTION_HARD, VBPR_ATTENTION_EASY};
  float sp[B * M], sn[B * N], gp[B * M], gn[B * N], lpp[B * M], lpn[B * N];
  for (int i = 0; i < B * M; i++) { sp[i] = (i % 2 ? -1e4f : 1e4f); lpp[i] = -30.0f; }
  for (int i = 0; i < B * N; i++) { sn[i] = (i % 3 ? 1e4f : -1e4f); lpn[i] = 0.0f; }
  for (size_t e = 0; e < 3; e++)
    for (size_t a = 0; a < 2; a++)
      for (size_t k = 0; k < 3; k++) {
        vbpr_loss *loss = make_loss(ests[e], atts[a], cs[k]);
        float l = NAN;
        ck_assert_ok(vbpr_loss_forward_backward_scores(loss, B, sp, sn, lpp, lpn, 1.0f, &l, gp,
                                                       gn));
        ck_assert_msg(isfinite(l) && l >= 0.0f && l <= 2.0001e4f,
                      "est %d att %d c %g: loss %g", ests[e], atts[a], cs[k], (double)l);
        assert_finite(gp, B * M, "grad_pos");
        assert_finite(gn, B * N, "grad_neg");
        vbpr_loss_destroy(loss);
      }
}
END_TEST

/* The same extremes at the embedding level (score = 100 * 100 = 1e4). */
START_TEST(extreme_embeddings)
{
  enum { D = 4 };
  float u[B * D], p[B * M * D], n[B * N * D], gu[B * D], gp[B * M * D], gn[B * N * D];
  for (int i = 0; i < B * D; i++) u[i] = 50.0f;
  for (int i = 0; i < B * M * D; i++) p[i] = (i % 2 ? -50.0f : 50.0f);
  for (int i = 0; i < B * N * D; i++) n[i] = 50.0f;
  for (double c = 1e-6; c <= 1e6; c *= 1e6) {
    vbpr_loss *loss = make_loss(VBPR_ESTIMATOR_PROTOTYPE, VBPR_ATTENTION_HARD, c);
    float l = NAN;
    ck_assert_ok(vbpr_loss_forward(loss, B, D, u, p, n, NULL, NULL, &l));
    ck_assert_msg(isfinite(l), "c %g: loss %g", c, (double)l);
    ck_assert_ok(vbpr_loss_backward(loss, 1.0f, gu, gp, gn));
    assert_finite(gu, B * D, "grad_user");
    assert_finite(gp, B * M * D, "grad_pos");
    assert_finite(gn, B * N * D, "grad_neg");
    vbpr_loss_destroy(loss);
  }
}
END_TEST

/* Finite embeddings whose inner products overflow float: a clear
 * VBPR_ERR_NUMERIC naming the row, never a silent Inf or NaN loss. */
START_TEST(overflowing_scores_are_numeric_errors)
{
  enum { D = 4 };
  float u[B * D], p[B * M * D], n[B * N * D], l = 0;
  for (int i = 0; i < B * D; i++) u[i] = 1.0f;
  for (int i = 0; i < B * M * D; i++) p[i] = 1.0f;
  for (int i = 0; i < B * N * D; i++) n[i] = 1.0f;
  u[3 * D] = 1e20f; /* row 3 */
  p[3 * M * D] = 1e20f;
  vbpr_loss *loss = make_loss(VBPR_ESTIMATOR_PROTOTYPE, VBPR_ATTENTION_HARD, 1.0);
  ck_assert_status(vbpr_loss_forward(loss, B, D, u, p, n, NULL, NULL, &l), VBPR_ERR_NUMERIC);
  ck_assert_msg(strstr(vbpr_last_error(), "row 3") != NULL, "%s", vbpr_last_error());
  vbpr_loss_destroy(loss);
}
END_TEST

/* Subnormal inputs are finite: accepted, with finite results. */
START_TEST(denormal_inputs)
{
  enum { D = 16 };
  static float u[B * D], p[B * M * D], n[B * N * D], gu[B * D], gp[B * M * D], gn[B * N * D];
  float tiny = FLT_MIN / 1024.0f;
  ck_assert(fpclassify(tiny) == FP_SUBNORMAL);
  for (int i = 0; i < B * D; i++) u[i] = tiny * (float)(1 + i % 3);
  for (int i = 0; i < B * M * D; i++) p[i] = tiny;
  for (int i = 0; i < B * N * D; i++) n[i] = -tiny;
  static const int ests[] = {VBPR_ESTIMATOR_PROTOTYPE, VBPR_ESTIMATOR_ELBO};
  for (int e = 0; e < 2; e++) {
    vbpr_loss *loss = make_loss(ests[e], VBPR_ATTENTION_HARD, 1e-6);
    float l = NAN;
    ck_assert_ok(vbpr_loss_forward_backward(loss, B, D, u, p, n, NULL, NULL, 1.0f, &l, gu, gp,
                                            gn));
    /* all scores are ~0: the loss is softplus(0) = log 2 */
    ck_assert_msg(fabsf(l - logf(2.0f)) < 1e-5f, "loss %g", (double)l);
    assert_finite(gu, B * D, "grad_user");
    assert_finite(gp, B * M * D, "grad_pos");
    assert_finite(gn, B * N * D, "grad_neg");
    vbpr_loss_destroy(loss);
  }
  /* subnormal embeddings through the encoder and the evaluator */
  vbpr_encoder *enc = NULL;
  ck_assert_ok(vbpr_encoder_create_mf(4, 6, 2, 1, &enc));
  float *param;
  const float *grad;
  size_t rows, dim;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &param, &grad, &rows, &dim));
  for (size_t i = 0; i < rows * dim; i++) param[i] = tiny;
  int32_t us[2] = {0, 1}, ps[2] = {2, 3}, ns[2] = {4, 5};
  float ue[4], pe[4], ne[4];
  ck_assert_ok(vbpr_encoder_forward(enc, 2, 1, 1, us, ps, ns, ue, pe, ne));
  ck_assert(ue[0] == tiny);
  vbpr_encoder_destroy(enc);
}
END_TEST

/* Sizes whose products overflow size_t are refused before any memory is
 * touched: the buffers passed are tiny (ASan would see an overrun). */
START_TEST(overflowing_sizes_are_refused)
{
  float one[16] = {0}, l = 0;
  int32_t ids[16] = {0};
  vbpr_loss *loss = make_loss(VBPR_ESTIMATOR_ELBO, VBPR_ATTENTION_HARD, 1.0);
  vbpr_status st = vbpr_loss_forward(loss, SIZE_MAX / 2, 4, one, one, one, NULL, NULL, &l);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY, "%d %s", st,
                vbpr_last_error());
  st = vbpr_loss_forward(loss, 4, SIZE_MAX / 4, one, one, one, NULL, NULL, &l);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY, "%d %s", st,
                vbpr_last_error());
  st = vbpr_loss_forward_scores(loss, SIZE_MAX / 3, one, one, NULL, NULL, &l);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY, "%d %s", st,
                vbpr_last_error());
  /* M and N at the maximum (2^20): batch * M overflows */
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, VBPR_LOSS_MAX_SAMPLES));
  ck_assert_ok(vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, VBPR_LOSS_MAX_SAMPLES));
  st = vbpr_loss_forward_scores(loss, (size_t)1 << 44, one, one, NULL, NULL, &l);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY, "%d %s", st,
                vbpr_last_error());
  ck_assert(strstr(vbpr_last_error(), "vbpr_loss_forward_scores") != NULL);
  vbpr_loss_destroy(loss);

  vbpr_encoder *enc = NULL;
  ck_assert_ok(vbpr_encoder_create_mf(4, 4, 4, 1, &enc));
  st = vbpr_encoder_forward(enc, SIZE_MAX / 2, 3, 3, ids, ids, ids, one, one, one);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY, "%d %s", st,
                vbpr_last_error());
  st = vbpr_encoder_forward(enc, 2, SIZE_MAX / 2, 1, ids, ids, ids, one, one, one);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY, "%d %s", st,
                vbpr_last_error());
  vbpr_encoder_destroy(enc);
  /* tables of 2^31 x 2^31 rows would overflow nothing in size_t on 64-bit,
   * but dim beyond the maximum is refused */
  enc = NULL;
  ck_assert_status(vbpr_encoder_create_mf(4, 4, VBPR_ENCODER_MAX_DIM + 1, 1, &enc),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(enc);

  vbpr_optim *opt = NULL;
  ck_assert_ok(vbpr_optim_create(VBPR_OPTIM_ADAM, &opt));
  st = vbpr_optim_step_rows(opt, 0, SIZE_MAX / 2, 4, one, one, 1, ids);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY, "%d %s", st,
                vbpr_last_error());
  vbpr_optim_destroy(opt);

  int32_t items[4];
  float scores[4];
  vbpr_dataset *ds = NULL;
  int32_t du[2] = {0, 1}, di[2] = {0, 1};
  ck_assert_ok(vbpr_dataset_create(2, 2, 2, du, di, NULL, NULL, &ds));
  st = vbpr_recommend(ds, 2, 2, SIZE_MAX / 2, one, one, 2, du, 2, items, scores);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY, "%d %s", st,
                vbpr_last_error());
  st = vbpr_recommend(ds, 2, 2, 2, one, one, SIZE_MAX / 2, du, 2, items, scores);
  ck_assert_msg(st == VBPR_ERR_INVALID_ARGUMENT || st == VBPR_ERR_OUT_OF_MEMORY ||
                    st == VBPR_ERR_OUT_OF_RANGE,
                "%d %s", st, vbpr_last_error());
  vbpr_dataset_destroy(ds);
}
END_TEST

static void make_data(vbpr_dataset **train, vbpr_dataset **test)
{
  vbpr_synthetic *g = NULL;
  ck_assert_ok(vbpr_synthetic_create(&g));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_USERS, 60));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_ITEMS, 50));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_MEAN_PREFERENCES, 10));
  ck_assert_ok(vbpr_synthetic_generate(g, train, test));
  vbpr_synthetic_destroy(g);
}

/* A trainer whose parameters blow up names the epoch and batch, and the
 * handle stays safe to query and destroy. LightGCN and the score-level
 * BPR loss take other paths than the MF divergence test in tests/train. */
static void diverge(int encoder, int loss_kind)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = NULL;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_ENCODER, encoder));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_LOSS, loss_kind));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_OPTIMIZER, VBPR_OPTIM_SGD));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_INIT_SCALE, 100));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, 32));
  ck_assert_ok(vbpr_optim_set(vbpr_trainer_optim(tr), VBPR_OPTIM_LR, 1000));
  vbpr_status st = VBPR_OK;
  int e = 0;
  for (; e < 50 && st == VBPR_OK; e++) st = vbpr_trainer_epoch(tr, NULL);
  ck_assert_status(st, VBPR_ERR_NUMERIC);
  const char *msg = vbpr_last_error();
  ck_assert_msg(strstr(msg, "epoch") && strstr(msg, "batch"), "%s", msg);
  char want[32]; /* epochs are numbered from 1 */
  snprintf(want, sizeof want, "epoch %d,", e);
  ck_assert_msg(strstr(msg, want) != NULL, "epoch %d not named in: %s", e, msg);
  /* the handle survives: further calls fail cleanly or work, never crash */
  double loss = 0;
  st = vbpr_trainer_epoch(tr, &loss);
  ck_assert_msg(st != VBPR_OK || isfinite(loss), "epoch after divergence: %d", st);
  ck_assert_ptr_nonnull(vbpr_trainer_encoder(tr));
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}

START_TEST(divergence_named_mf_bpr) { diverge(VBPR_ENCODER_MF, VBPR_LOSS_BPR); }
END_TEST

START_TEST(divergence_named_lightgcn)
{
  if (!vbpr_has_module(VBPR_MODULE_LIGHTGCN)) return;
  diverge(VBPR_ENCODER_LIGHTGCN, VBPR_LOSS_VARIATIONAL);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("robust_numeric");
  TCase *tc = tcase_create("numeric");
  tcase_add_test(tc, extreme_scores_and_temperatures);
  tcase_add_test(tc, extreme_embeddings);
  tcase_add_test(tc, overflowing_scores_are_numeric_errors);
  if (vbpr_has_module(VBPR_MODULE_MF)) { /* these build MF encoders */
    tcase_add_test(tc, denormal_inputs);
    tcase_add_test(tc, overflowing_sizes_are_refused);
    tcase_add_test(tc, divergence_named_mf_bpr);
  }
  tcase_add_test(tc, divergence_named_lightgcn);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
