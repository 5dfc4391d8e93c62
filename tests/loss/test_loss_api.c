/* The loss object's contract: creation, parameters, argument checks, the
 * stored-forward state machine, NaN/Inf reporting, untouched outputs on
 * failure. Black-box: links the shared library. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "testutil.h"
#include "vbpr/error.h"
#include "vbpr/loss.h"
#include "vbpr/runtime.h"

#define SENTINEL 12345.0f

static vbpr_loss *make(vbpr_loss_kind kind)
{
  vbpr_loss *l = NULL;
  ck_assert_ok(vbpr_loss_create(kind, &l));
  ck_assert_ptr_nonnull(l);
  return l;
}

static void expect_message(const char *a, const char *b)
{
  const char *msg = vbpr_last_error();
  ck_assert_msg(strstr(msg, a) != NULL, "message lacks '%s': %s", a, msg);
  if (b != NULL) ck_assert_msg(strstr(msg, b) != NULL, "message lacks '%s': %s", b, msg);
}

static void fill(float *x, size_t n, float v)
{
  for (size_t i = 0; i < n; i++) x[i] = v;
}

static bool untouched(const float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (x[i] != SENTINEL) return false;
  return true;
}

/* ---- create, destroy, enums ---------------------------------------------- */

START_TEST(enum_values_are_stable)
{
  ck_assert_int_eq(VBPR_LOSS_BPR, 1);
  ck_assert_int_eq(VBPR_LOSS_VARIATIONAL, 2);
  ck_assert_int_eq(VBPR_LOSS_INFONCE, 3);
  ck_assert_int_eq(VBPR_LOSS_NUM_POS, 1);
  ck_assert_int_eq(VBPR_LOSS_NUM_NEG, 2);
  ck_assert_int_eq(VBPR_LOSS_C_POS, 3);
  ck_assert_int_eq(VBPR_LOSS_C_NEG, 4);
  ck_assert_int_eq(VBPR_LOSS_ESTIMATOR, 5);
  ck_assert_int_eq(VBPR_LOSS_NEG_ATTENTION, 6);
  ck_assert_int_eq(VBPR_LOSS_POS_HARDNESS, 7);
  ck_assert_int_eq(VBPR_LOSS_NEG_HARDNESS, 8);
  ck_assert_int_eq(VBPR_LOSS_HARDNESS_TAU, 9);
  ck_assert_int_eq(VBPR_LOSS_TEMPERATURE, 10);
  ck_assert_int_eq(VBPR_ESTIMATOR_PROTOTYPE, 1);
  ck_assert_int_eq(VBPR_ESTIMATOR_PROTOTYPE_DETACHED, 2);
  ck_assert_int_eq(VBPR_ESTIMATOR_ELBO, 3);
  ck_assert_int_eq(VBPR_ATTENTION_HARD, 1);
  ck_assert_int_eq(VBPR_ATTENTION_EASY, -1);
}
END_TEST

