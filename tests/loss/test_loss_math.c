/* The loss against its definition: values and gradients compared with an
 * independent double-precision reference and its central finite
 * differences, reduction to BPR, numerical range, thread independence.
 * Black-box: links the shared library. */
#include <float.h>
#include <pthread.h>
#include <stdio.h>

#include "loss_fixture.h"
#include "testutil.h"
#include "vbpr/error.h"
#include "vbpr/loss.h"
#include "vbpr/runtime.h"

/* ---- reference on a whole problem --------------------------------------- */

typedef struct dprob {
  double *u, *pos, *neg; /* at score level pos/neg hold the scores */
  double *lpp, *lpn;
  ref_frozen *fr;
} dprob;

static double ref_row_at(const ref_cfg *c, const prob *p, const dprob *d, size_t r)
{
  double sp[REF_MAX], sn[REF_MAX];
  fx_row_scores(p, d->u, d->pos, d->neg, r, sp, sn);
  return ref_row_loss(c, sp, sn, d->lpp ? d->lpp + r * p->M : NULL,
                      d->lpn ? d->lpn + r * p->N : NULL, &d->fr[r]);
}

static dprob ref_setup(const ref_cfg *c, const prob *p)
{
  dprob d;
  size_t B = p->B, M = p->M, N = p->N, dim = p->dim;
  d.u = dim ? fx_to_double(p->user, B * dim) : NULL;
  d.pos = dim ? fx_to_double(p->pos, B * M * dim) : fx_to_double(p->ps, B * M);
  d.neg = dim ? fx_to_double(p->neg, B * N * dim) : fx_to_double(p->ns, B * N);
  d.lpp = p->lpp ? fx_to_double(p->lpp, B * M) : NULL;
  d.lpn = p->lpn ? fx_to_double(p->lpn, B * N) : NULL;
  d.fr = malloc(B * sizeof *d.fr);
  ck_assert_ptr_nonnull(d.fr);
  for (size_t r = 0; r < B; r++) {
    double sp[REF_MAX], sn[REF_MAX];
    fx_row_scores(p, d.u, d.pos, d.neg, r, sp, sn);
    ref_freeze(c, sp, sn, d.lpp ? d.lpp + r * M : NULL, d.lpn ? d.lpn + r * N : NULL,
               &d.fr[r]);
  }
  return d;
}

static void ref_free(dprob *d)
{
  free(d->u), free(d->pos), free(d->neg), free(d->lpp), free(d->lpn), free(d->fr);
}

static double ref_batch_loss(const ref_cfg *c, const prob *p, const dprob *d)
{
  double s = 0.0;
  for (size_t r = 0; r < p->B; r++) s += ref_row_at(c, p, d, r);
  return s / (double)p->B;
}

/* Central difference of grad_output * (batch loss) with respect to x[i],
 * which belongs to row `row`. */
static double fd_at(const ref_cfg *c, const prob *p, const dprob *d, double *x, size_t i,
                    size_t row, double g)
{
  const double h = 1e-5;
  double s = x[i];
  x[i] = s + h;
  double lp = ref_row_at(c, p, d, row);
  x[i] = s - h;
  double lm = ref_row_at(c, p, d, row);
  x[i] = s;
  return g * (lp - lm) / (2 * h) / (double)p->B;
}

/* |got - want| <= rtol * max|want| (+ a tiny floor), element by element. */
static void expect_close(const char *what, const char *cfg, const float *got,
                         const double *want, size_t n, double rtol)
{
  double mx = 1e-12;
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(fabs((double)got[i] - want[i]) <= rtol * mx + 1e-12,
                  "%s [%s]: element %zu is %.9g, finite differences give %.9g "
                  "(max |grad| %.3g, rtol %.1g)",
                  what, cfg, i, (double)got[i], want[i], mx, rtol);
}

static void describe(char *buf, size_t size, const ref_cfg *c, size_t dim, bool priors)
{
  snprintf(buf, size, "est %d sign %+d M %d N %d dim %zu priors %d lam %g/%g c %g/%g",
           c->est, c->sign, c->M, c->N, dim, priors, c->lam_pos, c->lam_neg, c->c_pos,
           c->c_neg);
}

/* FD of every score of the reference, and its analytic gradient: the two must
 * agree tightly (this checks the reference itself). */
