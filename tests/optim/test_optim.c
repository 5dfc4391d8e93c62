/* Optimizers: SGD and Adam against the formulas evaluated by hand in
 * double, lazy Adam's row sparsity, validation, NaN handling, and stepping
 * an encoder. White-box only for allocation-failure injection. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "testutil.h"
#include "vbpr/vbpr.h"
#include "vbpr/encoder.h"
#include "vbpr/optim.h"
#include "vbpr_config.h"

static vbpr_optim *make(vbpr_optim_kind kind)
{
  vbpr_optim *o = NULL;
  ck_assert_ok(vbpr_optim_create(kind, &o));
  return o;
}

/* Deterministic values in [-1, 1). */
static float val(int i, int salt)
{
  uint32_t s = (uint32_t)(i + 1) * 2654435761u ^ (uint32_t)salt * 40503u;
  s ^= s >> 15;
  s *= 2246822519u;
  s ^= s >> 13;
  return (float)((double)(s >> 8) / (1 << 24) * 2.0 - 1.0);
}

/* Adam as written in torch.optim.Adam's documentation, in double. */
typedef struct ref_adam {
  double lr, b1, b2, eps, wd;
  double m, v;
  int t;
} ref_adam;

static double ref_adam_step(ref_adam *r, double p, double g)
{
  r->t++;
  g += r->wd * p;
  r->m = r->b1 * r->m + (1 - r->b1) * g;
  r->v = r->b2 * r->v + (1 - r->b2) * g * g;
  double mhat = r->m / (1 - pow(r->b1, r->t));
  double vhat = r->v / (1 - pow(r->b2, r->t));
  return p - r->lr * mhat / (sqrt(vhat) + r->eps);
}