START_TEST(create_checks_arguments)
{
  vbpr_loss *l = (vbpr_loss *)&l; /* must stay untouched on failure */
  vbpr_loss *before = l;
  ck_assert_status(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  expect_message("vbpr_loss_create", "out");
  const int bad[] = {0, 4, -1, 1000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    l = before;
    ck_assert_status(vbpr_loss_create((vbpr_loss_kind)bad[i], &l),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(l); /* set to NULL on entry */
    expect_message("kind", NULL);
  }
  char num[16];
  snprintf(num, sizeof num, "%d", 1000);
  expect_message(num, NULL);
  vbpr_loss_destroy(NULL); /* no-op */
}
END_TEST

START_TEST(defaults)
{
  vbpr_loss *v = make(VBPR_LOSS_VARIATIONAL), *b = make(VBPR_LOSS_BPR);
  const struct {
    vbpr_loss_param p;
    double want;
  } d[] = {{VBPR_LOSS_NUM_POS, 2},
           {VBPR_LOSS_NUM_NEG, 4},
           {VBPR_LOSS_C_POS, 4},
           {VBPR_LOSS_C_NEG, 4},
           {VBPR_LOSS_ESTIMATOR, VBPR_ESTIMATOR_PROTOTYPE},
           {VBPR_LOSS_NEG_ATTENTION, VBPR_ATTENTION_HARD},
           {VBPR_LOSS_POS_HARDNESS, 0},
           {VBPR_LOSS_NEG_HARDNESS, 0},
           {VBPR_LOSS_HARDNESS_TAU, 0.5}};
  for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
    double x = -99;
    ck_assert_ok(vbpr_loss_get(v, d[i].p, &x));
    ck_assert_msg(x == d[i].want, "param %d: %g, want %g", (int)d[i].p, x, d[i].want);
  }
  double x = -99;
  ck_assert_ok(vbpr_loss_get(b, VBPR_LOSS_NUM_POS, &x));
  ck_assert(x == 1.0);
  ck_assert_ok(vbpr_loss_get(b, VBPR_LOSS_NUM_NEG, &x));
  ck_assert(x == 1.0);
  vbpr_loss_destroy(v);
  vbpr_loss_destroy(b);
}
END_TEST

/* ---- parameters ----------------------------------------------------------- */

START_TEST(set_rejects_bad_values_and_keeps_old_ones)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  const struct {
    vbpr_loss_param p;
    double v;
  } bad[] = {
      {VBPR_LOSS_NUM_POS, 0},
      {VBPR_LOSS_NUM_POS, -1},
      {VBPR_LOSS_NUM_POS, 2.5},
      {VBPR_LOSS_NUM_POS, NAN},
      {VBPR_LOSS_NUM_POS, INFINITY},
      {VBPR_LOSS_NUM_POS, VBPR_LOSS_MAX_SAMPLES + 1.0},
      {VBPR_LOSS_NUM_NEG, 0},
      {VBPR_LOSS_NUM_NEG, 1e300},
      {VBPR_LOSS_NUM_NEG, 0.5},
      {VBPR_LOSS_C_POS, 0},
      {VBPR_LOSS_C_POS, -1},
      {VBPR_LOSS_C_POS, NAN},
      {VBPR_LOSS_C_POS, INFINITY},
      {VBPR_LOSS_C_POS, 1e-7},
      {VBPR_LOSS_C_POS, 2e6},
      {VBPR_LOSS_C_NEG, 0},
      {VBPR_LOSS_C_NEG, -INFINITY},
      {VBPR_LOSS_C_NEG, NAN},
      {VBPR_LOSS_ESTIMATOR, 0},
      {VBPR_LOSS_ESTIMATOR, 4},
      {VBPR_LOSS_ESTIMATOR, 1.5},
      {VBPR_LOSS_ESTIMATOR, NAN},
      {VBPR_LOSS_NEG_ATTENTION, 0},
      {VBPR_LOSS_NEG_ATTENTION, 2},
      {VBPR_LOSS_NEG_ATTENTION, -0.5},
      {VBPR_LOSS_NEG_ATTENTION, NAN},
      {VBPR_LOSS_POS_HARDNESS, -1},
      {VBPR_LOSS_POS_HARDNESS, NAN},
      {VBPR_LOSS_POS_HARDNESS, INFINITY},
      {VBPR_LOSS_NEG_HARDNESS, -1e-9},
      {VBPR_LOSS_NEG_HARDNESS, 1e7},
      {VBPR_LOSS_HARDNESS_TAU, 0},
      {VBPR_LOSS_HARDNESS_TAU, -0.5},
      {VBPR_LOSS_HARDNESS_TAU, NAN},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double before, after;
    ck_assert_ok(vbpr_loss_get(l, bad[i].p, &before));
    vbpr_error_clear();
    ck_assert_msg(vbpr_loss_set(l, bad[i].p, bad[i].v) == VBPR_ERR_INVALID_ARGUMENT,
                  "param %d value %g accepted", (int)bad[i].p, bad[i].v);
    expect_message("vbpr_loss_set: ", " must be ");
    ck_assert_ok(vbpr_loss_get(l, bad[i].p, &after));
    ck_assert(before == after);
  }
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_C_POS, -3), VBPR_ERR_INVALID_ARGUMENT);
  expect_message("vbpr_loss_set: c_pos must be in [1e-06, 1000000]", "got -3");
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_C_NEG, NAN), VBPR_ERR_INVALID_ARGUMENT);
  expect_message("c_neg must be", "got nan");
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(set_accepts_range_edges)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  double x;
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_POS, 1));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, VBPR_LOSS_MAX_SAMPLES));
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_NUM_NEG, &x));
  ck_assert(x == VBPR_LOSS_MAX_SAMPLES);
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_C_POS, 1e-6));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_C_NEG, 1e6));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_ESTIMATOR, VBPR_ESTIMATOR_ELBO));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NEG_ATTENTION, VBPR_ATTENTION_EASY));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_POS_HARDNESS, 0));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NEG_HARDNESS, 1e6));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_HARDNESS_TAU, 1e-6));
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_C_POS, &x));
  ck_assert(x == 1e-6);
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_NEG_ATTENTION, &x));
  ck_assert(x == -1);
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_ESTIMATOR, &x));
  ck_assert(x == 3);
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(unknown_params_and_null_pointers)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  double x = 7;
  const int unknown[] = {0, 11, -1, 99};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    ck_assert_status(vbpr_loss_set(l, (vbpr_loss_param)unknown[i], 1.0),
                     VBPR_ERR_INVALID_ARGUMENT);
    expect_message("vbpr_loss_set", "vbpr_loss_param");
    ck_assert_status(vbpr_loss_get(l, (vbpr_loss_param)unknown[i], &x),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert(x == 7);
  }
  expect_message("99", NULL);
  ck_assert_status(vbpr_loss_set(NULL, VBPR_LOSS_C_POS, 1.0), VBPR_ERR_INVALID_ARGUMENT);
  expect_message("loss", NULL);
  ck_assert_status(vbpr_loss_get(NULL, VBPR_LOSS_C_POS, &x), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_get(l, VBPR_LOSS_C_POS, NULL), VBPR_ERR_INVALID_ARGUMENT);
  expect_message("value", NULL);
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(presets_set_named_configurations)
{
  ck_assert_uint_ge(vbpr_loss_preset_count(), 4);
  ck_assert_ptr_null(vbpr_loss_preset_name(vbpr_loss_preset_count()));
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, 7));
  ck_assert_ok(vbpr_loss_set_preset(l, "Reference_Exact"));
  double v = 0;
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_ESTIMATOR, &v));
  ck_assert_double_eq(v, VBPR_ESTIMATOR_ELBO);
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_NEG_ATTENTION, &v));
  ck_assert_double_eq(v, VBPR_ATTENTION_EASY);
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_NEG_HARDNESS, &v));
  ck_assert_double_eq(v, 0.5);
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_NUM_NEG, &v));
  ck_assert_double_eq(v, 7); /* the host's sampling is left alone */
  for (size_t i = 0; i < vbpr_loss_preset_count(); i++)
    ck_assert_ok(vbpr_loss_set_preset(l, vbpr_loss_preset_name(i)));
  ck_assert_ok(vbpr_loss_set_preset(l, "paper"));
  ck_assert_status(vbpr_loss_set_preset(l, "fancy"), VBPR_ERR_INVALID_ARGUMENT);
  expect_message("unknown preset 'fancy'", "reference-exact");
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_ESTIMATOR, &v));
  ck_assert_double_eq(v, VBPR_ESTIMATOR_PROTOTYPE); /* unchanged */
  ck_assert_status(vbpr_loss_set_preset(l, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_set_preset(NULL, "paper"), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_loss_destroy(l);
  vbpr_loss *b = make(VBPR_LOSS_BPR);
  ck_assert_status(vbpr_loss_set_preset(b, "best"), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_loss_destroy(b);
}
END_TEST

START_TEST(bpr_takes_only_one_pair)
{
  vbpr_loss *l = make(VBPR_LOSS_BPR);
  double x = 0;
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_POS, 1));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, 1));
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_NUM_POS, 2), VBPR_ERR_INVALID_ARGUMENT);
  expect_message("num_pos must be an integer in [1, 1]", "got 2");
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, 4), VBPR_ERR_INVALID_ARGUMENT);
  expect_message("num_neg must be an integer in [1, 1]", "got 4");
  const vbpr_loss_param var_only[] = {VBPR_LOSS_C_POS,        VBPR_LOSS_C_NEG,
                                      VBPR_LOSS_ESTIMATOR,    VBPR_LOSS_NEG_ATTENTION,
                                      VBPR_LOSS_POS_HARDNESS, VBPR_LOSS_NEG_HARDNESS,
                                      VBPR_LOSS_HARDNESS_TAU};
  for (size_t i = 0; i < sizeof var_only / sizeof var_only[0]; i++) {
    ck_assert_status(vbpr_loss_set(l, var_only[i], 1.0), VBPR_ERR_INVALID_ARGUMENT);
    expect_message("does not apply to a VBPR_LOSS_BPR loss", NULL);
    ck_assert_status(vbpr_loss_get(l, var_only[i], &x), VBPR_ERR_INVALID_ARGUMENT);
  }
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_NUM_POS, &x));
  ck_assert(x == 1);
  vbpr_loss_destroy(l);
}
END_TEST

