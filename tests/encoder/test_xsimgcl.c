/* XSimGCL: the training forward against a double-precision reference that
 * uses the library's own noise directions, the gradient of the batch term
 * plus the contrastive term against central differences of that reference
 * (double precision), evaluation without noise, the noise stream, results
 * independent of the thread count, and the encoder parameters. White-box:
 * the noise directions come from lib/encoder/xsimgcl.h. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "encoder/xsimgcl.h"
#include "testutil.h"
#include "vbpr/vbpr.h"
#include "vbpr_config.h"

/* A tiny graph: user 4 and item 5 have no interactions. */
enum { NU = 5, NI = 6, NNZ = 10, DIM = 4, NN = NU + NI };
static const int32_t tu[NNZ] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 3};
static const int32_t ti[NNZ] = {0, 1, 3, 1, 2, 0, 2, 3, 4, 4};

static vbpr_dataset *tiny_dataset(void)
{
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_create(NU, NI, NNZ, tu, ti, NULL, NULL, &ds));
  return ds;
}

#if VBPR_HAVE_XSIMGCL /* the reference reads the noise of the module's file */

/* A batch with repeated ids, touching the isolated user and item. */
enum { B = 4, M = 2, N = 3 };
static const int32_t bu[B] = {0, 2, 4, 0};
static const int32_t bp[B * M] = {0, 1, 2, 4, 5, 0, 3, 3};
static const int32_t bn[B * N] = {5, 2, 4, 1, 1, 3, 0, 2, 4, 5, 5, 1};

static void fill_values(float *x, double *xd, size_t n, uint32_t seed)
{
  uint32_t s = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)((double)(s >> 8) / (1 << 24) * 2.0 - 1.0);
    if (xd) xd[i] = x[i];
  }
}

/* ---- the double-precision reference ------------------------------------ */

typedef struct ref_cfg {
  int K, lstar;
  double eps, tau, weight;
  uint64_t step; /* the training step whose noise to use */
  bool train;    /* noise on */
  vbpr_encoder *enc; /* for the noise directions */
} ref_cfg;

static void ref_adjacency(double a[NN][NN])
{
  double deg[NN] = {0};
  memset(a, 0, sizeof(double) * NN * NN);
  for (int e = 0; e < NNZ; e++) {
    a[tu[e]][NU + ti[e]] = a[NU + ti[e]][tu[e]] = 1.0;
    deg[tu[e]] += 1;
    deg[NU + ti[e]] += 1;
  }
  for (int i = 0; i < NN; i++)
    for (int j = 0; j < NN; j++)
      if (a[i][j] != 0.0) a[i][j] /= sqrt(deg[i]) * sqrt(deg[j]);
}

/* F = mean of X_1..X_K and C = X_l* from e0, as the header defines them. */
static void ref_forward(const ref_cfg *c, const double *e0, double *F, double *C)
{
  static double a[NN][NN];
  ref_adjacency(a);
  double x[NN * DIM], y[NN * DIM];
  float u[DIM];
  memcpy(x, e0, sizeof x);
  memset(F, 0, sizeof(double) * NN * DIM);
  for (int k = 1; k <= c->K; k++) {
    for (int i = 0; i < NN; i++) {
      for (int d = 0; d < DIM; d++) {
        double s = 0;
        for (int j = 0; j < NN; j++) s += a[i][j] * x[j * DIM + d];
        y[i * DIM + d] = s;
      }
      if (!c->train) continue;
      vbpr__xsimgcl_noise(c->enc, c->step, k, (size_t)i, u);
      for (int d = 0; d < DIM; d++) {
        double v = y[i * DIM + d];
        y[i * DIM + d] += (v > 0 ? 1 : v < 0 ? -1 : 0) * c->eps * u[d];
      }
    }
    for (int i = 0; i < NN * DIM; i++) F[i] += y[i] / c->K;
    if (k == c->lstar) memcpy(C, y, sizeof y);
    memcpy(x, y, sizeof y);
  }
}

