/* Random problems for the loss tests: float inputs for the library, double
 * copies for the reference. */
#ifndef VBPR_TEST_LOSS_FIXTURE_H
#define VBPR_TEST_LOSS_FIXTURE_H

#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ref_loss.h"
#include "vbpr/loss.h"

typedef struct prob {
  size_t B, M, N, dim; /* dim 0: score level */
  float *user, *pos, *neg; /* embedding level */
  float *ps, *ns;          /* score level */
  float *lpp, *lpn;        /* NULL when without priors */
} prob;

static uint64_t fx_state;

static inline double fx_uniform(void)
{
  fx_state = fx_state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return (double)(fx_state >> 11) * 0x1.0p-53;
}

static inline double fx_normal(void)
{
  double u = fx_uniform(), v = fx_uniform();
  return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static inline float *fx_array(size_t n, double scale)
{
  float *x = malloc((n ? n : 1) * sizeof *x);
  ck_assert_ptr_nonnull(x);
  for (size_t i = 0; i < n; i++) x[i] = (float)(scale * fx_normal());
  return x;
}

static inline prob fx_make(size_t B, size_t M, size_t N, size_t dim, bool priors,
                           double scale, uint64_t seed)
{
  prob p = {B, M, N, dim, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  fx_state = seed * 2654435761u + 1;
  if (dim > 0) {
    double s = scale / sqrt(sqrt((double)dim)); /* scores of about scale^2 */
    p.user = fx_array(B * dim, s);
    p.pos = fx_array(B * M * dim, s);
    p.neg = fx_array(B * N * dim, s);
  } else {
    p.ps = fx_array(B * M, scale);
    p.ns = fx_array(B * N, scale);
  }
  if (priors) {
    p.lpp = fx_array(B * M, 0.8);
    p.lpn = fx_array(B * N, 0.8);
  }
  return p;
}

static inline void fx_free(prob *p)
{
  free(p->user), free(p->pos), free(p->neg), free(p->ps), free(p->ns);
  free(p->lpp), free(p->lpn);
  memset(p, 0, sizeof *p);
}

/* A loss with the given configuration. */
static inline vbpr_loss *fx_loss(const ref_cfg *c)
{
  vbpr_loss *l = NULL;
  ck_assert_int_eq(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_NUM_POS, c->M), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, c->N), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_C_POS, c->c_pos), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_C_NEG, c->c_neg), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_ESTIMATOR, c->est), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_NEG_ATTENTION, c->sign), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_POS_HARDNESS, c->lam_pos), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_NEG_HARDNESS, c->lam_neg), VBPR_OK);
  ck_assert_int_eq(vbpr_loss_set(l, VBPR_LOSS_HARDNESS_TAU, c->tau), VBPR_OK);
  return l;
}

/* Scores of row r in double (inner products in double at embedding level). */
static inline void fx_row_scores(const prob *p, const double *du, const double *dpos,
                                 const double *dneg, size_t r, double *sp, double *sn)
{
  for (size_t m = 0; m < p->M; m++) {
    double s = 0.0;
    if (p->dim == 0) {
      s = dpos[r * p->M + m];
    } else {
      for (size_t k = 0; k < p->dim; k++)
        s += du[r * p->dim + k] * dpos[(r * p->M + m) * p->dim + k];
    }
    sp[m] = s;
  }
  for (size_t n = 0; n < p->N; n++) {
    double s = 0.0;
    if (p->dim == 0) {
      s = dneg[r * p->N + n];
    } else {
      for (size_t k = 0; k < p->dim; k++)
        s += du[r * p->dim + k] * dneg[(r * p->N + n) * p->dim + k];
    }
    sn[n] = s;
  }
}

static inline double *fx_to_double(const float *x, size_t n)
{
  double *d = malloc((n ? n : 1) * sizeof *d);
  ck_assert_ptr_nonnull(d);
  for (size_t i = 0; i < n; i++) d[i] = x ? (double)x[i] : 0.0;
  return d;
}

#endif