/* ---- forward arguments ---------------------------------------------------- */

/* A small valid problem: batch 2, dim 3, M 2, N 4. */
typedef struct small {
  float user[6], pos[12], neg[24], ps[4], ns[8], lpp[4], lpn[8];
  float gu[6], gp[12], gn[24], gps[4], gns[8];
  float loss;
} small;

static void small_init(small *s)
{
  for (int i = 0; i < 6; i++) s->user[i] = 0.1f * (float)(i + 1);
  for (int i = 0; i < 12; i++) s->pos[i] = 0.05f * (float)(i % 5) - 0.1f;
  for (int i = 0; i < 24; i++) s->neg[i] = 0.03f * (float)(i % 7) - 0.1f;
  for (int i = 0; i < 4; i++) s->ps[i] = 0.5f * (float)i, s->lpp[i] = -0.1f * (float)i;
  for (int i = 0; i < 8; i++) s->ns[i] = -0.25f * (float)i, s->lpn[i] = 0.1f * (float)i;
  fill(s->gu, 6, SENTINEL), fill(s->gp, 12, SENTINEL), fill(s->gn, 24, SENTINEL);
  fill(s->gps, 4, SENTINEL), fill(s->gns, 8, SENTINEL);
  s->loss = SENTINEL;
}

static bool small_untouched(const small *s)
{
  return s->loss == SENTINEL && untouched(s->gu, 6) && untouched(s->gp, 12) &&
         untouched(s->gn, 24) && untouched(s->gps, 4) && untouched(s->gns, 8);
}