/* InfoNCE with cosine similarity over tau between rows `nodes` of F and C. */
static double ref_nce(const double *F, const double *C, const int *nodes, int n, double tau)
{
  double a[NN][DIM], b[NN][DIM], total = 0;
  for (int i = 0; i < n; i++) {
    double na = 0, nb = 0;
    for (int d = 0; d < DIM; d++) {
      na += F[nodes[i] * DIM + d] * F[nodes[i] * DIM + d];
      nb += C[nodes[i] * DIM + d] * C[nodes[i] * DIM + d];
    }
    na = fmax(sqrt(na), 1e-12);
    nb = fmax(sqrt(nb), 1e-12);
    for (int d = 0; d < DIM; d++) {
      a[i][d] = F[nodes[i] * DIM + d] / na;
      b[i][d] = C[nodes[i] * DIM + d] / nb;
    }
  }
  for (int i = 0; i < n; i++) {
    double s[NN], mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
      s[j] = 0;
      for (int d = 0; d < DIM; d++) s[j] += a[i][d] * b[j][d];
      s[j] /= tau;
      mx = fmax(mx, s[j]);
    }
    for (int j = 0; j < n; j++) sum += exp(s[j] - mx);
    total += mx + log(sum) - s[i];
  }
  return total / n;
}

/* The batch's users and anchor positives (first positive of a row), once. */
static int term_nodes(int *users, int *n_users, int *items)
{
  int nu = 0, ni = 0;
  for (int r = 0; r < B; r++) {
    bool seen = false;
    for (int j = 0; j < nu; j++) seen |= users[j] == bu[r];
    if (!seen) users[nu++] = bu[r];
    seen = false;
    for (int j = 0; j < ni; j++) seen |= items[j] == NU + bp[r * M];
    if (!seen) items[ni++] = NU + bp[r * M];
  }
  *n_users = nu;
  return ni;
}

/* The contrastive term: weight * (InfoNCE(users) + InfoNCE(items)). */
static double ref_term(const ref_cfg *c, const double *F, const double *C)
{
  int users[B], items[B], nu;
  int ni = term_nodes(users, &nu, items);
  return c->weight * (ref_nce(F, C, users, nu, c->tau) + ref_nce(F, C, items, ni, c->tau));
}

/* The objective: sum of w * batch embeddings (a linear stand-in for the
 * ranking loss) plus the contrastive term. */
static double ref_objective(const ref_cfg *c, const double *e0, const double *wu,
                            const double *wp, const double *wn, double *term)
{
  double F[NN * DIM], C[NN * DIM], l = 0;
  ref_forward(c, e0, F, C);
  for (int b = 0; b < B; b++)
    for (int d = 0; d < DIM; d++) l += wu[b * DIM + d] * F[bu[b] * DIM + d];
  for (int i = 0; i < B * M; i++)
    for (int d = 0; d < DIM; d++) l += wp[i * DIM + d] * F[(NU + bp[i]) * DIM + d];
  for (int i = 0; i < B * N; i++)
    for (int d = 0; d < DIM; d++) l += wn[i * DIM + d] * F[(NU + bn[i]) * DIM + d];
  *term = ref_term(c, F, C);
  return l + *term;
}

/* ---- helpers ------------------------------------------------------------ */

static vbpr_encoder *make(int K, int lstar, double eps, double tau, double weight)
{
  vbpr_dataset *ds = tiny_dataset();
  vbpr_encoder *enc = NULL;
  ck_assert_ok(vbpr_encoder_create_xsimgcl(ds, DIM, (size_t)K, 5, &enc));
  vbpr_dataset_destroy(ds);
  /* parameters of order 1, so that every term shows */
  ck_assert_ok(vbpr_encoder_init_params(enc, VBPR_INIT_NORMAL, 1.0, 3));
  ck_assert_ok(vbpr_encoder_set(enc, VBPR_ENCODER_CL_LAYER, lstar));
  ck_assert_ok(vbpr_encoder_set(enc, VBPR_ENCODER_NOISE_EPS, eps));
  ck_assert_ok(vbpr_encoder_set(enc, VBPR_ENCODER_CL_TAU, tau));
  ck_assert_ok(vbpr_encoder_set(enc, VBPR_ENCODER_CL_WEIGHT, weight));
  return enc;
}