static void check_reference_analytic(const ref_cfg *c, const prob *p, const dprob *d,
                                     const char *desc)
{
  for (size_t r = 0; r < p->B; r++) {
    double sp[REF_MAX], sn[REF_MAX], gp[REF_MAX], gn[REF_MAX];
    fx_row_scores(p, d->u, d->pos, d->neg, r, sp, sn);
    const double *lpp = d->lpp ? d->lpp + r * p->M : NULL;
    const double *lpn = d->lpn ? d->lpn + r * p->N : NULL;
    ref_row_grad(c, sp, sn, &d->fr[r], gp, gn);
    for (int side = 0; side < 2; side++) {
      int cnt = side ? c->N : c->M;
      double *s = side ? sn : sp, *g = side ? gn : gp;
      for (int k = 0; k < cnt; k++) {
        const double h = 1e-5;
        double v = s[k];
        s[k] = v + h;
        double lp = ref_row_loss(c, sp, sn, lpp, lpn, &d->fr[r]);
        s[k] = v - h;
        double lm = ref_row_loss(c, sp, sn, lpp, lpn, &d->fr[r]);
        s[k] = v;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(fd - g[k]) <= 1e-7 * fmax(1.0, fabs(fd)),
                      "reference analytic gradient [%s] row %zu %s %d: %.12g vs "
                      "FD %.12g",
                      desc, r, side ? "neg" : "pos", k, g[k], fd);
      }
    }
  }
}

/* Library gradient of one input array against FD of the reference. */
static void check_array(const ref_cfg *c, const prob *p, const dprob *d, double *x,
                        size_t n, size_t per_row, const float *got, float g, double rtol,
                        const char *what, const char *desc)
{
  double *want = malloc(n * sizeof *want);
  ck_assert_ptr_nonnull(want);
  for (size_t i = 0; i < n; i++) want[i] = fd_at(c, p, d, x, i, i / per_row, g);
  expect_close(what, desc, got, want, n, rtol);
  free(want);
}

/* Score gradients of an embedding-level forward, against FD in the scores. */
static void check_score_grads_of_embedding(const ref_cfg *c, const prob *p,
                                           const dprob *d, vbpr_loss *l, float g,
                                           const char *desc)
{
  size_t B = p->B, M = p->M, N = p->N;
  prob ps = {B, M, N, 0, NULL, NULL, NULL, NULL, NULL, p->lpp, p->lpn};
  dprob ds = *d;
  ds.u = NULL;
  ds.pos = malloc(B * M * sizeof(double));
  ds.neg = malloc(B * N * sizeof(double));
  ck_assert(ds.pos && ds.neg);
  for (size_t r = 0; r < B; r++)
    fx_row_scores(p, d->u, d->pos, d->neg, r, ds.pos + r * M, ds.neg + r * N);
  float *gp = malloc(B * M * sizeof(float)), *gn = malloc(B * N * sizeof(float));
  ck_assert(gp && gn);
  ck_assert_ok(vbpr_loss_backward_scores(l, g, gp, gn));
  check_array(c, &ps, &ds, ds.pos, B * M, M, gp, g, 2e-5, "grad_pos_scores", desc);
  check_array(c, &ps, &ds, ds.neg, B * N, N, gn, g, 2e-5, "grad_neg_scores", desc);
  free(gp), free(gn), free(ds.pos), free(ds.neg);
}