START_TEST(forward_checks_arguments)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  small s;
  small_init(&s);
  const vbpr_status E = VBPR_ERR_INVALID_ARGUMENT;
  ck_assert_status(
      vbpr_loss_forward(NULL, 2, 3, s.user, s.pos, s.neg, NULL, NULL, &s.loss), E);
  ck_assert_status(vbpr_loss_forward(l, 2, 3, NULL, s.pos, s.neg, NULL, NULL, &s.loss),
                   E);
  expect_message("vbpr_loss_forward", "user");
  ck_assert_status(vbpr_loss_forward(l, 2, 3, s.user, NULL, s.neg, NULL, NULL, &s.loss),
                   E);
  expect_message("pos", NULL);
  ck_assert_status(vbpr_loss_forward(l, 2, 3, s.user, s.pos, NULL, NULL, NULL, &s.loss),
                   E);
  expect_message("neg", NULL);
  ck_assert_status(vbpr_loss_forward(l, 2, 3, s.user, s.pos, s.neg, NULL, NULL, NULL), E);
  expect_message("loss_out", NULL);
  ck_assert_status(vbpr_loss_forward(l, 0, 3, s.user, s.pos, s.neg, NULL, NULL, &s.loss),
                   E);
  expect_message("batch", "0");
  ck_assert_status(vbpr_loss_forward(l, 2, 0, s.user, s.pos, s.neg, NULL, NULL, &s.loss),
                   E);
  expect_message("dim", "0");
  /* sizes whose product overflows size_t: refused before any read */
  ck_assert_status(
      vbpr_loss_forward(l, SIZE_MAX / 2, 3, s.user, s.pos, s.neg, NULL, NULL, &s.loss),
      E);
  expect_message("overflows", NULL);
  ck_assert_status(
      vbpr_loss_forward(l, 3, SIZE_MAX / 4, s.user, s.pos, s.neg, NULL, NULL, &s.loss),
      E);
  ck_assert_status(vbpr_loss_forward(l, (size_t)1 << 40, (size_t)1 << 30, s.user, s.pos,
                                     s.neg, NULL, NULL, &s.loss),
                   E);
  ck_assert(small_untouched(&s));
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(forward_scores_checks_arguments)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  small s;
  small_init(&s);
  const vbpr_status E = VBPR_ERR_INVALID_ARGUMENT;
  ck_assert_status(vbpr_loss_forward_scores(NULL, 2, s.ps, s.ns, NULL, NULL, &s.loss), E);
  ck_assert_status(vbpr_loss_forward_scores(l, 2, NULL, s.ns, NULL, NULL, &s.loss), E);
  expect_message("vbpr_loss_forward_scores", "pos_scores");
  ck_assert_status(vbpr_loss_forward_scores(l, 2, s.ps, NULL, NULL, NULL, &s.loss), E);
  expect_message("neg_scores", NULL);
  ck_assert_status(vbpr_loss_forward_scores(l, 2, s.ps, s.ns, NULL, NULL, NULL), E);
  ck_assert_status(vbpr_loss_forward_scores(l, 0, s.ps, s.ns, NULL, NULL, &s.loss), E);
  expect_message("batch", NULL);
  ck_assert_status(
      vbpr_loss_forward_scores(l, SIZE_MAX / 3, s.ps, s.ns, NULL, NULL, &s.loss), E);
  expect_message("overflows", NULL);
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, VBPR_LOSS_MAX_SAMPLES));
  ck_assert_status(
      vbpr_loss_forward_scores(l, SIZE_MAX / 1000000, s.ps, s.ns, NULL, NULL, &s.loss),
      E);
  ck_assert(small_untouched(&s));
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(fused_checks_arguments)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  small s;
  small_init(&s);
  const vbpr_status E = VBPR_ERR_INVALID_ARGUMENT;