static void params_double(vbpr_encoder *enc, double *e0)
{
  float *p;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &p, NULL, NULL, NULL));
  for (int i = 0; i < NN * DIM; i++) e0[i] = p[i]; /* the tables are one block */
}

typedef struct step_bufs {
  float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
  float wu[B * DIM], wp[B * M * DIM], wn[B * N * DIM];
  double wud[B * DIM], wpd[B * M * DIM], wnd[B * N * DIM];
} step_bufs;

/* ---- tests -------------------------------------------------------------- */

/* Forward, the term's value and the gradient of both, for several K and
 * l*, with noise and the term on. */
START_TEST(training_step_matches_reference)
{
  static const int configs[][2] = {{2, 1}, {3, 2}, {3, 3}, {1, 1}};
  for (size_t t = 0; t < sizeof configs / sizeof configs[0]; t++) {
    int K = configs[t][0], lstar = configs[t][1];
    vbpr_encoder *enc = make(K, lstar, 0.3, 0.5, 0.7);
    static step_bufs x;
    fill_values(x.wu, x.wud, B * DIM, 1);
    fill_values(x.wp, x.wpd, B * M * DIM, 2);
    fill_values(x.wn, x.wnd, B * N * DIM, 3);
    /* a step other than the first, so that the stream is exercised */
    ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, x.ue, x.pe, x.ne));
    ref_cfg c = {K, lstar, 0.3, 0.5, 0.7, vbpr__xsimgcl_step(enc), true, enc};
    ck_assert_uint_eq(c.step, 1);
    double e0[NN * DIM], F[NN * DIM], C[NN * DIM];
    params_double(enc, e0);
    ck_assert_ok(vbpr_encoder_zero_grad(enc));
    ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, x.ue, x.pe, x.ne));
    ref_forward(&c, e0, F, C);
    for (int b = 0; b < B; b++)
      for (int d = 0; d < DIM; d++)
        ck_assert_msg(fabs(x.ue[b * DIM + d] - F[bu[b] * DIM + d]) < 1e-5,
                      "K %d: user row %d", K, b);
    for (int i = 0; i < B * M; i++)
      for (int d = 0; d < DIM; d++)
        ck_assert_msg(fabs(x.pe[i * DIM + d] - F[(NU + bp[i]) * DIM + d]) < 1e-5,
                      "K %d: pos row %d", K, i);
    double v = -1;
    ck_assert_ok(vbpr_encoder_extra_loss(enc, &v));
    double want = ref_term(&c, F, C);
    ck_assert_msg(fabs(v - want) < 1e-5 * (1 + fabs(want)), "K %d: term %g, reference %g", K,
                  v, want);
    ck_assert_ok(vbpr_encoder_backward(enc, x.wu, x.wp, x.wn));

    /* central differences of the reference along a random direction */
    const float *g;
    ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, NULL, &g, NULL, NULL));
    float dirf[NN * DIM];
    double dir[NN * DIM], ep[NN * DIM], em[NN * DIM], tp, tm;
    fill_values(dirf, dir, NN * DIM, 9 + (uint32_t)t);
    const double h = 1e-6;
    for (int i = 0; i < NN * DIM; i++) ep[i] = e0[i] + h * dir[i], em[i] = e0[i] - h * dir[i];
    double fd = (ref_objective(&c, ep, x.wud, x.wpd, x.wnd, &tp) -
                 ref_objective(&c, em, x.wud, x.wpd, x.wnd, &tm)) / (2 * h);
    double fd_term = (tp - tm) / (2 * h), dot = 0;
    for (int i = 0; i < NN * DIM; i++) dot += (double)g[i] * dir[i];
    ck_assert_msg(fabs(fd_term) > 1e-2, "K %d: the term's gradient is negligible (%g)", K,
                  fd_term);
    ck_assert_msg(fabs(fd - dot) < 2e-5 * (1 + fabs(fd)), "K %d l* %d: backward %.9g, "
                  "differences %.9g", K, lstar, dot, fd);
    vbpr_encoder_destroy(enc);
  }
}
END_TEST

/* Evaluation has no noise and does not advance the stream; training
 * forwards draw new noise at every step; eps 0 is noise-free. */
