/* InfoNCE, the double-precision fused calls, small-batch calls and the
 * per-item bias pattern of doc/loss.md, against independent double
 * references and their central finite differences. Black-box: links the
 * shared library. */
#include <float.h>
#include <stdio.h>

#include "loss_fixture.h"
#include "testutil.h"
#include "vbpr/error.h"
#include "vbpr/loss.h"

/* ---- InfoNCE reference --------------------------------------------------- */

/* The definition, literally: logsumexp over [z+, z-_1..N] minus z+. */
static double ref_infonce(int N, double t, double sp, const double *sn, double lpp,
                          const double *lpn)
{
  double z[REF_MAX + 1], mx, sum = 0.0;
  z[0] = sp / t + lpp;
  for (int n = 0; n < N; n++) z[n + 1] = sn[n] / t + (lpn ? lpn[n] : 0.0);
  mx = z[0];
  for (int k = 1; k <= N; k++) mx = z[k] > mx ? z[k] : mx;
  for (int k = 0; k <= N; k++) sum += exp(z[k] - mx);
  return mx + log(sum) - z[0];
}

static vbpr_loss *infonce(size_t N, double t)
{
  vbpr_loss *l = NULL;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_INFONCE, &l));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, (double)N));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_TEMPERATURE, t));
  return l;
}

/* Row r's loss from double copies of a problem (scores, or embeddings with
 * inner products in double). */
static double ref_row(const prob *p, double t, const double *u, const double *pos,
                      const double *neg, const double *lpp, const double *lpn, size_t r)
{
  double sp[REF_MAX], sn[REF_MAX];
  fx_row_scores(p, u, pos, neg, r, sp, sn);
  return ref_infonce((int)p->N, t, sp[0], sn, lpp ? lpp[r] : 0.0,
                     lpn ? lpn + r * p->N : NULL);
}

/* Central difference of grad_output * mean loss in x[i] (row `row`). */
static double fd(const prob *p, double t, double *u, double *pos, double *neg,
                 const double *lpp, const double *lpn, double *x, size_t i, size_t row,
                 double g)
{
  const double h = 1e-5;
  double s = x[i];
  x[i] = s + h;
  double a = ref_row(p, t, u, pos, neg, lpp, lpn, row);
  x[i] = s - h;
  double b = ref_row(p, t, u, pos, neg, lpp, lpn, row);
  x[i] = s;
  return g * (a - b) / (2 * h) / (double)p->B;
}

static void expect_grad(const char *what, const float *got, const double *want, size_t n,
                        double rtol)
{
  double mx = 1e-12;
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(fabs((double)got[i] - want[i]) <= rtol * mx + 1e-12,
                  "%s[%zu] = %.9g, finite differences give %.9g (max %.3g)", what, i,
                  (double)got[i], want[i], mx);
}

/* Every gradient of one array against finite differences. */
static void check_fd(const prob *p, double t, double *u, double *pos, double *neg,
                     const double *lpp, const double *lpn, double *x, size_t n,
                     size_t per_row, const float *got, double g, double rtol,
                     const char *what)
{
  double *want = malloc(n * sizeof *want);
  ck_assert_ptr_nonnull(want);
  for (size_t i = 0; i < n; i++)
    want[i] = fd(p, t, u, pos, neg, lpp, lpn, x, i, i / per_row, g);
  expect_grad(what, got, want, n, rtol);
  free(want);
}