static void check_case(const ref_cfg *c, size_t dim, bool priors, uint64_t seed)
{
  char desc[200];
  describe(desc, sizeof desc, c, dim, priors);
  const size_t B = 3, M = (size_t)c->M, N = (size_t)c->N;
  const float g = 1.7f;
  prob p = fx_make(B, M, N, dim, priors, 1.0, seed);
  dprob d = ref_setup(c, &p);
  vbpr_loss *l = fx_loss(c);
  float loss = NAN;
  double want = ref_batch_loss(c, &p, &d);
  if (dim > 0) {
    float *gu = malloc(B * dim * 4), *gp = malloc(B * M * dim * 4),
          *gn = malloc(B * N * dim * 4);
    ck_assert(gu && gp && gn);
    ck_assert_ok(vbpr_loss_forward(l, B, dim, p.user, p.pos, p.neg, p.lpp, p.lpn, &loss));
    ck_assert_msg(fabs(loss - want) <= 1e-5 * fmax(1.0, fabs(want)),
                  "loss [%s]: %.9g, reference %.9g", desc, (double)loss, want);
    ck_assert_ok(vbpr_loss_backward(l, g, gu, gp, gn));
    check_array(c, &p, &d, d.u, B * dim, dim, gu, g, 1e-4, "grad_user", desc);
    check_array(c, &p, &d, d.pos, B * M * dim, M * dim, gp, g, 1e-4, "grad_pos", desc);
    check_array(c, &p, &d, d.neg, B * N * dim, N * dim, gn, g, 1e-4, "grad_neg", desc);
    check_score_grads_of_embedding(c, &p, &d, l, g, desc);
    free(gu), free(gp), free(gn);
  } else {
    float *gp = malloc(B * M * 4), *gn = malloc(B * N * 4);
    ck_assert(gp && gn);
    ck_assert_ok(vbpr_loss_forward_scores(l, B, p.ps, p.ns, p.lpp, p.lpn, &loss));
    ck_assert_msg(fabs(loss - want) <= 1e-6 * fmax(1.0, fabs(want)),
                  "loss [%s]: %.9g, reference %.9g", desc, (double)loss, want);
    ck_assert_ok(vbpr_loss_backward_scores(l, g, gp, gn));
    check_array(c, &p, &d, d.pos, B * M, M, gp, g, 1e-5, "grad_pos_scores", desc);
    check_array(c, &p, &d, d.neg, B * N, N, gn, g, 1e-5, "grad_neg_scores", desc);
    check_reference_analytic(c, &p, &d, desc);
    free(gp), free(gn);
  }
  vbpr_loss_destroy(l);
  ref_free(&d);
  fx_free(&p);
}

static const struct {
  int M, N;
  size_t dim;
} shapes[] = {{1, 1, 1},  {2, 4, 3}, {3, 2, 8}, {1, 5, 1},
              {4, 1, 17}, {2, 3, 1}, {5, 7, 2}};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* _i: estimator (1..3) x sign; inside: shapes, priors, hardness, level. */
START_TEST(gradients_match_finite_differences)
{
  int est = 1 + _i / 2, sign = _i % 2 ? -1 : 1;
  uint64_t seed = 100 + (uint64_t)_i * 1000;
  for (size_t s = 0; s < N_SHAPES; s++)
    for (int priors = 0; priors < 2; priors++)
      for (int hard = 0; hard < 2; hard++)
        for (int level = 0; level < 2; level++) {
          ref_cfg c = {shapes[s].M,      shapes[s].N, 0.8, 1.3, hard ? 0.7 : 0.0,
                       hard ? 1.3 : 0.0, 0.6,         est, sign};
          check_case(&c, level ? shapes[s].dim : 0, priors, seed++);
        }
}
END_TEST

/* The same checks with the default temperatures (c = 4) and a larger M, N. */
START_TEST(gradients_match_with_defaults)
{
  for (int est = 1; est <= 3; est++) {
    ref_cfg c = {2, 4, 4.0, 4.0, 0.0, 0.0, 0.5, est, 1};
    check_case(&c, 0, false, 7 + est);
    check_case(&c, 64, false, 17 + est);
    ref_cfg big = {6, 12, 0.5, 0.7, 0.3, 0.4, 0.5, est, -1};
    check_case(&big, 0, true, 27 + est);
    check_case(&big, 5, true, 37 + est);
  }
}
END_TEST

/* ---- reduction to BPR ---------------------------------------------------- */

static float rel_diff(float a, float b)
{
  float d = fabsf(a - b), m = fmaxf(fabsf(a), fabsf(b));
  return m > 0 ? d / m : 0.0f;
}