#define FB(L, B, D, U, P, N, G, LO, GU, GP, GN)                                          \
  vbpr_loss_forward_backward(L, B, D, U, P, N, NULL, NULL, G, LO, GU, GP, GN)
  ck_assert_status(FB(NULL, 2, 3, s.user, s.pos, s.neg, 1, &s.loss, s.gu, s.gp, s.gn), E);
  ck_assert_status(FB(l, 2, 3, NULL, s.pos, s.neg, 1, &s.loss, s.gu, s.gp, s.gn), E);
  ck_assert_status(FB(l, 2, 3, s.user, NULL, s.neg, 1, &s.loss, s.gu, s.gp, s.gn), E);
  ck_assert_status(FB(l, 2, 3, s.user, s.pos, NULL, 1, &s.loss, s.gu, s.gp, s.gn), E);
  ck_assert_status(FB(l, 2, 3, s.user, s.pos, s.neg, 1, NULL, s.gu, s.gp, s.gn), E);
  ck_assert_status(FB(l, 2, 3, s.user, s.pos, s.neg, 1, &s.loss, NULL, s.gp, s.gn), E);
  expect_message("vbpr_loss_forward_backward", "grad_user");
  ck_assert_status(FB(l, 2, 3, s.user, s.pos, s.neg, 1, &s.loss, s.gu, NULL, s.gn), E);
  ck_assert_status(FB(l, 2, 3, s.user, s.pos, s.neg, 1, &s.loss, s.gu, s.gp, NULL), E);
  ck_assert_status(FB(l, 0, 3, s.user, s.pos, s.neg, 1, &s.loss, s.gu, s.gp, s.gn), E);
  ck_assert_status(FB(l, 2, 0, s.user, s.pos, s.neg, 1, &s.loss, s.gu, s.gp, s.gn), E);
  ck_assert_status(
      FB(l, SIZE_MAX / 8, 3, s.user, s.pos, s.neg, 1, &s.loss, s.gu, s.gp, s.gn), E);
  ck_assert_status(FB(l, 2, 3, s.user, s.pos, s.neg, NAN, &s.loss, s.gu, s.gp, s.gn),
                   VBPR_ERR_NUMERIC);
  expect_message("grad_output", "nan");
  ck_assert_status(
      FB(l, 2, 3, s.user, s.pos, s.neg, -INFINITY, &s.loss, s.gu, s.gp, s.gn),
      VBPR_ERR_NUMERIC);
#undef FB
  const vbpr_status st[] = {
      vbpr_loss_forward_backward_scores(NULL, 2, s.ps, s.ns, NULL, NULL, 1, &s.loss,
                                        s.gps, s.gns),
      vbpr_loss_forward_backward_scores(l, 2, NULL, s.ns, NULL, NULL, 1, &s.loss, s.gps,
                                        s.gns),
      vbpr_loss_forward_backward_scores(l, 2, s.ps, NULL, NULL, NULL, 1, &s.loss, s.gps,
                                        s.gns),
      vbpr_loss_forward_backward_scores(l, 2, s.ps, s.ns, NULL, NULL, 1, NULL, s.gps,
                                        s.gns),
      vbpr_loss_forward_backward_scores(l, 2, s.ps, s.ns, NULL, NULL, 1, &s.loss, NULL,
                                        s.gns),
      vbpr_loss_forward_backward_scores(l, 2, s.ps, s.ns, NULL, NULL, 1, &s.loss, s.gps,
                                        NULL),
      vbpr_loss_forward_backward_scores(l, 0, s.ps, s.ns, NULL, NULL, 1, &s.loss, s.gps,
                                        s.gns),
  };
  for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
    ck_assert_msg(st[i] == E, "case %zu gave %d", i, (int)st[i]);
  ck_assert_status(vbpr_loss_forward_backward_scores(l, 2, s.ps, s.ns, NULL, NULL,
                                                     INFINITY, &s.loss, s.gps, s.gns),
                   VBPR_ERR_NUMERIC);
  ck_assert(small_untouched(&s));
  /* a failed fused call leaves no stored forward */
  ck_assert_status(vbpr_loss_backward_scores(l, 1, s.gps, s.gns), VBPR_ERR_STATE);
  vbpr_loss_destroy(l);
}
END_TEST

/* ---- the stored forward --------------------------------------------------- */