/* _i: shape and priors. Score and embedding level, losses and gradients. */
START_TEST(infonce_matches_its_definition)
{
  const size_t Ns[] = {1, 4, 9};
  size_t N = Ns[_i % 3];
  bool priors = _i >= 3;
  const double temps[] = {0.1, 0.7, 3.0};
  for (size_t ti = 0; ti < 3; ti++) {
    double t = temps[ti];
    const size_t B = 5, dim = 6;
    const float g = 1.3f;
    for (int level = 0; level < 2; level++) {
      prob p = fx_make(B, 1, N, level ? dim : 0, priors, 0.8, 500 + (uint64_t)(_i * 7 + ti));
      double *u = level ? fx_to_double(p.user, B * dim) : NULL;
      double *pos = level ? fx_to_double(p.pos, B * dim) : fx_to_double(p.ps, B);
      double *neg = level ? fx_to_double(p.neg, B * N * dim) : fx_to_double(p.ns, B * N);
      double *lpp = priors ? fx_to_double(p.lpp, B) : NULL;
      double *lpn = priors ? fx_to_double(p.lpn, B * N) : NULL;
      vbpr_loss *l = infonce(N, t);
      float loss, rows[5];
      double want = 0;
      for (size_t r = 0; r < B; r++) want += ref_row(&p, t, u, pos, neg, lpp, lpn, r) / B;
      if (level) {
        float gu[5 * 6], gp[5 * 6], gn[5 * 9 * 6];
        ck_assert_ok(vbpr_loss_forward_backward(l, B, dim, p.user, p.pos, p.neg, p.lpp,
                                                p.lpn, g, &loss, gu, gp, gn));
        check_fd(&p, t, u, pos, neg, lpp, lpn, u, B * dim, dim, gu, g, 1e-4, "grad_user");
        check_fd(&p, t, u, pos, neg, lpp, lpn, pos, B * dim, dim, gp, g, 1e-4, "grad_pos");
        check_fd(&p, t, u, pos, neg, lpp, lpn, neg, B * N * dim, N * dim, gn, g, 1e-4,
                 "grad_neg");
      } else {
        float gp[5], gn[5 * 9];
        ck_assert_ok(vbpr_loss_forward_backward_scores(l, B, p.ps, p.ns, p.lpp, p.lpn, g,
                                                       &loss, gp, gn));
        check_fd(&p, t, u, pos, neg, lpp, lpn, pos, B, 1, gp, g, 1e-5, "grad_pos_scores");
        check_fd(&p, t, u, pos, neg, lpp, lpn, neg, B * N, N, gn, g, 1e-5,
                 "grad_neg_scores");
      }
      ck_assert_msg(fabs(loss - want) <= 1e-6 * fmax(1.0, fabs(want)),
                    "N %zu t %g level %d: loss %.9g, definition %.9g", N, t, level,
                    (double)loss, want);
      ck_assert_ok(vbpr_loss_row_losses(l, rows));
      for (size_t r = 0; r < B; r++) {
        double w = ref_row(&p, t, u, pos, neg, lpp, lpn, r);
        ck_assert(fabs(rows[r] - w) <= 1e-6 * fmax(1.0, w));
      }
      vbpr_loss_destroy(l);
      free(u), free(pos), free(neg), free(lpp), free(lpn);
      fx_free(&p);
    }
  }
}
END_TEST

/* alpha is 1, beta the softmax of the negatives' logits among themselves. */
START_TEST(infonce_attention)
{
  const float sp[2] = {0.5f, -1.0f}, sn[6] = {1.0f, 0.0f, -2.0f, 3.0f, 3.0f, 3.0f};
  const float lpn[6] = {0.0f, 0.5f, 0.0f, 0.0f, -1.0f, 0.0f};
  vbpr_loss *l = infonce(3, 0.5);
  float loss, alpha[2], beta[6];
  ck_assert_ok(vbpr_loss_forward_scores(l, 2, sp, sn, NULL, lpn, &loss));
  ck_assert_ok(vbpr_loss_attention(l, alpha, beta));
  for (int r = 0; r < 2; r++) {
    ck_assert(alpha[r] == 1.0f);
    double z[3], s = 0;
    for (int n = 0; n < 3; n++) s += z[n] = exp(sn[r * 3 + n] / 0.5 + lpn[r * 3 + n]);
    for (int n = 0; n < 3; n++)
      ck_assert_msg(fabs(beta[r * 3 + n] - z[n] / s) <= 1e-6, "beta %d %d: %g vs %g", r, n,
                    (double)beta[r * 3 + n], z[n] / s);
  }
  vbpr_loss_destroy(l);
}
END_TEST