START_TEST(variational_with_one_pair_is_bpr)
{
  enum { B = 64, dim = 5 };
  int est = 1 + _i / 2, sign = _i % 2 ? -1 : 1;
  prob p = fx_make(B, 1, 1, dim, true, 2.0, 5 + (uint64_t)_i);
  vbpr_loss *bpr = NULL;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_BPR, &bpr));
  float lb, gub[B * dim], gpb[B * dim], gnb[B * dim];
  ck_assert_ok(vbpr_loss_forward(bpr, B, dim, p.user, p.pos, p.neg, NULL, NULL, &lb));
  ck_assert_ok(vbpr_loss_backward(bpr, 1.0f, gub, gpb, gnb));
  for (int variant = 0; variant < 4; variant++) {
    ref_cfg c = {1,
                 1,
                 variant & 1 ? 0.3 : 7.0,
                 variant & 1 ? 5.0 : 0.01,
                 variant & 2 ? 2.0 : 0.0,
                 variant & 2 ? 3.0 : 0.0,
                 0.5,
                 est,
                 sign};
    vbpr_loss *v = fx_loss(&c);
    float lv, gu[B * dim], gp[B * dim], gn[B * dim];
    /* priors shift a one-element softmax by a constant: no effect */
    ck_assert_ok(vbpr_loss_forward(v, B, dim, p.user, p.pos, p.neg, p.lpp, p.lpn, &lv));
    ck_assert_ok(vbpr_loss_backward(v, 1.0f, gu, gp, gn));
    ck_assert_msg(rel_diff(lv, lb) <= 1e-6f, "est %d sign %d: loss %.9g vs BPR %.9g", est,
                  sign, (double)lv, (double)lb);
    for (size_t i = 0; i < B * dim; i++) {
      ck_assert_msg(rel_diff(gu[i], gub[i]) <= 1e-6f, "grad_user[%zu] %g vs %g", i,
                    (double)gu[i], (double)gub[i]);
      ck_assert_msg(rel_diff(gp[i], gpb[i]) <= 1e-6f, "grad_pos[%zu]", i);
      ck_assert_msg(rel_diff(gn[i], gnb[i]) <= 1e-6f, "grad_neg[%zu]", i);
    }
    /* stronger than required: one-element softmaxes are exactly 1 and the
     * correction terms exactly 0, so the very same bits come out */
    ck_assert(memcmp(&lv, &lb, sizeof lv) == 0);
    ck_assert(memcmp(gu, gub, sizeof gu) == 0 && memcmp(gp, gpb, sizeof gp) == 0 &&
              memcmp(gn, gnb, sizeof gn) == 0);
    vbpr_loss_destroy(v);
  }
  vbpr_loss_destroy(bpr);
  fx_free(&p);
}
END_TEST

START_TEST(bpr_equals_log_one_plus_exp_in_double)
{
  /* margins from deep in the saturated regions to zero */
  const float sp[] = {0.0f, 1.0f,  -1.0f, 3.5f,  40.0f, -40.0f,
                      1e4f, -1e4f, 1e-3f, 88.0f, -0.25f};
  const float sn[] = {0.0f,  0.0f, 2.0f, -1.5f,  0.0f, 0.0f,
                      -1e4f, 1e4f, 0.0f, -20.0f, 0.5f};
  enum { B = sizeof sp / sizeof sp[0] };
  vbpr_loss *l = NULL;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_BPR, &l));
  float loss, rows[B], gp[B], gn[B];
  ck_assert_ok(vbpr_loss_forward_scores(l, B, sp, sn, NULL, NULL, &loss));
  ck_assert_ok(vbpr_loss_row_losses(l, rows));
  ck_assert_ok(vbpr_loss_backward_scores(l, 1.0f, gp, gn));
  double mean = 0.0;
  for (size_t r = 0; r < (size_t)B; r++) {
    double d = (double)sp[r] - (double)sn[r];
    double want = d > 0 ? log1p(exp(-d)) : -d + log1p(exp(d)); /* log(1 + e^-d) */
    mean += want / (double)B;
    ck_assert_msg(fabs(rows[r] - want) <= 1e-6 * want + 1e-37,
                  "row %zu (margin %g): %.9g, log(1+exp(-d)) = %.9g", r, d,
                  (double)rows[r], want);
    double gwant = -1.0 / (1.0 + exp(d)) / (double)B;
    ck_assert_msg(fabs(gp[r] - gwant) <= 1e-6 * fabs(gwant) + 1e-37,
                  "grad row %zu: %.9g vs %.9g", r, (double)gp[r], gwant);
    ck_assert_msg(gn[r] == -gp[r], "grad_neg row %zu is not -grad_pos", r);
  }
  ck_assert_msg(fabs(loss - mean) <= 1e-6 * mean, "mean %.9g vs %.9g", (double)loss,
                mean);
  vbpr_loss_destroy(l);
}
END_TEST

/* ---- attention ----------------------------------------------------------- */