START_TEST(parameters_validated)
{
  vbpr_optim *o = (vbpr_optim *)&o;
  ck_assert_status(vbpr_optim_create((vbpr_optim_kind)7, &o), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(o);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "vbpr_optim_create: kind"));
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "got 7"));
  ck_assert_status(vbpr_optim_create(VBPR_OPTIM_ADAM, NULL), VBPR_ERR_INVALID_ARGUMENT);
  o = make(VBPR_OPTIM_ADAM);
  ck_assert_int_eq(vbpr_optim_get_kind(o), VBPR_OPTIM_ADAM);
  ck_assert_int_eq(vbpr_optim_get_kind(NULL), 0);
  double v;
  /* torch.optim.Adam's defaults */
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_LR, &v));
  ck_assert_double_eq(v, 1e-3);
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_BETA1, &v));
  ck_assert_double_eq(v, 0.9);
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_BETA2, &v));
  ck_assert_double_eq(v, 0.999);
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_EPS, &v));
  ck_assert_double_eq(v, 1e-8);
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_WEIGHT_DECAY, &v));
  ck_assert_double_eq(v, 0.0);
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_LR, 0.05));
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_LR, &v));
  ck_assert_double_eq(v, 0.05);

  ck_assert_status(vbpr_optim_set(o, VBPR_OPTIM_LR, -1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_str_eq(vbpr_last_error(), "vbpr_optim_set: lr must be in [0, 1000000], got -1");
  ck_assert_status(vbpr_optim_set(o, VBPR_OPTIM_LR, NAN), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_set(o, VBPR_OPTIM_BETA1, 1.0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_str_eq(vbpr_last_error(), "vbpr_optim_set: beta1 must be in [0, 1), got 1");
  ck_assert_status(vbpr_optim_set(o, VBPR_OPTIM_BETA2, -0.1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_set(o, VBPR_OPTIM_EPS, 0.0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "eps must be in (0, 1000000], got 0"));
  ck_assert_status(vbpr_optim_set(o, VBPR_OPTIM_WEIGHT_DECAY, INFINITY),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_set(o, (vbpr_optim_param)0, 1.0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_get(o, (vbpr_optim_param)6, &v), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_LR, &v));
  ck_assert_double_eq(v, 0.05); /* failed sets changed nothing */

  ck_assert_int_eq(VBPR_OPTIM_SGD, 1);
  ck_assert_int_eq(VBPR_OPTIM_ADAM, 2);
  ck_assert_int_eq(VBPR_OPTIM_LAZY_ADAM, 3);
  ck_assert_int_eq(VBPR_OPTIM_LR, 1);
  ck_assert_int_eq(VBPR_OPTIM_WEIGHT_DECAY, 5);
  vbpr_optim_destroy(o);
  vbpr_optim_destroy(NULL);
}
END_TEST

START_TEST(adam_matches_formulas)
{
  enum { NP = 37, STEPS = 6 };
  vbpr_optim *o = make(VBPR_OPTIM_ADAM);
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_LR, 0.01));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_BETA1, 0.8));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_BETA2, 0.95));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_EPS, 1e-6));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_WEIGHT_DECAY, 0.1));
  float p[NP], g[NP];
  double want[NP];
  ref_adam r[NP];
  for (int i = 0; i < NP; i++) {
    p[i] = val(i, 1);
    want[i] = p[i];
    r[i] = (ref_adam){0.01, 0.8, 0.95, 1e-6, 0.1, 0, 0, 0};
  }
  for (int s = 0; s < STEPS; s++) {
    for (int i = 0; i < NP; i++) {
      /* some zero gradients: a dense Adam still moves those elements */
      g[i] = i % 5 == 0 ? 0.0f : val(i, 10 + s);
      want[i] = ref_adam_step(&r[i], want[i], g[i]);
    }
    ck_assert_ok(vbpr_optim_step(o, 3, NP, p, g));
    for (int i = 0; i < NP; i++)
      ck_assert_msg(fabs(p[i] - want[i]) < 2e-6 * (1 + fabs(want[i])),
                    "step %d elem %d: %.9g vs %.9g", s, i, p[i], want[i]);
  }
  int64_t steps;
  ck_assert_ok(vbpr_optim_slot_steps(o, 3, &steps));
  ck_assert_int_eq(steps, STEPS);
  ck_assert_ok(vbpr_optim_slot_steps(o, 0, &steps));
  ck_assert_int_eq(steps, 0);
  /* The first step moves each element by lr * sign(g) (bias correction). */
  vbpr_optim_reset(o);
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_WEIGHT_DECAY, 0.0));
  float q[2] = {1.0f, 1.0f}, gq[2] = {3.0f, -0.25f};
  ck_assert_ok(vbpr_optim_step(o, 0, 2, q, gq));
  ck_assert_double_eq_tol(q[0], 1.0 - 0.01, 1e-6);
  ck_assert_double_eq_tol(q[1], 1.0 + 0.01, 1e-6);
  vbpr_optim_destroy(o);
}
END_TEST

START_TEST(sgd_matches_formula)
{
  vbpr_optim *o = make(VBPR_OPTIM_SGD);
  double v;
  ck_assert_ok(vbpr_optim_get(o, VBPR_OPTIM_LR, &v));
  ck_assert_double_eq(v, 0.01);
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_LR, 0.5));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_WEIGHT_DECAY, 0.2));
  float p[9], g[9];
  double want[9];
  for (int i = 0; i < 9; i++) want[i] = p[i] = val(i, 2);
  for (int s = 0; s < 3; s++) {
    for (int i = 0; i < 9; i++) {
      g[i] = val(i, 20 + s);
      want[i] -= 0.5 * (g[i] + 0.2 * want[i]);
    }
    ck_assert_ok(vbpr_optim_step(o, 0, 9, p, g));
  }
  for (int i = 0; i < 9; i++) ck_assert_double_eq_tol(p[i], want[i], 1e-6);
  vbpr_optim_destroy(o);
}
END_TEST