START_TEST(noise_only_in_training)
{
  vbpr_encoder *enc = make(2, 1, 0.4, 0.2, 0.2);
  double e0[NN * DIM], F[NN * DIM], C[NN * DIM];
  params_double(enc, e0);
  ref_cfg c = {2, 1, 0.4, 0.2, 0.2, 0, false, enc};
  ref_forward(&c, e0, F, C);
  const float *users, *items;
  ck_assert_ok(vbpr_encoder_embeddings(enc, &users, &items));
  for (int i = 0; i < NU * DIM; i++) ck_assert(fabs(users[i] - F[i]) < 1e-6);
  for (int i = 0; i < NI * DIM; i++) ck_assert(fabs(items[i] - F[NU * DIM + i]) < 1e-6);
  ck_assert_uint_eq(vbpr__xsimgcl_step(enc), 0);

  static step_bufs a, b;
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, a.ue, a.pe, a.ne));
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, b.ue, b.pe, b.ne));
  ck_assert_uint_eq(vbpr__xsimgcl_step(enc), 2);
  ck_assert(memcmp(a.ue, b.ue, sizeof a.ue) != 0); /* new noise */
  /* the isolated user's layers are zero: sign(0) adds no noise */
  for (int d = 0; d < DIM; d++) ck_assert_float_eq(a.ue[2 * DIM + d], 0.0f);
  /* an evaluation in between replaces what the term reads */
  ck_assert_ok(vbpr_encoder_embeddings(enc, &users, &items));
  double v = 1;
  ck_assert_status(vbpr_encoder_extra_loss(enc, &v), VBPR_ERR_STATE);
  ck_assert(v == 0.0);

  ck_assert_ok(vbpr_encoder_set(enc, VBPR_ENCODER_NOISE_EPS, 0.0));
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, a.ue, a.pe, a.ne));
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, b.ue, b.pe, b.ne));
  ck_assert_int_eq(memcmp(a.ue, b.ue, sizeof a.ue), 0);
  for (int b2 = 0; b2 < B; b2++)
    for (int d = 0; d < DIM; d++) ck_assert(fabs(a.ue[b2 * DIM + d] - F[bu[b2] * DIM + d]) < 1e-6);
  vbpr_encoder_destroy(enc);
}
END_TEST