START_TEST(backward_needs_a_matching_forward)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  small s;
  small_init(&s);
  /* none yet */
  ck_assert_status(vbpr_loss_backward(l, 1, s.gu, s.gp, s.gn), VBPR_ERR_STATE);
  expect_message("vbpr_loss_backward", "forward");
  ck_assert_status(vbpr_loss_backward_scores(l, 1, s.gps, s.gns), VBPR_ERR_STATE);
  float alpha[4], beta[8], rows[2];
  size_t b = 99;
  ck_assert_status(vbpr_loss_attention(l, alpha, beta), VBPR_ERR_STATE);
  ck_assert_status(vbpr_loss_row_losses(l, rows), VBPR_ERR_STATE);
  ck_assert_status(vbpr_loss_batch_size(l, &b), VBPR_ERR_STATE);
  ck_assert_uint_eq(b, 99);
  /* a score-level forward has no embeddings to differentiate */
  ck_assert_ok(vbpr_loss_forward_scores(l, 2, s.ps, s.ns, s.lpp, s.lpn, &s.loss));
  ck_assert_status(vbpr_loss_backward(l, 1, s.gu, s.gp, s.gn), VBPR_ERR_STATE);
  expect_message("score-level", NULL);
  ck_assert_ok(vbpr_loss_backward_scores(l, 1, s.gps, s.gns));
  /* an embedding-level one serves both backwards */
  ck_assert_ok(vbpr_loss_forward(l, 2, 3, s.user, s.pos, s.neg, NULL, NULL, &s.loss));
  ck_assert_ok(vbpr_loss_backward(l, 1, s.gu, s.gp, s.gn));
  ck_assert_ok(vbpr_loss_backward_scores(l, 1, s.gps, s.gns));
  ck_assert_ok(vbpr_loss_backward(l, 1, s.gu, s.gp, s.gn)); /* twice is fine */
  ck_assert_ok(vbpr_loss_batch_size(l, &b));
  ck_assert_uint_eq(b, 2);
  /* a failed forward discards the stored one */
  ck_assert_status(vbpr_loss_forward(l, 0, 3, s.user, s.pos, s.neg, NULL, NULL, &s.loss),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_backward(l, 1, s.gu, s.gp, s.gn), VBPR_ERR_STATE);
  ck_assert_status(vbpr_loss_attention(l, alpha, NULL), VBPR_ERR_STATE);
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(set_discards_the_stored_forward)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  small s;
  small_init(&s);
  ck_assert_ok(vbpr_loss_forward(l, 2, 3, s.user, s.pos, s.neg, NULL, NULL, &s.loss));
  /* a failed set changes nothing */
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_C_POS, -1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_loss_backward(l, 1, s.gu, s.gp, s.gn));
  /* a successful one does, even to the same value */
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_C_POS, 4));
  ck_assert_status(vbpr_loss_backward(l, 1, s.gu, s.gp, s.gn), VBPR_ERR_STATE);
  expect_message("vbpr_loss_set", NULL);
  ck_assert_status(vbpr_loss_backward_scores(l, 1, s.gps, s.gns), VBPR_ERR_STATE);
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(backward_checks_arguments)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  small s;
  small_init(&s);
  ck_assert_ok(vbpr_loss_forward(l, 2, 3, s.user, s.pos, s.neg, NULL, NULL, &s.loss));
  fill(s.gu, 6, SENTINEL), fill(s.gp, 12, SENTINEL), fill(s.gn, 24, SENTINEL);
  s.loss = SENTINEL;
  const vbpr_status E = VBPR_ERR_INVALID_ARGUMENT;
  ck_assert_status(vbpr_loss_backward(NULL, 1, s.gu, s.gp, s.gn), E);
  ck_assert_status(vbpr_loss_backward(l, 1, NULL, s.gp, s.gn), E);
  expect_message("grad_user", NULL);
  ck_assert_status(vbpr_loss_backward(l, 1, s.gu, NULL, s.gn), E);
  expect_message("grad_pos", NULL);
  ck_assert_status(vbpr_loss_backward(l, 1, s.gu, s.gp, NULL), E);
  expect_message("grad_neg", NULL);
  ck_assert_status(vbpr_loss_backward(l, NAN, s.gu, s.gp, s.gn), VBPR_ERR_NUMERIC);
  expect_message("grad_output", NULL);
  ck_assert_status(vbpr_loss_backward(l, INFINITY, s.gu, s.gp, s.gn), VBPR_ERR_NUMERIC);
  ck_assert_status(vbpr_loss_backward_scores(NULL, 1, s.gps, s.gns), E);
  ck_assert_status(vbpr_loss_backward_scores(l, 1, NULL, s.gns), E);
  ck_assert_status(vbpr_loss_backward_scores(l, 1, s.gps, NULL), E);
  ck_assert_status(vbpr_loss_backward_scores(l, NAN, s.gps, s.gns), VBPR_ERR_NUMERIC);
  ck_assert(small_untouched(&s));
  /* failed backwards keep the stored forward */
  ck_assert_ok(vbpr_loss_backward(l, 1, s.gu, s.gp, s.gn));
  float a[4];
  ck_assert_status(vbpr_loss_attention(NULL, a, a), E);
  ck_assert_status(vbpr_loss_attention(l, NULL, NULL), E);
  ck_assert_status(vbpr_loss_row_losses(NULL, a), E);
  ck_assert_status(vbpr_loss_row_losses(l, NULL), E);
  size_t b;
  ck_assert_status(vbpr_loss_batch_size(NULL, &b), E);
  ck_assert_status(vbpr_loss_batch_size(l, NULL), E);
  vbpr_loss_destroy(l);
}
END_TEST