START_TEST(lazy_adam_updates_listed_rows_only)
{
  enum { R = 6, D = 4 };
  vbpr_optim *o = make(VBPR_OPTIM_LAZY_ADAM);
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_LR, 0.02));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_WEIGHT_DECAY, 0.05));
  float p[R * D], g[R * D];
  double want[R * D];
  ref_adam r[R * D];
  for (int i = 0; i < R * D; i++) {
    want[i] = p[i] = val(i, 3);
    r[i] = (ref_adam){0.02, 0.9, 0.999, 1e-8, 0.05, 0, 0, 0};
  }
  /* Rows listed per step (with a repeat); the slot step count is the
   * global one, as the bias correction of a lazy Adam uses. */
  const int32_t step_rows[3][4] = {{1, 4, 1, 1}, {4, 0, 0, 0}, {2, 4, 2, 2}};
  const size_t step_count[3] = {3, 1, 2};
  for (int s = 0; s < 3; s++) {
    for (int i = 0; i < R * D; i++) g[i] = val(i, 30 + s) * 10; /* unlisted rows: ignored */
    int listed[R] = {0};
    for (size_t k = 0; k < step_count[s]; k++) listed[step_rows[s][k]] = 1;
    for (int row = 0; row < R; row++) {
      if (!listed[row]) continue;
      for (int d = 0; d < D; d++) {
        int i = row * D + d;
        r[i].t = s; /* ref_adam_step increments to the slot's count */
        want[i] = ref_adam_step(&r[i], want[i], g[i]);
      }
    }
    ck_assert_ok(vbpr_optim_step_rows(o, 0, R, D, p, g, step_count[s], step_rows[s]));
  }
  for (int i = 0; i < R * D; i++)
    ck_assert_msg(fabs(p[i] - want[i]) < 2e-6 * (1 + fabs(want[i])), "elem %d: %.9g vs %.9g",
                  i, p[i], want[i]);
  /* Rows 0, 3 and 5 were never listed: bit-identical to the start. */
  for (int d = 0; d < D; d++) {
    ck_assert_float_eq(p[0 * D + d], val(0 * D + d, 3));
    ck_assert_float_eq(p[3 * D + d], val(3 * D + d, 3));
    ck_assert_float_eq(p[5 * D + d], val(5 * D + d, 3));
  }
  const int32_t bad[2] = {1, 6};
  ck_assert_status(vbpr_optim_step_rows(o, 0, R, D, p, g, 2, bad), VBPR_ERR_OUT_OF_RANGE);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "row_ids[1] = 6 is out of range [0, 6)"));
  ck_assert_status(vbpr_optim_step_rows(o, 0, R, D, p, g, 2, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_optim_step_rows(o, 0, R, D, p, g, 0, NULL)); /* nothing touched */
  ck_assert_status(vbpr_optim_step_rows(o, 0, 0, D, p, g, 0, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step_rows(o, 0, SIZE_MAX / 2, 4, p, g, 0, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  vbpr_optim_destroy(o);
}
END_TEST

/* SGD and Adam on a row-sparse gradient give exactly the dense result. */
START_TEST(dense_kinds_on_rows_equal_dense_step)
{
  enum { R = 50, D = 8 };
  const vbpr_optim_kind kinds[2] = {VBPR_OPTIM_SGD, VBPR_OPTIM_ADAM};
  for (int k = 0; k < 2; k++) {
    for (int wdi = 0; wdi < 2; wdi++) {
      vbpr_optim *a = make(kinds[k]), *b = make(kinds[k]);
      ck_assert_ok(vbpr_optim_set(a, VBPR_OPTIM_WEIGHT_DECAY, wdi * 0.01));
      ck_assert_ok(vbpr_optim_set(b, VBPR_OPTIM_WEIGHT_DECAY, wdi * 0.01));
      static float pa[R * D], pb[R * D], gs[R * D], gd[R * D];
      for (int i = 0; i < R * D; i++) pa[i] = pb[i] = val(i, 4);
      for (int s = 0; s < 4; s++) {
        int32_t rows[3] = {(int32_t)(s * 7 % R), 13, (int32_t)(s * 19 % R)};
        for (int i = 0; i < R * D; i++) {
          gs[i] = val(i, 40 + s);
          gd[i] = 0.0f;
        }
        for (int j = 0; j < 3; j++)
          memcpy(gd + rows[j] * D, gs + rows[j] * D, D * sizeof(float));
        ck_assert_ok(vbpr_optim_step_rows(a, 0, R, D, pa, gs, 3, rows));
        ck_assert_ok(vbpr_optim_step(b, 0, R * D, pb, gd));
      }
      ck_assert_int_eq(memcmp(pa, pb, sizeof pa), 0);
      vbpr_optim_destroy(a);
      vbpr_optim_destroy(b);
    }
  }
}
END_TEST

START_TEST(non_finite_gradient_changes_nothing)
{
  vbpr_optim *o = make(VBPR_OPTIM_ADAM);
  float p[3000], g[3000], keep[3000];
  for (int i = 0; i < 3000; i++) keep[i] = p[i] = val(i, 5), g[i] = val(i, 6);
  ck_assert_ok(vbpr_optim_step(o, 0, 3000, p, g));
  memcpy(keep, p, sizeof p);
  g[2500] = NAN;
  ck_assert_status(vbpr_optim_step(o, 0, 3000, p, g), VBPR_ERR_NUMERIC);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "vbpr_optim_step: slot 0: grad[2500] = nan"));
  ck_assert_int_eq(memcmp(p, keep, sizeof p), 0);
  g[2500] = INFINITY;
  ck_assert_status(vbpr_optim_step(o, 0, 3000, p, g), VBPR_ERR_NUMERIC);
  int64_t steps;
  ck_assert_ok(vbpr_optim_slot_steps(o, 0, &steps));
  ck_assert_int_eq(steps, 1);
  /* A lazy step only reads the listed rows: NaN elsewhere is not its business. */
  vbpr_optim *lz = make(VBPR_OPTIM_LAZY_ADAM);
  int32_t rows[2] = {3, 5};
  ck_assert_ok(vbpr_optim_step_rows(lz, 0, 300, 10, p, g, 2, rows));
  rows[1] = 250; /* holds grad[2500] */
  memcpy(keep, p, sizeof p);
  ck_assert_status(vbpr_optim_step_rows(lz, 0, 300, 10, p, g, 2, rows), VBPR_ERR_NUMERIC);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "grad[2500] = inf"));
  ck_assert_int_eq(memcmp(p, keep, sizeof p), 0);
  vbpr_optim_destroy(o);
  vbpr_optim_destroy(lz);
}
END_TEST