/* Scores of 1e4 with temperatures of 1e-6 to 1e6: finite, equal to the
 * definition (which is evaluated stably in double). */
START_TEST(infonce_extreme_range)
{
  const double temps[] = {1e-6, 1e-3, 1.0, 1e3, 1e6};
  for (size_t ti = 0; ti < 5; ti++) {
    prob p = fx_make(16, 1, 5, 0, true, 1e4, 61 + ti);
    double *pos = fx_to_double(p.ps, 16), *neg = fx_to_double(p.ns, 80);
    double *lpp = fx_to_double(p.lpp, 16), *lpn = fx_to_double(p.lpn, 80);
    vbpr_loss *l = infonce(5, temps[ti]);
    float loss, gp[16], gn[80];
    ck_assert_ok(vbpr_loss_forward_backward_scores(l, 16, p.ps, p.ns, p.lpp, p.lpn, 1.0f,
                                                   &loss, gp, gn));
    double want = 0;
    for (size_t r = 0; r < 16; r++)
      want += ref_row(&p, temps[ti], NULL, pos, neg, lpp, lpn, r) / 16;
    ck_assert_msg(fabs(loss - want) <= 1e-6 * fmax(1.0, fabs(want)), "t %g: %.9g vs %.9g",
                  temps[ti], (double)loss, want);
    for (size_t i = 0; i < 16; i++) ck_assert(isfinite(gp[i]) && gp[i] <= 0.0f);
    for (size_t i = 0; i < 80; i++) ck_assert(isfinite(gn[i]) && gn[i] >= 0.0f);
    /* the positive's pull balances the negatives' push, row by row */
    for (size_t r = 0; r < 16; r++) {
      double sum = gp[r];
      for (int n = 0; n < 5; n++) sum += gn[r * 5 + n];
      ck_assert_msg(fabs(sum) <= 1e-5 * fabs(gp[r]) + 1e-30, "row %zu: %g", r, sum);
    }
    vbpr_loss_destroy(l);
    free(pos), free(neg), free(lpp), free(lpn);
    fx_free(&p);
  }
}
END_TEST

START_TEST(infonce_parameters)
{
  vbpr_loss *l = NULL;
  double v = 0;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_INFONCE, &l));
  ck_assert_int_eq(vbpr_loss_get_kind(l), VBPR_LOSS_INFONCE);
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_TEMPERATURE, &v));
  ck_assert(v == 0.1);
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_NUM_NEG, &v));
  ck_assert(v == 4);
  ck_assert_ok(vbpr_loss_get(l, VBPR_LOSS_NUM_POS, &v));
  ck_assert(v == 1);
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_NUM_POS, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_C_POS, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "c_pos does not apply to a VBPR_LOSS_INFONCE") !=
                    NULL,
                "%s", vbpr_last_error());
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_TEMPERATURE, 0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_TEMPERATURE, 0.2));
  ck_assert_status(vbpr_loss_set_preset(l, "best"), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_loss_destroy(l);
  /* temperature is InfoNCE's alone */
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l));
  ck_assert_status(vbpr_loss_set(l, VBPR_LOSS_TEMPERATURE, 1), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_loss_destroy(l);
  vbpr_loss_param p;
  ck_assert_ok(vbpr_loss_param_from_name("Temperature", &p));
  ck_assert_int_eq(p, VBPR_LOSS_TEMPERATURE);
  ck_assert_str_eq(vbpr_loss_param_name(VBPR_LOSS_TEMPERATURE), "temperature");
  vbpr_param_bounds b;
  ck_assert_ok(vbpr_loss_param_bounds(VBPR_LOSS_INFONCE, VBPR_LOSS_TEMPERATURE, &b));
  ck_assert(b.min == 1e-6 && b.max == 1e6 && b.def == 0.1);
  ck_assert_status(vbpr_loss_param_bounds(VBPR_LOSS_BPR, VBPR_LOSS_TEMPERATURE, &b),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_loss_param_parse(VBPR_LOSS_TEMPERATURE, "0.05", &v));
  ck_assert(v == 0.05);
}
END_TEST