START_TEST(attention_is_softmax_summing_to_one)
{
  ref_cfg c = {3, 5, 0.9, 1.7, 0.4, 0.8, 0.5, 1 + _i % 3, _i < 3 ? 1 : -1};
  const size_t B = 17;
  prob p = fx_make(B, 3, 5, 0, true, 1.5, 77 + (uint64_t)_i);
  dprob d = ref_setup(&c, &p);
  vbpr_loss *l = fx_loss(&c);
  float loss, alpha[17 * 3], beta[17 * 5];
  ck_assert_ok(vbpr_loss_forward_scores(l, B, p.ps, p.ns, p.lpp, p.lpn, &loss));
  ck_assert_ok(vbpr_loss_attention(l, alpha, beta));
  for (size_t r = 0; r < B; r++) {
    double sa = 0, sb = 0;
    for (int m = 0; m < 3; m++) {
      sa += alpha[r * 3 + m];
      ck_assert_msg(fabs(alpha[r * 3 + m] - d.fr[r].a[m]) <= 1e-6,
                    "alpha row %zu pos %d: %g vs %g", r, m, (double)alpha[r * 3 + m],
                    d.fr[r].a[m]);
    }
    for (int n = 0; n < 5; n++) {
      sb += beta[r * 5 + n];
      ck_assert_msg(fabs(beta[r * 5 + n] - d.fr[r].b[n]) <= 1e-6,
                    "beta row %zu neg %d: %g vs %g", r, n, (double)beta[r * 5 + n],
                    d.fr[r].b[n]);
    }
    ck_assert_msg(fabs(sa - 1.0) <= 1e-6 && fabs(sb - 1.0) <= 1e-6,
                  "row %zu sums %.9g %.9g", r, sa, sb);
  }
  /* one side only */
  float beta2[17 * 5];
  ck_assert_ok(vbpr_loss_attention(l, NULL, beta2));
  ck_assert(memcmp(beta, beta2, sizeof beta) == 0);
  vbpr_loss_destroy(l);
  ref_free(&d);
  fx_free(&p);
}
END_TEST

START_TEST(hard_attention_prefers_high_negatives_easy_low)
{
  const float sp[2] = {1.0f, 1.0f}, sn[4] = {3.0f, 0.0f, -1.0f, 1.0f};
  float loss, beta[4];
  for (int sign = 1; sign >= -1; sign -= 2) {
    ref_cfg c = {2, 4, 4.0, 1.0, 0, 0, 0.5, 1, sign};
    vbpr_loss *l = fx_loss(&c);
    ck_assert_ok(vbpr_loss_forward_scores(l, 1, sp, sn, NULL, NULL, &loss));
    ck_assert_ok(vbpr_loss_attention(l, NULL, beta));
    if (sign > 0)
      ck_assert(beta[0] > beta[3] && beta[3] > beta[1] && beta[1] > beta[2]);
    else
      ck_assert(beta[0] < beta[3] && beta[3] < beta[1] && beta[1] < beta[2]);
    vbpr_loss_destroy(l);
  }
}
END_TEST

/* ---- numerical range ----------------------------------------------------- */

static bool all_finite_f(const float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return false;
  return true;
}

/* Scores of magnitude 1e4 with c of 1e-3 and 1e3: finite and still equal to
 * the reference. _i picks c and the estimator. */
START_TEST(extreme_scores_and_temperatures_stay_finite)
{
  const double cs[] = {1e-3, 1e3, 1e-6, 1e6};
  double cval = cs[_i % 4];
  int est = 1 + _i / 4;
  const size_t B = 16, M = 3, N = 5;
  for (int sign = 1; sign >= -1; sign -= 2)
    for (int hard = 0; hard < 2; hard++) {
      ref_cfg c = {3, 5, cval, cval, hard ? 1.0 : 0, hard ? 2.0 : 0, 0.5, est, sign};
      prob p = fx_make(B, M, N, 0, true, 1e4, 900 + (uint64_t)_i);
      for (size_t i = 0; i < B * M; i++) p.lpp[i] *= 1e3f;
      dprob d = ref_setup(&c, &p);
      vbpr_loss *l = fx_loss(&c);
      float loss, gp[16 * 3], gn[16 * 5];
      ck_assert_ok(vbpr_loss_forward_backward_scores(l, B, p.ps, p.ns, p.lpp, p.lpn, 1.0f,
                                                     &loss, gp, gn));
      ck_assert(isfinite(loss));
      ck_assert(all_finite_f(gp, B * M) && all_finite_f(gn, B * N));
      double want = ref_batch_loss(&c, &p, &d);
      ck_assert_msg(fabs(loss - want) <= 1e-6 * fmax(1.0, fabs(want)),
                    "c %g est %d: loss %.9g vs reference %.9g", cval, est, (double)loss,
                    want);
      vbpr_loss_destroy(l);
      ref_free(&d);
      fx_free(&p);
    }
  /* and at embedding level: inner products of about 1e4 */
  ref_cfg c = {2, 4, cval, cval, 0, 0, 0.5, est, 1};
  prob p = fx_make(8, 2, 4, 16, false, 100.0, 33);
  vbpr_loss *l = fx_loss(&c);
  float loss, gu[8 * 16], gp[8 * 2 * 16], gn[8 * 4 * 16];
  ck_assert_ok(vbpr_loss_forward_backward(l, 8, 16, p.user, p.pos, p.neg, NULL, NULL,
                                          1.0f, &loss, gu, gp, gn));
  ck_assert(isfinite(loss) && all_finite_f(gu, 8 * 16) && all_finite_f(gp, 8 * 32) &&
            all_finite_f(gn, 8 * 64));
  vbpr_loss_destroy(l);
  fx_free(&p);
}
END_TEST