START_TEST(slots_are_sized_once)
{
  vbpr_optim *o = make(VBPR_OPTIM_ADAM);
  float p[20] = {0}, g[20] = {0};
  ck_assert_ok(vbpr_optim_step(o, 5, 20, p, g));
  ck_assert_status(vbpr_optim_step(o, 5, 10, p, g), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "slot 5 holds state for 20 elements, got a buffer of 10"));
  ck_assert_ok(vbpr_optim_step(o, 6, 10, p, g)); /* another slot is fine */
  ck_assert_status(vbpr_optim_step(o, -1, 10, p, g), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step(o, VBPR_OPTIM_MAX_SLOTS, 10, p, g),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step(o, 1, 0, p, g), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step(o, 1, 2, NULL, g), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step(NULL, 1, 2, p, g), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_optim_reset(o));
  ck_assert_ok(vbpr_optim_step(o, 5, 10, p, g)); /* after a reset, resized */
  int64_t steps;
  ck_assert_ok(vbpr_optim_slot_steps(o, 5, &steps));
  ck_assert_int_eq(steps, 1);
  vbpr_optim_destroy(o);
}
END_TEST

START_TEST(results_do_not_depend_on_threads)
{
  enum { NP = 1 << 20 };
  float *p1 = malloc(NP * sizeof(float)), *p2 = malloc(NP * sizeof(float));
  float *g = malloc(NP * sizeof(float));
  for (int i = 0; i < NP; i++) p1[i] = p2[i] = val(i, 7), g[i] = val(i, 8);
  vbpr_optim *a = make(VBPR_OPTIM_ADAM), *b = make(VBPR_OPTIM_ADAM);
  ck_assert_ok(vbpr_set_num_threads(1));
  for (int s = 0; s < 3; s++) ck_assert_ok(vbpr_optim_step(a, 0, NP, p1, g));
  ck_assert_ok(vbpr_set_num_threads(4));
  for (int s = 0; s < 3; s++) ck_assert_ok(vbpr_optim_step(b, 0, NP, p2, g));
  ck_assert_ok(vbpr_set_num_threads(0));
  ck_assert_int_eq(memcmp(p1, p2, NP * sizeof(float)), 0);
  free(p1);
  free(p2);
  free(g);
  vbpr_optim_destroy(a);
  vbpr_optim_destroy(b);
}
END_TEST