/* ---- NaN and Inf ---------------------------------------------------------- */

/* Poisons one input element; the call must fail with NUMERIC naming the row
 * and position, write nothing, and leave no stored forward. */
START_TEST(non_finite_inputs_are_located)
{
  const float poison[] = {NAN, INFINITY, -INFINITY};
  float bad = poison[_i % 3];
  const struct {
    int array; /* 0 user 1 pos 2 neg 3 lpp 4 lpn 5 ps 6 ns */
    size_t index;
    const char *name, *row, *where;
  } cases[] = {
      {0, 4, "user[4]", "row 1", "component 1"},
      {1, 7, "pos[7]", "row 1", "positive 0"},
      {1, 2, "pos[2]", "row 0", "component 2"},
      {2, 23, "neg[23]", "row 1", "negative 3"},
      {3, 3, "log_prior_pos[3]", "row 1", "positive 1"},
      {4, 2, "log_prior_neg[2]", "row 0", "negative 2"},
      {5, 2, "pos_scores[2]", "row 1", "positive 0"},
      {6, 7, "neg_scores[7]", "row 1", "negative 3"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int fused = 0; fused < 2; fused++) {
      vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
      small s;
      small_init(&s);
      float *arr[] = {s.user, s.pos, s.neg, s.lpp, s.lpn, s.ps, s.ns};
      /* a stored forward first: it must be discarded by the failure */
      ck_assert_ok(vbpr_loss_forward_scores(l, 2, s.ps, s.ns, NULL, NULL, &s.loss));
      s.loss = SENTINEL;
      arr[cases[c].array][cases[c].index] = bad;
      vbpr_status st;
      if (cases[c].array >= 5)
        st = fused ? vbpr_loss_forward_backward_scores(l, 2, s.ps, s.ns, s.lpp, s.lpn, 1,
                                                       &s.loss, s.gps, s.gns)
                   : vbpr_loss_forward_scores(l, 2, s.ps, s.ns, s.lpp, s.lpn, &s.loss);
      else
        st = fused ? vbpr_loss_forward_backward(l, 2, 3, s.user, s.pos, s.neg, s.lpp,
                                                s.lpn, 1, &s.loss, s.gu, s.gp, s.gn)
                   : vbpr_loss_forward(l, 2, 3, s.user, s.pos, s.neg, s.lpp, s.lpn,
                                       &s.loss);
      ck_assert_msg(st == VBPR_ERR_NUMERIC, "case %zu: status %d", c, (int)st);
      expect_message(cases[c].name, cases[c].row);
      expect_message(cases[c].where, isnan(bad) ? "nan" : "inf");
      ck_assert(small_untouched(&s));
      ck_assert_status(vbpr_loss_backward_scores(l, 1, s.gps, s.gns), VBPR_ERR_STATE);
      vbpr_loss_destroy(l);
    }
}
END_TEST

START_TEST(first_bad_row_is_reported)
{
  /* Inf in row 5 and NaN in row 15000 of a batch split over two threads:
   * row 5 is named whatever the split */
  enum { B = 20000 };
  static float ps[B * 2], ns[B * 4];
  for (size_t i = 0; i < B * 2; i++) ps[i] = 0.01f * (float)(i % 13);
  for (size_t i = 0; i < B * 4; i++) ns[i] = -0.02f * (float)(i % 11);
  ps[15000 * 2 + 1] = NAN;
  ns[5 * 4 + 2] = INFINITY;
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  for (int nt = 1; nt <= 2; nt++) {
    ck_assert_ok(vbpr_set_num_threads(nt));
    float loss = SENTINEL;
    ck_assert_status(vbpr_loss_forward_scores(l, B, ps, ns, NULL, NULL, &loss),
                     VBPR_ERR_NUMERIC);
    expect_message("neg_scores[22]", "row 5,");
    ck_assert(loss == SENTINEL);
  }
  ns[5 * 4 + 2] = 0.0f;
  float loss = SENTINEL;
  ck_assert_status(vbpr_loss_forward_scores(l, B, ps, ns, NULL, NULL, &loss),
                   VBPR_ERR_NUMERIC);
  expect_message("pos_scores[30001]", "row 15000, positive 1");
  ck_assert_ok(vbpr_set_num_threads(0));
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(overflowing_inner_products_are_reported)
{
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  small s;
  small_init(&s);
  /* finite inputs whose inner product exceeds FLT_MAX */
  for (int k = 0; k < 3; k++) s.user[3 + k] = 1e30f, s.neg[4 * 3 + k] = 1e30f;
  ck_assert_status(vbpr_loss_forward_backward(l, 2, 3, s.user, s.pos, s.neg, NULL, NULL,
                                              1, &s.loss, s.gu, s.gp, s.gn),
                   VBPR_ERR_NUMERIC);
  expect_message("row 1", "overflows");
  ck_assert(small_untouched(&s));
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(overflowing_gradients_are_reported)
{
  /* Finite scores whose gradient exceeds FLT_MAX: the hardness prior exactly
   * balances two positives 2^113 apart (powers of two keep it exact), so
   * both weigh 1/2 and a_k (s_k - P) / c_pos is about 2^129. */
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL);
  const double c = 0x1p-19;
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_C_POS, c));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_HARDNESS_TAU, c));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_POS_HARDNESS, 1.0));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, 1));
  const float ps[4] = {1.0f, 2.0f, 0x1p112f, -0x1p112f}, ns[2] = {0.0f, 0.0f};
  float loss = SENTINEL, gp[4], gn[2];
  fill(gp, 4, SENTINEL), fill(gn, 2, SENTINEL);
  ck_assert_status(
      vbpr_loss_forward_backward_scores(l, 2, ps, ns, NULL, NULL, 1, &loss, gp, gn),
      VBPR_ERR_NUMERIC);
  expect_message("row 1", "overflows");
  ck_assert(loss == SENTINEL && untouched(gp, 4) && untouched(gn, 2));
  /* the forward alone fails too: its stored gradients would be unusable */
  ck_assert_status(vbpr_loss_forward_scores(l, 2, ps, ns, NULL, NULL, &loss),
                   VBPR_ERR_NUMERIC);
  ck_assert(loss == SENTINEL);
  vbpr_loss_destroy(l);
}
END_TEST