/* ---- double precision ---------------------------------------------------- */

static double *to_d(const float *x, size_t n) { return fx_to_double(x, n); }

typedef struct kind_case {
  vbpr_loss_kind kind;
  ref_cfg c;
} kind_case;

static vbpr_loss *make_case(const kind_case *k)
{
  if (k->kind == VBPR_LOSS_INFONCE) return infonce((size_t)k->c.N, k->c.c_neg);
  if (k->kind == VBPR_LOSS_BPR) {
    vbpr_loss *l = NULL;
    ck_assert_ok(vbpr_loss_create(VBPR_LOSS_BPR, &l));
    return l;
  }
  return fx_loss(&k->c);
}

static const kind_case cases[] = {
  {VBPR_LOSS_BPR, {1, 1, 4, 4, 0, 0, 0.5, 1, 1}},
  {VBPR_LOSS_VARIATIONAL, {2, 4, 0.8, 1.3, 0, 0, 0.5, 1, 1}},
  {VBPR_LOSS_VARIATIONAL, {3, 5, 1.1, 0.6, 0.7, 1.3, 0.6, 2, -1}},
  {VBPR_LOSS_VARIATIONAL, {2, 3, 0.9, 1.7, 0, 0.5, 0.5, 3, -1}},
  {VBPR_LOSS_INFONCE, {1, 6, 0, 0.4, 0, 0, 0, 0, 0}},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* The double calls give the float calls' results (to float rounding), on
 * inputs that floats hold exactly; their gradients match finite differences
 * of a double reference far more tightly than float could. */
START_TEST(f64_calls_match_float_path_and_finite_differences)
{
  const kind_case *k = &cases[_i];
  const size_t B = 4, dim = 7, M = (size_t)k->c.M, N = (size_t)k->c.N;
  prob p = fx_make(B, M, N, dim, true, 1.0, 300 + (uint64_t)_i);
  double *u = to_d(p.user, B * dim), *pos = to_d(p.pos, B * M * dim);
  double *neg = to_d(p.neg, B * N * dim), *lpp = to_d(p.lpp, B * M);
  double *lpn = to_d(p.lpn, B * N);
  vbpr_loss *l = make_case(k);
  float lf, guf[4 * 7], gpf[4 * 3 * 7], gnf[4 * 6 * 7];
  double ld, gud[4 * 7], gpd[4 * 3 * 7], gnd[4 * 6 * 7];
  ck_assert_ok(vbpr_loss_forward_backward(l, B, dim, p.user, p.pos, p.neg, p.lpp, p.lpn,
                                          0.7f, &lf, guf, gpf, gnf));
  ck_assert_ok(vbpr_loss_forward_backward_f64(l, B, dim, u, pos, neg, lpp, lpn, 0.7, &ld,
                                              gud, gpd, gnd));
  ck_assert_msg(fabs(ld - lf) <= 2e-6 * fmax(1.0, fabs(ld)), "case %d: %.12g vs %.9g", _i,
                ld, (double)lf);
  double mx = 0;
  for (size_t i = 0; i < B * dim; i++) mx = fmax(mx, fabs(gud[i]));
  for (size_t i = 0; i < B * dim; i++) ck_assert(fabs(gud[i] - guf[i]) <= 1e-5 * mx);
  /* finite differences of the double path itself (the reference is the
   * loss of the same call on perturbed inputs), in the user, pos and neg */
  double *arrs[3] = {u, pos, neg}, *grads[3] = {gud, gpd, gnd};
  size_t lens[3] = {B * dim, B * M * dim, B * N * dim};
  double gu2[4 * 7], gp2[4 * 3 * 7], gn2[4 * 6 * 7];
  for (int a = 0; a < 3; a++) {
    double gmax = 1e-300;
    for (size_t i = 0; i < lens[a]; i++) gmax = fmax(gmax, fabs(grads[a][i]));
    for (size_t i = 0; i < lens[a]; i += 3) {
      const double h = 1e-6;
      double s = arrs[a][i], lp, lm;
      arrs[a][i] = s + h;
      ck_assert_ok(vbpr_loss_forward_backward_f64(l, B, dim, u, pos, neg, lpp, lpn, 0.7,
                                                  &lp, gu2, gp2, gn2));
      arrs[a][i] = s - h;
      ck_assert_ok(vbpr_loss_forward_backward_f64(l, B, dim, u, pos, neg, lpp, lpn, 0.7,
                                                  &lm, gu2, gp2, gn2));
      arrs[a][i] = s;
      double fdv = 0.7 * (lp - lm) / (2 * h);
      /* the prototype differentiates through the attention: exact; the
       * detached and ELBO estimators hold it fixed, so FD of the value
       * differs from their gradient; compare those only at M = N = 1 */
      bool exact = k->kind != VBPR_LOSS_VARIATIONAL || k->c.est == 1;
      if (exact)
        ck_assert_msg(fabs(fdv - grads[a][i]) <= 1e-8 * gmax,
                      "case %d array %d [%zu]: %.14g vs FD %.14g", _i, a, i, grads[a][i],
                      fdv);
    }
  }
  /* what it stores: attention and row losses, not a float backward */
  float alpha[4 * 3], beta[4 * 6], rows[4];
  ck_assert_ok(vbpr_loss_attention(l, alpha, beta));
  ck_assert_ok(vbpr_loss_row_losses(l, rows));
  size_t b = 0;
  ck_assert_ok(vbpr_loss_batch_size(l, &b));
  ck_assert_uint_eq(b, B);
  ck_assert_status(vbpr_loss_backward(l, 1.0f, guf, gpf, gnf), VBPR_ERR_STATE);
  ck_assert_status(vbpr_loss_backward_scores(l, 1.0f, gpf, gnf), VBPR_ERR_STATE);
  ck_assert_msg(strstr(vbpr_last_error(), "double-precision") != NULL, "%s",
                vbpr_last_error());
  /* score level: the same against the float score-level call */
  float psf[4 * 3], nsf[4 * 6], gpsf[4 * 3], gnsf[4 * 6];
  double psd[4 * 3], nsd[4 * 6], gpsd[4 * 3], gnsd[4 * 6], lsd;
  for (size_t i = 0; i < B * M; i++) psd[i] = psf[i] = (float)(0.3 * (double)i - 1.0);
  for (size_t i = 0; i < B * N; i++) nsd[i] = nsf[i] = (float)(0.7 - 0.2 * (double)i);
  ck_assert_ok(vbpr_loss_forward_backward_scores(l, B, psf, nsf, p.lpp, p.lpn, 2.0f, &lf,
                                                 gpsf, gnsf));
  ck_assert_ok(vbpr_loss_forward_backward_scores_f64(l, B, psd, nsd, lpp, lpn, 2.0, &lsd,
                                                     gpsd, gnsd));
  ck_assert(fabs(lsd - lf) <= 2e-6 * fmax(1.0, fabs(lsd)));
  for (size_t i = 0; i < B * M; i++) ck_assert(fabs(gpsd[i] - gpsf[i]) <= 1e-6);
  for (size_t i = 0; i < B * N; i++) ck_assert(fabs(gnsd[i] - gnsf[i]) <= 1e-6);
  vbpr_loss_destroy(l);
  free(u), free(pos), free(neg), free(lpp), free(lpn);
  fx_free(&p);
}
END_TEST

START_TEST(f64_calls_check_their_inputs)
{
  vbpr_loss *l = NULL;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l));
  double u[2 * 3] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, pos[2 * 2 * 3], neg[2 * 4 * 3];
  for (size_t i = 0; i < 12; i++) pos[i] = 0.1 * (double)i;
  for (size_t i = 0; i < 24; i++) neg[i] = -0.05 * (double)i;
  double loss = 42, gu[6], gp[12], gn[24];
  for (size_t i = 0; i < 6; i++) gu[i] = 42;
  neg[17] = NAN;
  ck_assert_status(vbpr_loss_forward_backward_f64(l, 2, 3, u, pos, neg, NULL, NULL, 1.0,
                                                  &loss, gu, gp, gn),
                   VBPR_ERR_NUMERIC);
  ck_assert_msg(strstr(vbpr_last_error(), "neg[17] (row 1, negative 1, component 2) is nan"),
                "%s", vbpr_last_error());
  ck_assert(loss == 42 && gu[0] == 42); /* nothing written */
  neg[17] = 0;
  ck_assert_status(vbpr_loss_forward_backward_f64(l, 2, 3, u, pos, neg, NULL, NULL,
                                                  INFINITY, &loss, gu, gp, gn),
                   VBPR_ERR_NUMERIC);
  ck_assert_status(vbpr_loss_forward_backward_f64(l, 2, 3, u, pos, NULL, NULL, NULL, 1.0,
                                                  &loss, gu, gp, gn),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_forward_backward_f64(l, 0, 3, u, pos, neg, NULL, NULL, 1.0,
                                                  &loss, gu, gp, gn),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_forward_backward_f64(l, 2, 0, u, pos, neg, NULL, NULL, 1.0,
                                                  &loss, gu, gp, gn),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_forward_backward_scores_f64(l, 2, pos, NULL, NULL, NULL, 1.0,
                                                         &loss, gp, gn),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_forward_backward_scores_f64(l, SIZE_MAX / 4, pos, neg, NULL,
                                                         NULL, 1.0, &loss, gp, gn),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert(loss == 42 && gu[0] == 42);
  ck_assert_ok(vbpr_loss_forward_backward_f64(l, 2, 3, u, pos, neg, NULL, NULL, 1.0, &loss,
                                              gu, gp, gn));
  ck_assert(isfinite(loss) && loss > 0);
  vbpr_loss_destroy(l);
}
END_TEST