/* ---- stepping an encoder ----------------------------------------------- */

static void train_step(vbpr_encoder *enc, const int32_t *u, const int32_t *pi,
                       const int32_t *ni, int s)
{
  enum { BB = 3, D = 4 };
  float ue[BB * D], pe[BB * D], ne[BB * D], gu[BB * D], gp[BB * D], gn[BB * D];
  for (int i = 0; i < BB * D; i++) {
    gu[i] = val(i, 50 + s);
    gp[i] = val(i, 60 + s);
    gn[i] = val(i, 70 + s);
  }
  ck_assert_ok(vbpr_encoder_zero_grad(enc));
  ck_assert_ok(vbpr_encoder_forward(enc, BB, 1, 1, u, pi, ni, ue, pe, ne));
  ck_assert_ok(vbpr_encoder_backward(enc, gu, gp, gn));
}

static void encoder_step_matches_manual(vbpr_optim_kind kind)
{
  if (!VBPR_HAVE_MF) {
    vbpr_encoder *e = NULL;
    ck_assert_status(vbpr_encoder_create_mf(10, 12, 4, 1, &e), VBPR_ERR_UNSUPPORTED);
    return;
  }
  vbpr_encoder *a, *b;
  ck_assert_ok(vbpr_encoder_create_mf(10, 12, 4, 1, &a));
  ck_assert_ok(vbpr_encoder_create_mf(10, 12, 4, 1, &b));
  vbpr_optim *oa = make(kind), *ob = make(kind);
  ck_assert_ok(vbpr_optim_set(oa, VBPR_OPTIM_WEIGHT_DECAY, 0.01));
  ck_assert_ok(vbpr_optim_set(ob, VBPR_OPTIM_WEIGHT_DECAY, 0.01));
  float *start;
  ck_assert_ok(vbpr_encoder_table(a, VBPR_TABLE_USERS, &start, NULL, NULL, NULL));
  float user9 = start[9 * 4];
  for (int s = 0; s < 3; s++) {
    const int32_t u[3] = {1, 2, (int32_t)s}, pi[3] = {3, 3, 4}, ni[3] = {5, 6, (int32_t)(7 + s)};
    train_step(a, u, pi, ni, s);
    train_step(b, u, pi, ni, s);
    ck_assert_ok(vbpr_optim_step_encoder(oa, a));
    for (int t = 0; t < 2; t++) { /* the same through the host API */
      float *p;
      const float *g;
      size_t rows, dim;
      ck_assert_ok(vbpr_encoder_table(b, (vbpr_table)t, &p, &g, &rows, &dim));
      if (kind == VBPR_OPTIM_LAZY_ADAM) {
        const int32_t *ids;
        size_t count;
        ck_assert_ok(vbpr_encoder_touched_rows(b, (vbpr_table)t, &ids, &count));
        ck_assert_ok(vbpr_optim_step_rows(ob, t, (size_t)rows, (size_t)dim, p, g, (size_t)count,
                                          ids));
      } else {
        ck_assert_ok(vbpr_optim_step(ob, t, (size_t)rows * (size_t)dim, p, g));
      }
    }
  }
  for (int t = 0; t < 2; t++) {
    float *pa, *pb;
    size_t rows;
    ck_assert_ok(vbpr_encoder_table(a, (vbpr_table)t, &pa, NULL, &rows, NULL));
    ck_assert_ok(vbpr_encoder_table(b, (vbpr_table)t, &pb, NULL, NULL, NULL));
    ck_assert_int_eq(memcmp(pa, pb, (size_t)rows * 4 * sizeof(float)), 0);
  }
  /* User 9 never occurs: lazy Adam leaves it, dense Adam decays it. */
  if (kind == VBPR_OPTIM_LAZY_ADAM)
    ck_assert_float_eq(start[9 * 4], user9);
  else
    ck_assert_float_ne(start[9 * 4], user9);
  vbpr_optim_destroy(oa);
  vbpr_optim_destroy(ob);
  vbpr_encoder_destroy(a);
  vbpr_encoder_destroy(b);
}