/* ---- determinism, repetition, scaling ------------------------------------ */

typedef struct outs {
  float loss, *gu, *gp, *gn, *rows, *alpha, *beta;
} outs;

static outs run_all(vbpr_loss *l, const prob *p)
{
  outs o;
  size_t B = p->B, M = p->M, N = p->N, dim = p->dim;
  o.gu = malloc(B * dim * 4), o.gp = malloc(B * M * dim * 4),
  o.gn = malloc(B * N * dim * 4);
  o.rows = malloc(B * 4), o.alpha = malloc(B * M * 4), o.beta = malloc(B * N * 4);
  ck_assert(o.gu && o.gp && o.gn && o.rows && o.alpha && o.beta);
  ck_assert_ok(vbpr_loss_forward_backward(l, B, dim, p->user, p->pos, p->neg, p->lpp,
                                          p->lpn, 1.0f, &o.loss, o.gu, o.gp, o.gn));
  ck_assert_ok(vbpr_loss_row_losses(l, o.rows));
  ck_assert_ok(vbpr_loss_attention(l, o.alpha, o.beta));
  return o;
}

static void free_outs(outs *o)
{
  free(o->gu), free(o->gp), free(o->gn), free(o->rows), free(o->alpha), free(o->beta);
}

START_TEST(results_do_not_depend_on_thread_count)
{
  int est = 1 + _i;
  ref_cfg c = {2, 4, 1.5, 2.5, 0.5, 0.5, 0.5, est, -1};
  prob p = fx_make(9001, 2, 4, 40, true, 1.0, 4242);
  vbpr_loss *l = fx_loss(&c);
  ck_assert_ok(vbpr_set_num_threads(1));
  outs one = run_all(l, &p);
  for (int nt = 2; nt <= 3; nt++) {
    ck_assert_ok(vbpr_set_num_threads(nt));
    outs many = run_all(l, &p);
    size_t B = p.B, M = 2, N = 4, dim = 40;
    ck_assert(memcmp(&one.loss, &many.loss, sizeof one.loss) == 0);
    ck_assert(memcmp(one.gu, many.gu, B * dim * 4) == 0);
    ck_assert(memcmp(one.gp, many.gp, B * M * dim * 4) == 0);
    ck_assert(memcmp(one.gn, many.gn, B * N * dim * 4) == 0);
    ck_assert(memcmp(one.rows, many.rows, B * 4) == 0);
    ck_assert(memcmp(one.alpha, many.alpha, B * M * 4) == 0);
    ck_assert(memcmp(one.beta, many.beta, B * N * 4) == 0);
    free_outs(&many);
  }
  ck_assert_ok(vbpr_set_num_threads(0));
  free_outs(&one);
  vbpr_loss_destroy(l);
  fx_free(&p);
}
END_TEST

/* One row of a huge dimension: enough work for two threads but only one row
 * to give them. */
START_TEST(more_work_than_rows)
{
  enum { dim = 400000 };
  ck_assert_ok(vbpr_set_num_threads(2));
  ref_cfg c = {2, 4, 4.0, 4.0, 0, 0, 0.5, 1, 1};
  prob p = fx_make(1, 2, 4, dim, false, 0.05, 3);
  vbpr_loss *l = fx_loss(&c);
  outs o = run_all(l, &p);
  ck_assert(isfinite(o.loss));
  free_outs(&o);
  ck_assert_ok(vbpr_set_num_threads(0));
  vbpr_loss_destroy(l);
  fx_free(&p);
}
END_TEST