/* ---- small batches -------------------------------------------------------- */

/* A per-sample host calls with batch 1: each call gives exactly the row of
 * a batched call (grad_output = batch makes the scales equal), for every
 * kind. */
START_TEST(batch_one_calls_equal_rows_of_a_batch)
{
  const kind_case *k = &cases[_i];
  const size_t B = 70, dim = 24, M = (size_t)k->c.M, N = (size_t)k->c.N;
  prob p = fx_make(B, M, N, dim, true, 1.0, 900 + (uint64_t)_i);
  vbpr_loss *l = make_case(k);
  float lb, *gu = malloc(B * dim * 4), *gp = malloc(B * M * dim * 4),
            *gn = malloc(B * N * dim * 4), rows[70];
  ck_assert(gu && gp && gn);
  ck_assert_ok(vbpr_loss_forward_backward(l, B, dim, p.user, p.pos, p.neg, p.lpp, p.lpn,
                                          (float)B, &lb, gu, gp, gn));
  ck_assert_ok(vbpr_loss_row_losses(l, rows));
  for (size_t r = 0; r < B; r++) {
    float l1, gu1[24], gp1[3 * 24], gn1[6 * 24];
    ck_assert_ok(vbpr_loss_forward_backward(l, 1, dim, p.user + r * dim,
                                            p.pos + r * M * dim, p.neg + r * N * dim,
                                            p.lpp + r * M, p.lpn + r * N, 1.0f, &l1, gu1,
                                            gp1, gn1));
    ck_assert(memcmp(&l1, &rows[r], 4) == 0);
    ck_assert(memcmp(gu1, gu + r * dim, dim * 4) == 0);
    ck_assert(memcmp(gp1, gp + r * M * dim, M * dim * 4) == 0);
    ck_assert(memcmp(gn1, gn + r * N * dim, N * dim * 4) == 0);
  }
  vbpr_loss_destroy(l);
  free(gu), free(gp), free(gn);
  fx_free(&p);
}
END_TEST