START_TEST(bpr_kind_runs_one_pair)
{
  vbpr_loss *l = make(VBPR_LOSS_BPR);
  const float ps[3] = {1.0f, 0.0f, -2.0f}, ns[3] = {0.0f, 0.0f, 1.0f};
  float loss, alpha[3], beta[3];
  ck_assert_ok(vbpr_loss_forward_scores(l, 3, ps, ns, NULL, NULL, &loss));
  ck_assert_ok(vbpr_loss_attention(l, alpha, beta));
  for (int i = 0; i < 3; i++) ck_assert(alpha[i] == 1.0f && beta[i] == 1.0f);
  double want = (log1p(exp(-1.0)) + log(2.0) + 3.0 + log1p(exp(-3.0))) / 3.0;
  ck_assert(fabs(loss - want) <= 1e-6 * want);
  vbpr_loss_destroy(l);
}
END_TEST

static Suite *loss_api_suite(void)
{
  Suite *s = suite_create("loss_api");
  TCase *t = tcase_create("create");
  tcase_add_test(t, enum_values_are_stable);
  tcase_add_test(t, create_checks_arguments);
  tcase_add_test(t, defaults);
  suite_add_tcase(s, t);
  t = tcase_create("params");
  tcase_add_test(t, set_rejects_bad_values_and_keeps_old_ones);
  tcase_add_test(t, set_accepts_range_edges);
  tcase_add_test(t, unknown_params_and_null_pointers);
  tcase_add_test(t, bpr_takes_only_one_pair);
  tcase_add_test(t, presets_set_named_configurations);
  suite_add_tcase(s, t);
  t = tcase_create("arguments");
  tcase_add_test(t, forward_checks_arguments);
  tcase_add_test(t, forward_scores_checks_arguments);
  tcase_add_test(t, fused_checks_arguments);
  tcase_add_test(t, backward_checks_arguments);
  suite_add_tcase(s, t);
  t = tcase_create("state");
  tcase_add_test(t, backward_needs_a_matching_forward);
  tcase_add_test(t, set_discards_the_stored_forward);
  tcase_add_test(t, bpr_kind_runs_one_pair);
  suite_add_tcase(s, t);
  t = tcase_create("numeric");
  tcase_add_loop_test(t, non_finite_inputs_are_located, 0, 3);
  tcase_add_test(t, first_bad_row_is_reported);
  tcase_add_test(t, overflowing_inner_products_are_reported);
  tcase_add_test(t, overflowing_gradients_are_reported);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return test_run_suite(loss_api_suite()); }