START_TEST(backward_repeats_scales_and_overwrites)
{
  ref_cfg c = {2, 3, 1.0, 1.0, 0, 0, 0.5, 1, 1};
  const size_t B = 5, dim = 4;
  prob p = fx_make(B, 2, 3, dim, false, 1.0, 8);
  vbpr_loss *l = fx_loss(&c);
  float loss, loss2;
  float gu[5 * 4], gp[5 * 2 * 4], gn[5 * 3 * 4];
  float gu2[5 * 4], gp2[5 * 2 * 4], gn2[5 * 3 * 4];
  ck_assert_ok(vbpr_loss_forward(l, B, dim, p.user, p.pos, p.neg, NULL, NULL, &loss));
  ck_assert_ok(vbpr_loss_backward(l, 1.0f, gu, gp, gn));
  /* written, not added: garbage in the buffers does not matter */
  for (size_t i = 0; i < sizeof gu2 / 4; i++) gu2[i] = NAN;
  for (size_t i = 0; i < sizeof gp2 / 4; i++) gp2[i] = 1e30f;
  for (size_t i = 0; i < sizeof gn2 / 4; i++) gn2[i] = -7.0f;
  ck_assert_ok(vbpr_loss_backward(l, 1.0f, gu2, gp2, gn2));
  ck_assert(memcmp(gu, gu2, sizeof gu) == 0 && memcmp(gp, gp2, sizeof gp) == 0 &&
            memcmp(gn, gn2, sizeof gn) == 0);
  /* grad_output scales every gradient */
  ck_assert_ok(vbpr_loss_backward(l, -2.5f, gu2, gp2, gn2));
  /* (grad_user sums terms of both signs: compare against the array's scale) */
  float mu = 0, mp = 0;
  for (size_t i = 0; i < sizeof gu / 4; i++) mu = fmaxf(mu, fabsf(gu2[i]));
  for (size_t i = 0; i < sizeof gp / 4; i++) mp = fmaxf(mp, fabsf(gp2[i]));
  for (size_t i = 0; i < sizeof gu / 4; i++)
    ck_assert(fabsf(gu2[i] + 2.5f * gu[i]) <= 1e-6f * mu);
  for (size_t i = 0; i < sizeof gp / 4; i++)
    ck_assert(fabsf(gp2[i] + 2.5f * gp[i]) <= 1e-6f * mp);
  ck_assert_ok(vbpr_loss_backward(l, 0.0f, gu2, gp2, gn2));
  for (size_t i = 0; i < sizeof gn / 4; i++) ck_assert(gn2[i] == 0.0f);
  /* the fused call gives the same bits as forward then backward */
  ck_assert_ok(vbpr_loss_forward_backward(l, B, dim, p.user, p.pos, p.neg, NULL, NULL,
                                          1.0f, &loss2, gu2, gp2, gn2));
  ck_assert(memcmp(&loss, &loss2, sizeof loss) == 0);
  ck_assert(memcmp(gu, gu2, sizeof gu) == 0 && memcmp(gp, gp2, sizeof gp) == 0 &&
            memcmp(gn, gn2, sizeof gn) == 0);
  /* and the mean of the row losses is the loss */
  float rows[5];
  ck_assert_ok(vbpr_loss_row_losses(l, rows));
  double mean = 0;
  for (size_t r = 0; r < B; r++) mean += rows[r] / 5.0;
  ck_assert(fabs(mean - loss) <= 1e-6 * fabs(mean));
  size_t b = 0;
  ck_assert_ok(vbpr_loss_batch_size(l, &b));
  ck_assert_uint_eq(b, B);
  vbpr_loss_destroy(l);
  fx_free(&p);
}
END_TEST

START_TEST(score_level_fused_equals_separate)
{
  ref_cfg c = {3, 4, 2.0, 0.5, 0.2, 0.3, 0.5, 1 + _i, 1};
  prob p = fx_make(9, 3, 4, 0, true, 1.0, 91);
  vbpr_loss *l = fx_loss(&c);
  float l1, l2, gp1[27], gn1[36], gp2[27], gn2[36];
  ck_assert_ok(vbpr_loss_forward_scores(l, 9, p.ps, p.ns, p.lpp, p.lpn, &l1));
  ck_assert_ok(vbpr_loss_backward_scores(l, 0.5f, gp1, gn1));
  ck_assert_ok(vbpr_loss_forward_backward_scores(l, 9, p.ps, p.ns, p.lpp, p.lpn, 0.5f,
                                                 &l2, gp2, gn2));
  ck_assert(memcmp(&l1, &l2, 4) == 0 && memcmp(gp1, gp2, sizeof gp1) == 0 &&
            memcmp(gn1, gn2, sizeof gn1) == 0);
  vbpr_loss_destroy(l);
  fx_free(&p);
}
END_TEST