/* ---- per-item biases (doc/loss.md) --------------------------------------- */

/* The documented pattern: an item bias b_i is one more embedding component
 * whose user counterpart is a constant 1, so s = <u, i> + b_i. Its gradient
 * is the score gradient, which a score-level call gives directly. */
START_TEST(item_bias_as_an_extra_component)
{
  enum { B = 6, D = 5, M = 2, N = 4 };
  prob p = fx_make(B, M, N, D, false, 1.0, 4040);
  float bias[B * (M + N)];
  for (size_t i = 0; i < B * (M + N); i++) bias[i] = 0.1f * (float)((int)(i % 7) - 3);
  /* augmented embeddings: [u, 1] and [i, b_i] */
  float ua[B * (D + 1)], pa[B * M * (D + 1)], na[B * N * (D + 1)];
  float ps[B * M], ns[B * N];
  for (size_t r = 0; r < B; r++) {
    memcpy(ua + r * (D + 1), p.user + r * D, D * 4);
    ua[r * (D + 1) + D] = 1.0f;
    for (size_t k = 0; k < M + N; k++) {
      bool is_pos = k < M;
      size_t idx = is_pos ? r * M + k : r * N + (k - M);
      const float *src = (is_pos ? p.pos : p.neg) + idx * D;
      float *dst = (is_pos ? pa : na) + idx * (D + 1);
      memcpy(dst, src, D * 4);
      dst[D] = bias[r * (M + N) + k];
      double s = dst[D];
      for (size_t c = 0; c < D; c++) s += (double)p.user[r * D + c] * src[c];
      (is_pos ? ps : ns)[idx] = (float)s;
    }
  }
  vbpr_loss *l = NULL;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l));
  ck_assert_ok(vbpr_loss_set_preset(l, "best"));
  float le, ls, gu[B * (D + 1)], gp[B * M * (D + 1)], gn[B * N * (D + 1)];
  float gps[B * M], gns[B * N];
  ck_assert_ok(vbpr_loss_forward_backward(l, B, D + 1, ua, pa, na, NULL, NULL, 1.0f, &le,
                                          gu, gp, gn));
  ck_assert_ok(vbpr_loss_forward_backward_scores(l, B, ps, ns, NULL, NULL, 1.0f, &ls, gps,
                                                 gns));
  ck_assert(fabs(le - ls) <= 1e-6 * fabs(ls));
  /* d loss / d b_i (the last component of the item's gradient) = the score
   * gradient; the user's constant component's gradient is discarded */
  for (size_t i = 0; i < B * M; i++)
    ck_assert_msg(fabs(gp[i * (D + 1) + D] - gps[i]) <= 1e-6 * fabs(gps[i]) + 1e-9,
                  "pos %zu: %g vs %g", i, (double)gp[i * (D + 1) + D], (double)gps[i]);
  for (size_t i = 0; i < B * N; i++)
    ck_assert(fabs(gn[i * (D + 1) + D] - gns[i]) <= 1e-6 * fabs(gns[i]) + 1e-9);
  vbpr_loss_destroy(l);
  fx_free(&p);
}
END_TEST

static Suite *loss_kinds_suite(void)
{
  Suite *s = suite_create("loss_kinds");
  TCase *t = tcase_create("infonce");
  tcase_set_timeout(t, 120);
  tcase_add_loop_test(t, infonce_matches_its_definition, 0, 6);
  tcase_add_test(t, infonce_attention);
  tcase_add_test(t, infonce_extreme_range);
  tcase_add_test(t, infonce_parameters);
  suite_add_tcase(s, t);
  t = tcase_create("f64");
  tcase_add_loop_test(t, f64_calls_match_float_path_and_finite_differences, 0, N_CASES);
  tcase_add_test(t, f64_calls_check_their_inputs);
  suite_add_tcase(s, t);
  t = tcase_create("small");
  tcase_add_loop_test(t, batch_one_calls_equal_rows_of_a_batch, 0, N_CASES);
  tcase_add_test(t, item_bias_as_an_extra_component);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return test_run_suite(loss_kinds_suite()); }