/* Weight 0 leaves the term out: value 0 and the batch gradient alone. */
START_TEST(zero_weight_adds_nothing)
{
  vbpr_encoder *a = make(2, 2, 0.0, 0.2, 0.0), *b = make(2, 2, 0.0, 0.2, 0.0);
  static step_bufs x;
  fill_values(x.wu, NULL, B * DIM, 1);
  fill_values(x.wp, NULL, B * M * DIM, 2);
  fill_values(x.wn, NULL, B * N * DIM, 3);
  double v = -1;
  ck_assert_ok(vbpr_encoder_forward(a, B, M, N, bu, bp, bn, x.ue, x.pe, x.ne));
  ck_assert_ok(vbpr_encoder_extra_loss(a, &v));
  ck_assert(v == 0.0);
  ck_assert_ok(vbpr_encoder_backward(a, x.wu, x.wp, x.wn));
  ck_assert_ok(vbpr_encoder_forward(b, B, M, N, bu, bp, bn, x.ue, x.pe, x.ne));
  ck_assert_ok(vbpr_encoder_backward(b, x.wu, x.wp, x.wn));
  const float *ga, *gb;
  ck_assert_ok(vbpr_encoder_table(a, VBPR_TABLE_USERS, NULL, &ga, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(b, VBPR_TABLE_USERS, NULL, &gb, NULL, NULL));
  ck_assert_int_eq(memcmp(ga, gb, NN * DIM * sizeof(float)), 0);
  vbpr_encoder_destroy(a);
  vbpr_encoder_destroy(b);
}
END_TEST

/* A graph big enough to be split over threads: the same bits with 1 and 2
 * threads (forward, term, gradient). */
START_TEST(results_do_not_depend_on_threads)
{
  vbpr_synthetic *syn;
  vbpr_dataset *train, *test;
  ck_assert_ok(vbpr_synthetic_create(&syn));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_NUM_USERS, 300));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_NUM_ITEMS, 400));
  ck_assert_ok(vbpr_synthetic_generate(syn, &train, &test));
  enum { D = 32, BB = 256 };
  static int32_t users[BB], pos[BB * 2], neg[BB];
  for (int i = 0; i < BB; i++) {
    users[i] = (int32_t)((i * 7) % 300);
    pos[2 * i] = (int32_t)((i * 13) % 400), pos[2 * i + 1] = (int32_t)((i * 17) % 400);
    neg[i] = (int32_t)((i * 29) % 400);
  }
  static float ue[2][BB * D], pe[2][BB * 2 * D], ne[2][BB * D], gu[BB * D], gp[BB * 2 * D],
      gn[BB * D];
  fill_values(gu, NULL, BB * D, 1);
  fill_values(gp, NULL, BB * 2 * D, 2);
  fill_values(gn, NULL, BB * D, 3);
  double v[2];
  const float *g[2];
  vbpr_encoder *enc[2];
  int threads = vbpr_get_num_threads();
  for (int t = 0; t < 2; t++) {
    ck_assert_ok(vbpr_set_num_threads(t + 1));
    ck_assert_ok(vbpr_encoder_create_xsimgcl(train, D, 3, 11, &enc[t]));
    ck_assert_ok(vbpr_encoder_forward(enc[t], BB, 2, 1, users, pos, neg, ue[t], pe[t], ne[t]));
    ck_assert_ok(vbpr_encoder_extra_loss(enc[t], &v[t]));
    ck_assert_ok(vbpr_encoder_backward(enc[t], gu, gp, gn));
    ck_assert_ok(vbpr_encoder_table(enc[t], VBPR_TABLE_USERS, NULL, &g[t], NULL, NULL));
  }
  ck_assert_ok(vbpr_set_num_threads(threads));
  size_t n = (vbpr_dataset_num_users(train) + vbpr_dataset_num_items(train)) * D;
  ck_assert_int_eq(memcmp(ue[0], ue[1], sizeof ue[0]), 0);
  ck_assert_int_eq(memcmp(pe[0], pe[1], sizeof pe[0]), 0);
  ck_assert(v[0] == v[1] && v[0] > 0);
  ck_assert_int_eq(memcmp(g[0], g[1], n * sizeof(float)), 0);
  vbpr_encoder_destroy(enc[0]);
  vbpr_encoder_destroy(enc[1]);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  vbpr_synthetic_destroy(syn);
}
END_TEST

#endif /* VBPR_HAVE_XSIMGCL */