/* Different loss objects used by different threads at the same time give
 * the results each gives alone. */
typedef struct worker {
  ref_cfg cfg;
  prob p;
  float want_loss, *want_gu;
  int ok;
} worker;

static void *work(void *arg)
{
  worker *w = arg;
  vbpr_loss *l = NULL;
  if (vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l) != VBPR_OK) return NULL;
  vbpr_loss_set(l, VBPR_LOSS_NUM_POS, w->cfg.M);
  vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, w->cfg.N);
  vbpr_loss_set(l, VBPR_LOSS_ESTIMATOR, w->cfg.est);
  size_t B = w->p.B, dim = w->p.dim;
  float *gu = malloc(B * dim * 4), *gp = malloc(B * w->p.M * dim * 4),
        *gn = malloc(B * w->p.N * dim * 4);
  w->ok = gu && gp && gn;
  for (int rep = 0; rep < 20 && w->ok; rep++) {
    float loss;
    w->ok = vbpr_loss_forward_backward(l, B, dim, w->p.user, w->p.pos, w->p.neg, NULL,
                                       NULL, 1.0f, &loss, gu, gp, gn) == VBPR_OK &&
            memcmp(&loss, &w->want_loss, 4) == 0 &&
            memcmp(gu, w->want_gu, B * dim * 4) == 0;
  }
  free(gu), free(gp), free(gn);
  vbpr_loss_destroy(l);
  return NULL;
}

START_TEST(separate_objects_run_concurrently)
{
  worker w[3];
  pthread_t t[3];
  for (int i = 0; i < 3; i++) {
    w[i].cfg = (ref_cfg){2 + i, 3 + i, 4, 4, 0, 0, 0.5, 1 + i, 1};
    w[i].p = fx_make(300, (size_t)w[i].cfg.M, (size_t)w[i].cfg.N, 24, false, 1.0,
                     50 + (uint64_t)i);
    vbpr_loss *l = fx_loss(&w[i].cfg);
    outs o = run_all(l, &w[i].p);
    w[i].want_loss = o.loss;
    w[i].want_gu = malloc(300 * 24 * 4);
    ck_assert_ptr_nonnull(w[i].want_gu);
    memcpy(w[i].want_gu, o.gu, 300 * 24 * 4);
    free_outs(&o);
    vbpr_loss_destroy(l);
  }
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(pthread_join(t[i], NULL), 0);
  for (int i = 0; i < 3; i++) {
    ck_assert_msg(w[i].ok, "worker %d saw a different result", i);
    free(w[i].want_gu);
    fx_free(&w[i].p);
  }
}
END_TEST

static Suite *loss_math_suite(void)
{
  Suite *s = suite_create("loss_math");
  TCase *t = tcase_create("gradients");
  tcase_set_timeout(t, 120);
  tcase_add_loop_test(t, gradients_match_finite_differences, 0, 6);
  tcase_add_test(t, gradients_match_with_defaults);
  suite_add_tcase(s, t);
  t = tcase_create("bpr");
  tcase_add_loop_test(t, variational_with_one_pair_is_bpr, 0, 6);
  tcase_add_test(t, bpr_equals_log_one_plus_exp_in_double);
  suite_add_tcase(s, t);
  t = tcase_create("attention");
  tcase_add_loop_test(t, attention_is_softmax_summing_to_one, 0, 6);
  tcase_add_test(t, hard_attention_prefers_high_negatives_easy_low);
  suite_add_tcase(s, t);
  t = tcase_create("range");
  tcase_add_loop_test(t, extreme_scores_and_temperatures_stay_finite, 0, 12);
  suite_add_tcase(s, t);
  t = tcase_create("repeat");
  tcase_set_timeout(t, 120);
  tcase_add_loop_test(t, results_do_not_depend_on_thread_count, 0, 3);
  tcase_add_test(t, backward_repeats_scales_and_overwrites);
  tcase_add_test(t, more_work_than_rows);
  tcase_add_loop_test(t, score_level_fused_equals_separate, 0, 3);
  tcase_add_test(t, separate_objects_run_concurrently);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return test_run_suite(loss_math_suite()); }