START_TEST(encoder_step_adam) { encoder_step_matches_manual(VBPR_OPTIM_ADAM); }
END_TEST

START_TEST(encoder_step_lazy_adam) { encoder_step_matches_manual(VBPR_OPTIM_LAZY_ADAM); }
END_TEST

START_TEST(encoder_step_sgd) { encoder_step_matches_manual(VBPR_OPTIM_SGD); }
END_TEST

START_TEST(encoder_step_failures_change_nothing)
{
  if (!VBPR_HAVE_MF) return;
  vbpr_encoder *enc;
  ck_assert_ok(vbpr_encoder_create_mf(10, 12, 4, 1, &enc));
  const int32_t u[3] = {1, 2, 3}, pi[3] = {3, 3, 4}, ni[3] = {5, 6, 7};
  train_step(enc, u, pi, ni, 0);
  float *pu, *pit;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &pu, NULL, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, &pit, NULL, NULL, NULL));
  float keep[22 * 4];
  memcpy(keep, pu, sizeof keep);
  /* A slot sized for something else: checked before either table moves. */
  vbpr_optim *o = make(VBPR_OPTIM_ADAM);
  float x[5] = {0}, gx[5] = {0};
  ck_assert_ok(vbpr_optim_step(o, 1, 5, x, gx));
  ck_assert_status(vbpr_optim_step_encoder(o, enc), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(memcmp(pu, keep, sizeof keep), 0);
  /* Allocation failure of the moments: OUT_OF_MEMORY, nothing moved, and
   * the next try works. */
  vbpr_optim *o2 = make(VBPR_OPTIM_ADAM);
  for (long n = 1; n < 10; n++) {
    vbpr__fault_arm(n);
    vbpr_status st = vbpr_optim_step_encoder(o2, enc);
    vbpr__fault_arm(0);
    if (st == VBPR_OK) break;
    ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
    ck_assert_int_eq(memcmp(pu, keep, sizeof keep), 0);
    int64_t steps;
    ck_assert_ok(vbpr_optim_slot_steps(o2, 0, &steps));
    ck_assert_int_eq(steps, 0);
  }
  ck_assert_int_ne(memcmp(pu, keep, sizeof keep), 0);
  ck_assert_status(vbpr_optim_step_encoder(o2, NULL), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_optim_destroy(o);
  vbpr_optim_destroy(o2);
  vbpr_encoder_destroy(enc);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("optim");
  TCase *tc = tcase_create("optim");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, parameters_validated);
  tcase_add_test(tc, adam_matches_formulas);
  tcase_add_test(tc, sgd_matches_formula);
  tcase_add_test(tc, lazy_adam_updates_listed_rows_only);
  tcase_add_test(tc, dense_kinds_on_rows_equal_dense_step);
  tcase_add_test(tc, non_finite_gradient_changes_nothing);
  tcase_add_test(tc, slots_are_sized_once);
  tcase_add_test(tc, results_do_not_depend_on_threads);
  tcase_add_test(tc, encoder_step_adam);
  tcase_add_test(tc, encoder_step_lazy_adam);
  tcase_add_test(tc, encoder_step_sgd);
  tcase_add_test(tc, encoder_step_failures_change_nothing);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