START_TEST(parameters)
{
  vbpr_param_bounds b;
  ck_assert_ok(vbpr_encoder_param_bounds(VBPR_ENCODER_XSIMGCL, VBPR_ENCODER_NOISE_EPS, &b));
  ck_assert(b.def == 0.2 && b.min == 0 && b.flags == 0);
  ck_assert_ok(vbpr_encoder_param_bounds(VBPR_ENCODER_XSIMGCL, VBPR_ENCODER_CL_TAU, &b));
  ck_assert(b.def == 0.15 && b.min > 0);
  ck_assert_ok(vbpr_encoder_param_bounds(VBPR_ENCODER_XSIMGCL, VBPR_ENCODER_CL_WEIGHT, &b));
  ck_assert(b.def == 0.2);
  ck_assert_ok(vbpr_encoder_param_bounds(VBPR_ENCODER_XSIMGCL, VBPR_ENCODER_CL_LAYER, &b));
  ck_assert(b.def == 1 && b.min == 1 && b.max == VBPR_LIGHTGCN_MAX_LAYERS &&
            b.flags == VBPR_PARAM_INTEGRAL);
  ck_assert_status(vbpr_encoder_param_bounds(VBPR_ENCODER_MF, VBPR_ENCODER_CL_TAU, &b),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_str_eq(vbpr_last_error(),
                   "vbpr_encoder_param_bounds: cl_tau does not apply to a MF encoder");
  ck_assert_status(vbpr_encoder_param_bounds(VBPR_ENCODER_XSIMGCL, 99, &b),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_param_bounds(77, VBPR_ENCODER_CL_TAU, &b),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_str_eq(vbpr_encoder_param_name(VBPR_ENCODER_CL_LAYER), "cl_layer");
  ck_assert_ptr_null(vbpr_encoder_param_name(0));
  ck_assert_ptr_null(vbpr_encoder_param_name(99));
  vbpr_encoder_param p;
  ck_assert_ok(vbpr_encoder_param_from_name("CL-Tau", &p));
  ck_assert_int_eq(p, VBPR_ENCODER_CL_TAU);
  ck_assert_ok(vbpr_encoder_param_from_name("noise_eps", &p));
  ck_assert_int_eq(p, VBPR_ENCODER_NOISE_EPS);
  ck_assert_status(vbpr_encoder_param_from_name("eps", &p), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "known: noise_eps, cl_tau"));
  double v;
  ck_assert_ok(vbpr_encoder_param_parse(VBPR_ENCODER_CL_WEIGHT, "0.5", &v));
  ck_assert(v == 0.5);
  ck_assert_status(vbpr_encoder_param_parse(VBPR_ENCODER_CL_TAU, "0", &v),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_param_parse(VBPR_ENCODER_CL_LAYER, "1.5", &v),
                   VBPR_ERR_INVALID_ARGUMENT);
  if (!VBPR_HAVE_XSIMGCL) {
    vbpr_dataset *ds = tiny_dataset();
    vbpr_encoder *enc = (vbpr_encoder *)&enc;
    ck_assert_status(vbpr_encoder_create_xsimgcl(ds, DIM, 2, 1, &enc), VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_null(enc);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "'xsimgcl' module"));
    vbpr_dataset_destroy(ds);
    return;
  }
  vbpr_encoder *enc = NULL;
  vbpr_dataset *ds = tiny_dataset();
  ck_assert_ok(vbpr_encoder_create_xsimgcl(ds, DIM, 2, 5, &enc));
  vbpr_dataset_destroy(ds);
  ck_assert_ok(vbpr_encoder_get(enc, VBPR_ENCODER_CL_TAU, &v));
  ck_assert(v == 0.15);
  ck_assert_status(vbpr_encoder_set(enc, VBPR_ENCODER_CL_LAYER, 3), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_str_eq(vbpr_last_error(),
                   "vbpr_encoder_set: cl_layer must be at most the encoder's layers (2), got 3");
  ck_assert_status(vbpr_encoder_set(enc, VBPR_ENCODER_NOISE_EPS, NAN), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_set(enc, VBPR_ENCODER_CL_WEIGHT, -1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_encoder_get(enc, VBPR_ENCODER_CL_WEIGHT, &v));
  ck_assert(v == 0.2); /* unchanged by the failures */
  ck_assert_ok(vbpr_encoder_set(enc, VBPR_ENCODER_CL_LAYER, 2));
  ck_assert_status(vbpr_encoder_set(NULL, VBPR_ENCODER_CL_LAYER, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_get(enc, 0, &v), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_extra_loss(enc, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_extra_loss(enc, &v), VBPR_ERR_STATE); /* no forward */
  vbpr_encoder_destroy(enc);
  if (VBPR_HAVE_MF) {
    ck_assert_ok(vbpr_encoder_create_mf(NU, NI, DIM, 1, &enc));
    ck_assert_status(vbpr_encoder_set(enc, VBPR_ENCODER_NOISE_EPS, 0.1),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_str_eq(vbpr_last_error(),
                     "vbpr_encoder_set: noise_eps does not apply to a MF encoder");
    vbpr_encoder_destroy(enc);
  }
}
END_TEST

int main(void)
{
  Suite *s = suite_create("xsimgcl");
  TCase *tc = tcase_create("xsimgcl");
#if VBPR_HAVE_XSIMGCL
  tcase_add_test(tc, training_step_matches_reference);
  tcase_add_test(tc, noise_only_in_training);
  tcase_add_test(tc, zero_weight_adds_nothing);
  tcase_add_test(tc, results_do_not_depend_on_threads);
#endif
  tcase_add_test(tc, parameters);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
