/* An independent double-precision reference of the loss for the tests.
 *
 * It follows the definitions literally (libm exp/log1p, divisions, the row
 * mean inside the hardness softmax, an explicit softmax Jacobian), so that it
 * shares no shortcut with the library. What the estimators treat as a
 * constant in backward (the hardness prior always; alpha and beta for
 * DETACHED and ELBO) is computed once at the base point and passed in as
 * "frozen" values, so that central finite differences of ref_batch_loss give
 * exactly the gradient each estimator defines. */
#ifndef VBPR_TEST_REF_LOSS_H
#define VBPR_TEST_REF_LOSS_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#define REF_MAX 16

typedef struct ref_cfg {
  int M, N;
  double c_pos, c_neg, lam_pos, lam_neg, tau;
  int est;  /* 1 prototype, 2 detached, 3 elbo */
  int sign; /* +1 hard, -1 easy */
} ref_cfg;

/* Constants of backward, per row: hardness log-priors and, for DETACHED and
 * ELBO, the attention weights. */
typedef struct ref_frozen {
  double hp[REF_MAX], hn[REF_MAX];
  double a[REF_MAX], b[REF_MAX];
  int weights; /* use a, b instead of recomputing them */
} ref_frozen;

static inline double ref_softplus(double z)
{
  return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static inline double ref_sigmoid(double z)
{
  return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

static inline void ref_softmax(int n, const double *z, double *w)
{
  double mx = z[0], sum = 0.0;
  for (int k = 1; k < n; k++) mx = z[k] > mx ? z[k] : mx;
  for (int k = 0; k < n; k++) sum += exp(z[k] - mx);
  for (int k = 0; k < n; k++) w[k] = exp(z[k] - mx) / sum;
}

/* out_k = lam * log softmax_k(h * (s_k - mean(s)) / tau), as the reference
 * code writes it (h = -1 for positives, +1 for negatives). */
static inline void ref_hardness(int n, const double *s, double h, double lam,
                                double tau, double *out)
{
  double mean = 0.0, t[REF_MAX], mx, sum = 0.0;
  for (int k = 0; k < n; k++) mean += s[k] / n;
  for (int k = 0; k < n; k++) t[k] = h * (s[k] - mean) / tau;
  mx = t[0];
  for (int k = 1; k < n; k++) mx = t[k] > mx ? t[k] : mx;
  for (int k = 0; k < n; k++) sum += exp(t[k] - mx);
  for (int k = 0; k < n; k++) out[k] = lam * (t[k] - mx - log(sum));
}

static inline void ref_weights(const ref_cfg *c, const double *sp, const double *sn,
                               const double *lpp, const double *lpn,
                               const ref_frozen *f, double *a, double *b)
{
  double z[REF_MAX];
  for (int m = 0; m < c->M; m++) z[m] = sp[m] / c->c_pos + (lpp ? lpp[m] : 0) + f->hp[m];
  ref_softmax(c->M, z, a);
  for (int n = 0; n < c->N; n++)
    z[n] = c->sign * sn[n] / c->c_neg + (lpn ? lpn[n] : 0) + f->hn[n];
  ref_softmax(c->N, z, b);
}

/* The frozen constants at the base point of one row. */
static inline void ref_freeze(const ref_cfg *c, const double *sp, const double *sn,
                              const double *lpp, const double *lpn, ref_frozen *f)
{
  memset(f, 0, sizeof *f);
  if (c->lam_pos > 0) ref_hardness(c->M, sp, -1.0, c->lam_pos, c->tau, f->hp);
  if (c->lam_neg > 0) ref_hardness(c->N, sn, 1.0, c->lam_neg, c->tau, f->hn);
  ref_weights(c, sp, sn, lpp, lpn, f, f->a, f->b);
  f->weights = c->est != 1;
}

static inline double ref_row_loss(const ref_cfg *c, const double *sp, const double *sn,
                                  const double *lpp, const double *lpn,
                                  const ref_frozen *f)
{
  double a[REF_MAX], b[REF_MAX];
  if (f->weights) {
    memcpy(a, f->a, sizeof a);
    memcpy(b, f->b, sizeof b);
  } else {
    ref_weights(c, sp, sn, lpp, lpn, f, a, b);
  }
  if (c->est == 3) {
    double l = 0.0;
    for (int m = 0; m < c->M; m++)
      for (int n = 0; n < c->N; n++) l += a[m] * b[n] * ref_softplus(-(sp[m] - sn[n]));
    return l;
  }
  double x = 0.0;
  for (int m = 0; m < c->M; m++) x += a[m] * sp[m];
  for (int n = 0; n < c->N; n++) x -= b[n] * sn[n];
  return ref_softplus(-x);
}

/* Analytic gradient of one row with respect to its scores, written from the
 * chain rule with the explicit softmax Jacobian d a_k / d z_j =
 * a_k (delta_kj - a_j) (the library uses a closed form instead). */
static inline void ref_row_grad(const ref_cfg *c, const double *sp, const double *sn,
                                const ref_frozen *f, double *gp, double *gn)
{
  const double *a = f->a, *b = f->b;
  int M = c->M, N = c->N;
  if (c->est == 3) {
    for (int m = 0; m < M; m++) gp[m] = 0;
    for (int n = 0; n < N; n++) gn[n] = 0;
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) {
        double d = -ref_sigmoid(-(sp[m] - sn[n])); /* d softplus(-(u)) / du */
        gp[m] += a[m] * b[n] * d;
        gn[n] -= a[m] * b[n] * d;
      }
    return;
  }
  double x = 0.0;
  for (int m = 0; m < M; m++) x += a[m] * sp[m];
  for (int n = 0; n < N; n++) x -= b[n] * sn[n];
  double dx = -ref_sigmoid(-x); /* d loss / d x */
  for (int j = 0; j < M; j++) {
    double dxd = a[j]; /* direct term */
    if (c->est == 1)
      for (int k = 0; k < M; k++)
        dxd += sp[k] * a[k] * ((k == j) - a[j]) / c->c_pos;
    gp[j] = dx * dxd;
  }
  for (int j = 0; j < N; j++) {
    double dxd = -b[j];
    if (c->est == 1)
      for (int k = 0; k < N; k++)
        dxd -= sn[k] * b[k] * ((k == j) - b[j]) * c->sign / c->c_neg;
    gn[j] = dx * dxd;
  }
}

#endif
