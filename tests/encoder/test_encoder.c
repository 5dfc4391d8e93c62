/* Encoders: MF and LightGCN forward, backward (against finite differences
 * of a double-precision reference), gradients, touched rows, validation,
 * and the module switches. White-box only for allocation-failure injection. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "testutil.h"
#include "vbpr/vbpr.h"
#include "vbpr/dataset.h"
#include "vbpr/encoder.h"
#include "vbpr_config.h"

/* A tiny graph: user 4 and item 5 have no interactions. */
enum { NU = 5, NI = 6, NNZ = 10, DIM = 3 };
static const int32_t tu[NNZ] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 3};
static const int32_t ti[NNZ] = {0, 1, 3, 1, 2, 0, 2, 3, 4, 4};

static vbpr_dataset *tiny_dataset(void)
{
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_create(NU, NI, NNZ, tu, ti, NULL, NULL, &ds));
  return ds;
}

/* Creates an encoder of the given kind, or checks that the module is out
 * and returns NULL. */
static vbpr_encoder *make(int kind, size_t dim, int32_t layers, uint64_t seed)
{
  vbpr_encoder *enc = NULL;
  if (kind == VBPR_ENCODER_MF) {
    vbpr_status st = vbpr_encoder_create_mf(NU, NI, dim, seed, &enc);
    if (!VBPR_HAVE_MF) {
      ck_assert_int_eq(st, VBPR_ERR_UNSUPPORTED);
      return NULL;
    }
    ck_assert_msg(st == VBPR_OK, "%s", vbpr_last_error());
  } else {
    vbpr_dataset *ds = tiny_dataset();
    vbpr_status st = vbpr_encoder_create_lightgcn(ds, dim, layers, seed, &enc);
    vbpr_dataset_destroy(ds); /* the encoder keeps its own copy */
    if (!VBPR_HAVE_LIGHTGCN) {
      ck_assert_int_eq(st, VBPR_ERR_UNSUPPORTED);
      return NULL;
    }
    ck_assert_msg(st == VBPR_OK, "%s", vbpr_last_error());
  }
  return enc;
}

/* ---- double-precision LightGCN reference -------------------------------- */

enum { NN = NU + NI };

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

/* out[NN*dim] = mean of A^k e0, k = 0..K */
static void ref_lightgcn(const double *e0, int dim, int K, double *out)
{
  static double a[NN][NN];
  ref_adjacency(a);
  double *cur = malloc(sizeof(double) * NN * (size_t)dim);
  double *nxt = malloc(sizeof(double) * NN * (size_t)dim);
  memcpy(cur, e0, sizeof(double) * NN * (size_t)dim);
  for (int i = 0; i < NN * dim; i++) out[i] = e0[i];
  for (int k = 1; k <= K; k++) {
    for (int i = 0; i < NN; i++)
      for (int d = 0; d < dim; d++) {
        double s = 0;
        for (int j = 0; j < NN; j++) s += a[i][j] * cur[j * dim + d];
        nxt[i * dim + d] = s;
      }
    for (int i = 0; i < NN * dim; i++) out[i] += nxt[i];
    memcpy(cur, nxt, sizeof(double) * NN * (size_t)dim);
  }
  for (int i = 0; i < NN * dim; i++) out[i] /= (K + 1);
  free(cur);
  free(nxt);
}

/* A batch with repeated ids, touching the isolated user and item. */
enum { B = 4, M = 2, N = 3 };
static const int32_t bu[B] = {0, 2, 4, 0};
static const int32_t bp[B * M] = {0, 1, 2, 4, 5, 0, 3, 3};
static const int32_t bn[B * N] = {5, 2, 4, 1, 1, 3, 0, 2, 4, 5, 5, 1};

/* L = sum of w * (batch embeddings), the batch embeddings taken from the
 * node embeddings f[NN*dim]. Linear, so its gradient with respect to the
 * outputs is w itself. */
static double ref_loss(const double *f, const double *wu, const double *wp,
                       const double *wn, int dim)
{
  double l = 0;
  for (int b = 0; b < B; b++)
    for (int d = 0; d < dim; d++) l += wu[b * dim + d] * f[bu[b] * dim + d];
  for (int i = 0; i < B * M; i++)
    for (int d = 0; d < dim; d++) l += wp[i * dim + d] * f[(NU + bp[i]) * dim + d];
  for (int i = 0; i < B * N; i++)
    for (int d = 0; d < dim; d++) l += wn[i * dim + d] * f[(NU + bn[i]) * dim + d];
  return l;
}

static void params_double(vbpr_encoder *enc, double *e0)
{
  float *pu, *pi;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &pu, NULL, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, &pi, NULL, NULL, NULL));
  int dim = vbpr_encoder_dim(enc);
  for (int i = 0; i < NU * dim; i++) e0[i] = pu[i];
  for (int i = 0; i < NI * dim; i++) e0[NU * dim + i] = pi[i];
}

static void fill_weights(float *w, double *wd, int n, uint32_t seed)
{
  uint32_t s = seed * 2654435761u + 1;
  for (int i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    w[i] = (float)((double)(s >> 8) / (1 << 24) * 2.0 - 1.0);
    wd[i] = w[i];
  }
}

/* ---- construction and validation ---------------------------------------- */

START_TEST(constructors_validate)
{
  vbpr_encoder *enc = (vbpr_encoder *)&enc; /* must be reset to NULL */
  if (!VBPR_HAVE_MF) {
    ck_assert_status(vbpr_encoder_create_mf(10, 10, 8, 1, &enc), VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_null(enc);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "'mf' module"));
  } else {
    ck_assert_status(vbpr_encoder_create_mf(0, 10, 8, 1, &enc), VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(enc);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "vbpr_encoder_create_mf: num_users"));
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "got 0"));
    ck_assert_status(vbpr_encoder_create_mf(10, -3, 8, 1, &enc), VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "num_items"));
    ck_assert_status(vbpr_encoder_create_mf(10, 10, 0, 1, &enc), VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_status(vbpr_encoder_create_mf(10, 10, VBPR_ENCODER_MAX_DIM + 1, 1, &enc),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "dim"));
    ck_assert_status(vbpr_encoder_create_mf(INT32_MAX, INT32_MAX, 1, 1, &enc),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_status(vbpr_encoder_create_mf(1, 1, 1, 1, NULL), VBPR_ERR_INVALID_ARGUMENT);
  }
  vbpr_dataset *ds = tiny_dataset();
  if (!VBPR_HAVE_LIGHTGCN) {
    ck_assert_status(vbpr_encoder_create_lightgcn(ds, 8, 2, 1, &enc), VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "'lightgcn' module"));
  } else {
    ck_assert_status(vbpr_encoder_create_lightgcn(ds, 8, 0, 1, &enc),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "num_layers must be in [1, 64], got 0"));
    ck_assert_status(vbpr_encoder_create_lightgcn(ds, 8, VBPR_LIGHTGCN_MAX_LAYERS + 1, 1, &enc),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_status(vbpr_encoder_create_lightgcn(NULL, 8, 2, 1, &enc),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "ds must not be NULL"));
    ck_assert_ptr_null(enc);
  }
  vbpr_dataset_destroy(ds);
  vbpr_encoder_destroy(NULL);
  ck_assert_int_eq(vbpr_encoder_dim(NULL), 0);
  ck_assert_int_eq(vbpr_encoder_get_kind(NULL), 0);
  ck_assert_int_eq(vbpr_encoder_num_users(NULL), 0);
  ck_assert_int_eq(vbpr_encoder_num_items(NULL), 0);
  ck_assert_int_eq(vbpr_encoder_num_layers(NULL), 0);
}
END_TEST

START_TEST(modules_reported)
{
  ck_assert_int_eq(vbpr_has_module(VBPR_MODULE_MF), VBPR_HAVE_MF);
  ck_assert_int_eq(vbpr_has_module(VBPR_MODULE_LIGHTGCN), VBPR_HAVE_LIGHTGCN);
  ck_assert_int_eq(VBPR_ENCODER_MF, 1);
  ck_assert_int_eq(VBPR_ENCODER_LIGHTGCN, 2);
  ck_assert_int_eq(VBPR_INIT_NORMAL, 1);
  ck_assert_int_eq(VBPR_INIT_XAVIER_NORMAL, 2);
  ck_assert_int_eq(VBPR_TABLE_USERS, 0);
  ck_assert_int_eq(VBPR_TABLE_ITEMS, 1);
}
END_TEST

START_TEST(getters_report_shape)
{
  vbpr_encoder *enc = make(VBPR_ENCODER_MF, 7, 0, 1);
  if (enc) {
    ck_assert_int_eq(vbpr_encoder_get_kind(enc), VBPR_ENCODER_MF);
    ck_assert_int_eq(vbpr_encoder_num_users(enc), NU);
    ck_assert_int_eq(vbpr_encoder_num_items(enc), NI);
    ck_assert_int_eq(vbpr_encoder_dim(enc), 7);
    ck_assert_int_eq(vbpr_encoder_num_layers(enc), 0);
    float *p;
    const float *g;
    size_t rows, dim;
    ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, &p, &g, &rows, &dim));
    ck_assert_int_eq(rows, NI);
    ck_assert_int_eq(dim, 7);
    ck_assert_status(vbpr_encoder_table(enc, (vbpr_table)2, &p, &g, &rows, &dim),
                     VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "got 2"));
    vbpr_encoder_destroy(enc);
  }
  enc = make(VBPR_ENCODER_LIGHTGCN, 5, 3, 1);
  if (enc) {
    ck_assert_int_eq(vbpr_encoder_get_kind(enc), VBPR_ENCODER_LIGHTGCN);
    ck_assert_int_eq(vbpr_encoder_num_layers(enc), 3);
    ck_assert_int_eq(vbpr_encoder_dim(enc), 5);
    vbpr_encoder_destroy(enc);
  }
}
END_TEST

/* Statistics of a large table: mean 0 and the requested deviation. */
static void check_std(const float *p, size_t n, double want)
{
  double s = 0, s2 = 0;
  for (size_t i = 0; i < n; i++) {
    s += p[i];
    s2 += (double)p[i] * p[i];
  }
  double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
  ck_assert_msg(fabs(mean) < 4 * want / sqrt((double)n), "mean %g", mean);
  ck_assert_msg(fabs(sd / want - 1) < 0.02, "std %g, want %g", sd, want);
}

START_TEST(initialisation_distributions)
{
  if (!VBPR_HAVE_MF) return;
  vbpr_encoder *a, *b, *c;
  ck_assert_ok(vbpr_encoder_create_mf(3000, 1000, 32, 7, &a));
  ck_assert_ok(vbpr_encoder_create_mf(3000, 1000, 32, 7, &b));
  ck_assert_ok(vbpr_encoder_create_mf(3000, 1000, 32, 8, &c));
  float *pa, *pb, *pc, *ia;
  ck_assert_ok(vbpr_encoder_table(a, VBPR_TABLE_USERS, &pa, NULL, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(a, VBPR_TABLE_ITEMS, &ia, NULL, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(b, VBPR_TABLE_USERS, &pb, NULL, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(c, VBPR_TABLE_USERS, &pc, NULL, NULL, NULL));
  ck_assert_int_eq(memcmp(pa, pb, 3000 * 32 * sizeof(float)), 0);
  ck_assert_int_ne(memcmp(pa, pc, 3000 * 32 * sizeof(float)), 0);
  check_std(pa, 3000 * 32, 0.01); /* the reference code's default */
  check_std(ia, 1000 * 32, 0.01);
  ck_assert_msg(memcmp(pa, ia, 1000 * 32 * sizeof(float)) != 0, "tables share a stream");

  /* Xavier normal: std = gain * sqrt(2 / (rows + dim)) per table. */
  ck_assert_ok(vbpr_encoder_init_params(a, VBPR_INIT_XAVIER_NORMAL, 1.0, 3));
  check_std(pa, 3000 * 32, sqrt(2.0 / (3000 + 32)));
  check_std(ia, 1000 * 32, sqrt(2.0 / (1000 + 32)));
  ck_assert_ok(vbpr_encoder_init_params(a, VBPR_INIT_NORMAL, 0.5, 3));
  check_std(pa, 3000 * 32, 0.5);

  /* The values do not depend on the thread count. */
  ck_assert_ok(vbpr_set_num_threads(1));
  ck_assert_ok(vbpr_encoder_init_params(b, VBPR_INIT_NORMAL, 0.5, 3));
  ck_assert_ok(vbpr_set_num_threads(2));
  ck_assert_int_eq(memcmp(pa, pb, 3000 * 32 * sizeof(float)), 0);
  ck_assert_ok(vbpr_set_num_threads(0));

  ck_assert_status(vbpr_encoder_init_params(a, (vbpr_init)9, 1.0, 3), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_init_params(a, VBPR_INIT_NORMAL, NAN, 3),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "scale"));
  ck_assert_status(vbpr_encoder_init_params(a, VBPR_INIT_NORMAL, -1.0, 3),
                   VBPR_ERR_INVALID_ARGUMENT);
  vbpr_encoder_destroy(a);
  vbpr_encoder_destroy(b);
  vbpr_encoder_destroy(c);
}
END_TEST

/* ---- forward ----------------------------------------------------------- */

START_TEST(mf_forward_gathers_rows)
{
  vbpr_encoder *enc = make(VBPR_ENCODER_MF, DIM, 0, 3);
  if (!enc) return;
  float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, ue, pe, ne));
  float *pu, *pi;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &pu, NULL, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, &pi, NULL, NULL, NULL));
  for (int b = 0; b < B; b++)
    for (int d = 0; d < DIM; d++) ck_assert_float_eq(ue[b * DIM + d], pu[bu[b] * DIM + d]);
  for (int i = 0; i < B * M; i++)
    for (int d = 0; d < DIM; d++) ck_assert_float_eq(pe[i * DIM + d], pi[bp[i] * DIM + d]);
  for (int i = 0; i < B * N; i++)
    for (int d = 0; d < DIM; d++) ck_assert_float_eq(ne[i * DIM + d], pi[bn[i] * DIM + d]);
  const float *eu, *ei;
  ck_assert_ok(vbpr_encoder_embeddings(enc, &eu, &ei));
  ck_assert_ptr_eq(eu, pu); /* MF's final embeddings are its tables */
  ck_assert_ptr_eq(ei, pi);
  vbpr_encoder_destroy(enc);
}
END_TEST

static void forward_validation(int kind)
{
  vbpr_encoder *enc = make(kind, DIM, 2, 3);
  if (!enc) return;
  float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
  for (int i = 0; i < B * DIM; i++) ue[i] = -7.0f;
  int32_t badp[B * M];
  memcpy(badp, bp, sizeof badp);
  badp[5] = NI; /* first id past the end */
  ck_assert_status(vbpr_encoder_forward(enc, B, M, N, bu, badp, bn, ue, pe, ne),
                   VBPR_ERR_OUT_OF_RANGE);
  ck_assert_str_eq(vbpr_last_error(),
                   "vbpr_encoder_forward: pos[5] = 6 is out of range [0, 6)");
  for (int i = 0; i < B * DIM; i++) ck_assert_float_eq(ue[i], -7.0f); /* untouched */
  int32_t badu[B] = {0, -1, 0, 0};
  ck_assert_status(vbpr_encoder_forward(enc, B, M, N, badu, bp, bn, ue, pe, ne),
                   VBPR_ERR_OUT_OF_RANGE);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "users[1] = -1"));
  int32_t badn[B * N];
  memcpy(badn, bn, sizeof badn);
  badn[11] = INT32_MAX;
  ck_assert_status(vbpr_encoder_forward(enc, B, M, N, bu, bp, badn, ue, pe, ne),
                   VBPR_ERR_OUT_OF_RANGE);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "neg[11] = 2147483647"));
  ck_assert_status(vbpr_encoder_forward(enc, 0, M, N, bu, bp, bn, ue, pe, ne),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_forward(enc, B, M, N, NULL, bp, bn, ue, pe, ne),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "users must not be NULL"));
  ck_assert_status(vbpr_encoder_forward(enc, B, M, N, bu, NULL, bn, ue, pe, ne),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, ue, pe, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_forward(enc, SIZE_MAX / 2, 4, N, bu, bp, bn, ue, pe, ne),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "overflow"));
  /* Nothing recorded by the failed calls: backward has nothing to do. */
  ck_assert_status(vbpr_encoder_backward(enc, ue, pe, ne), VBPR_ERR_STATE);
  /* m = 0 and n = 0 with NULL arrays are fine (user embeddings only). */
  ck_assert_ok(vbpr_encoder_forward(enc, B, 0, 0, bu, NULL, NULL, ue, NULL, NULL));
  ck_assert_ok(vbpr_encoder_backward(enc, ue, NULL, NULL));
  vbpr_encoder_destroy(enc);
}

START_TEST(forward_validates_mf) { forward_validation(VBPR_ENCODER_MF); }
END_TEST

START_TEST(forward_validates_lightgcn) { forward_validation(VBPR_ENCODER_LIGHTGCN); }
END_TEST

/* ---- backward: MF ------------------------------------------------------ */

START_TEST(mf_backward_scatters_and_tracks_rows)
{
  vbpr_encoder *enc = make(VBPR_ENCODER_MF, DIM, 0, 3);
  if (!enc) return;
  float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
  float gu[B * DIM], gp[B * M * DIM], gn[B * N * DIM];
  double wu[B * DIM], wp[B * M * DIM], wn[B * N * DIM];
  fill_weights(gu, wu, B * DIM, 1);
  fill_weights(gp, wp, B * M * DIM, 2);
  fill_weights(gn, wn, B * N * DIM, 3);
  /* Two accumulated batches: the gradient doubles. */
  for (int rep = 0; rep < 2; rep++) {
    ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, ue, pe, ne));
    ck_assert_ok(vbpr_encoder_backward(enc, gu, gp, gn));
  }
  double want[NN * DIM] = {0};
  for (int b = 0; b < B; b++)
    for (int d = 0; d < DIM; d++) want[bu[b] * DIM + d] += 2 * wu[b * DIM + d];
  for (int i = 0; i < B * M; i++)
    for (int d = 0; d < DIM; d++) want[(NU + bp[i]) * DIM + d] += 2 * wp[i * DIM + d];
  for (int i = 0; i < B * N; i++)
    for (int d = 0; d < DIM; d++) want[(NU + bn[i]) * DIM + d] += 2 * wn[i * DIM + d];
  const float *g_u, *g_i;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, NULL, &g_u, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, NULL, &g_i, NULL, NULL));
  for (int i = 0; i < NU * DIM; i++) ck_assert_double_eq_tol(g_u[i], want[i], 1e-6);
  for (int i = 0; i < NI * DIM; i++) ck_assert_double_eq_tol(g_i[i], want[NU * DIM + i], 1e-6);

  /* Touched rows: each used id once; users 1 and 3 are not in the batch. */
  const int32_t *rows;
  size_t count;
  ck_assert_ok(vbpr_encoder_touched_rows(enc, VBPR_TABLE_USERS, &rows, &count));
  ck_assert_int_eq(count, 3);
  int seen[NI] = {0};
  for (size_t i = 0; i < count; i++) seen[rows[i]]++;
  ck_assert(seen[0] == 1 && seen[2] == 1 && seen[4] == 1 && seen[1] == 0 && seen[3] == 0);
  ck_assert_ok(vbpr_encoder_touched_rows(enc, VBPR_TABLE_ITEMS, &rows, &count));
  ck_assert_int_eq(count, NI); /* every item occurs */

  ck_assert_ok(vbpr_encoder_zero_grad(enc));
  for (int i = 0; i < NU * DIM; i++) ck_assert_float_eq(g_u[i], 0.0f);
  for (int i = 0; i < NI * DIM; i++) ck_assert_float_eq(g_i[i], 0.0f);
  ck_assert_ok(vbpr_encoder_touched_rows(enc, VBPR_TABLE_USERS, &rows, &count));
  ck_assert_int_eq(count, 0);
  ck_assert_ptr_nonnull(rows);
  vbpr_encoder_destroy(enc);
}
END_TEST

static void backward_state_and_numeric(int kind)
{
  vbpr_encoder *enc = make(kind, DIM, 2, 3);
  if (!enc) return;
  float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
  float gu[B * DIM], gp[B * M * DIM], gn[B * N * DIM];
  double w[B * N * DIM];
  fill_weights(gu, w, B * DIM, 1);
  fill_weights(gp, w, B * M * DIM, 2);
  fill_weights(gn, w, B * N * DIM, 3);
  ck_assert_status(vbpr_encoder_backward(enc, gu, gp, gn), VBPR_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "vbpr_encoder_backward: no forward"));
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, ue, pe, ne));
  gp[7] = NAN;
  ck_assert_status(vbpr_encoder_backward(enc, gu, gp, gn), VBPR_ERR_NUMERIC);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "grad_pos[7] = nan"));
  gp[7] = 0.5f;
  gn[0] = -INFINITY;
  ck_assert_status(vbpr_encoder_backward(enc, gu, gp, gn), VBPR_ERR_NUMERIC);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "grad_neg[0] = -inf"));
  const float *g_u, *g_i;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, NULL, &g_u, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, NULL, &g_i, NULL, NULL));
  for (int i = 0; i < NU * DIM; i++) ck_assert_float_eq(g_u[i], 0.0f); /* nothing added */
  for (int i = 0; i < NI * DIM; i++) ck_assert_float_eq(g_i[i], 0.0f);
  gn[0] = 1.0f;
  ck_assert_status(vbpr_encoder_backward(enc, gu, NULL, gn), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_encoder_backward(enc, gu, gp, gn)); /* the failures kept the forward */
  ck_assert_status(vbpr_encoder_backward(enc, gu, gp, gn), VBPR_ERR_STATE); /* consumed */
  vbpr_encoder_destroy(enc);
}

START_TEST(backward_state_mf) { backward_state_and_numeric(VBPR_ENCODER_MF); }
END_TEST

START_TEST(backward_state_lightgcn) { backward_state_and_numeric(VBPR_ENCODER_LIGHTGCN); }
END_TEST

/* ---- LightGCN against the double reference ------------------------------ */

START_TEST(lightgcn_forward_matches_reference)
{
  for (int K = 1; K <= 4; K++) {
    vbpr_encoder *enc = make(VBPR_ENCODER_LIGHTGCN, DIM, K, 11 + (uint64_t)K);
    if (!enc) return;
    double e0[NN * DIM], f[NN * DIM];
    params_double(enc, e0);
    ref_lightgcn(e0, DIM, K, f);
    float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
    ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, ue, pe, ne));
    for (int b = 0; b < B; b++)
      for (int d = 0; d < DIM; d++)
        ck_assert_double_eq_tol(ue[b * DIM + d], f[bu[b] * DIM + d], 1e-6);
    for (int i = 0; i < B * M; i++)
      for (int d = 0; d < DIM; d++)
        ck_assert_double_eq_tol(pe[i * DIM + d], f[(NU + bp[i]) * DIM + d], 1e-6);
    for (int i = 0; i < B * N; i++)
      for (int d = 0; d < DIM; d++)
        ck_assert_double_eq_tol(ne[i * DIM + d], f[(NU + bn[i]) * DIM + d], 1e-6);
    /* The isolated user 4 and item 5 keep E0 / (K + 1), with no NaN. */
    for (int d = 0; d < DIM; d++) {
      ck_assert_double_eq_tol(f[4 * DIM + d], e0[4 * DIM + d] / (K + 1), 1e-12);
      ck_assert_double_eq_tol(ue[2 * DIM + d], e0[4 * DIM + d] / (K + 1), 1e-6);
    }
    const float *eu, *ei;
    ck_assert_ok(vbpr_encoder_embeddings(enc, &eu, &ei));
    for (int i = 0; i < NU * DIM; i++) ck_assert_double_eq_tol(eu[i], f[i], 1e-6);
    for (int i = 0; i < NI * DIM; i++) ck_assert_double_eq_tol(ei[i], f[NU * DIM + i], 1e-6);
    vbpr_encoder_destroy(enc);
  }
}
END_TEST

START_TEST(lightgcn_backward_matches_finite_differences)
{
  for (int K = 1; K <= 3; K++) {
    vbpr_encoder *enc = make(VBPR_ENCODER_LIGHTGCN, DIM, K, 5);
    if (!enc) return;
    /* Larger parameters than the init, so that a dropped term shows. */
    ck_assert_ok(vbpr_encoder_init_params(enc, VBPR_INIT_NORMAL, 1.0, 17));
    float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
    float gu[B * DIM], gp[B * M * DIM], gn[B * N * DIM];
    double wu[B * DIM], wp[B * M * DIM], wn[B * N * DIM];
    fill_weights(gu, wu, B * DIM, 4);
    fill_weights(gp, wp, B * M * DIM, 5);
    fill_weights(gn, wn, B * N * DIM, 6);
    ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, ue, pe, ne));
    ck_assert_ok(vbpr_encoder_backward(enc, gu, gp, gn));
    const float *g_u, *g_i;
    ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, NULL, &g_u, NULL, NULL));
    ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, NULL, &g_i, NULL, NULL));

    double e0[NN * DIM], f[NN * DIM];
    params_double(enc, e0);
    const double h = 1e-4;
    double max_abs = 0;
    for (int k = 0; k < NN * DIM; k++) {
      double keep = e0[k];
      e0[k] = keep + h;
      ref_lightgcn(e0, DIM, K, f);
      double lp = ref_loss(f, wu, wp, wn, DIM);
      e0[k] = keep - h;
      ref_lightgcn(e0, DIM, K, f);
      double lm = ref_loss(f, wu, wp, wn, DIM);
      e0[k] = keep;
      double fd = (lp - lm) / (2 * h);
      double got = k < NU * DIM ? g_u[k] : g_i[k - NU * DIM];
      ck_assert_msg(isfinite(got), "gradient %d is not finite", k);
      ck_assert_msg(fabs(got - fd) < 1e-5 * (1 + fabs(fd)), "K=%d param %d: backward %g, FD %g",
                    K, k, got, fd);
      if (fabs(fd) > max_abs) max_abs = fabs(fd);
    }
    ck_assert_msg(max_abs > 0.1, "degenerate check: all gradients tiny");
    /* Every row counts as touched; zero_grad clears everything. */
    const int32_t *rows;
    size_t count;
    ck_assert_ok(vbpr_encoder_touched_rows(enc, VBPR_TABLE_ITEMS, &rows, &count));
    ck_assert_int_eq(count, NI);
    for (size_t i = 0; i < count; i++) ck_assert_int_eq(rows[i], i);
    ck_assert_ok(vbpr_encoder_zero_grad(enc));
    ck_assert_ok(vbpr_encoder_touched_rows(enc, VBPR_TABLE_ITEMS, &rows, &count));
    ck_assert_int_eq(count, 0);
    for (int i = 0; i < NI * DIM; i++) ck_assert_float_eq(g_i[i], 0.0f);
    vbpr_encoder_destroy(enc);
  }
}
END_TEST

START_TEST(lightgcn_without_interactions)
{
  if (!VBPR_HAVE_LIGHTGCN) return;
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(3, 4, 0, NULL, NULL, NULL, NULL, &ds));
  vbpr_encoder *enc;
  ck_assert_ok(vbpr_encoder_create_lightgcn(ds, 2, 2, 1, &enc));
  vbpr_dataset_destroy(ds);
  float *pu;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &pu, NULL, NULL, NULL));
  const float *eu;
  ck_assert_ok(vbpr_encoder_embeddings(enc, &eu, NULL));
  for (int i = 0; i < 3 * 2; i++) ck_assert_float_eq_tol(eu[i], pu[i] / 3.0f, 1e-7f);
  vbpr_encoder_destroy(enc);
}
END_TEST

/* A random graph big enough to be split over threads. */
static vbpr_encoder *random_lightgcn(int32_t nu, int32_t ni, int64_t nnz, size_t dim)
{
  int32_t *u = malloc(sizeof(int32_t) * (size_t)nnz), *i = malloc(sizeof(int32_t) * (size_t)nnz);
  uint64_t s = 12345;
  for (int64_t e = 0; e < nnz; e++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    u[e] = (int32_t)((s >> 33) % (uint64_t)(nu - 1)); /* the last user stays isolated */
    /* a skewed item popularity, as in real data */
    double x = (double)((s >> 11) & 0xfffff) / 0x100000;
    i[e] = (int32_t)(x * x * x * (ni - 1));
  }
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(nu, ni, nnz, u, i, NULL, NULL, &ds));
  free(u);
  free(i);
  vbpr_encoder *enc = NULL;
  vbpr_status st = vbpr_encoder_create_lightgcn(ds, dim, 3, 99, &enc);
  vbpr_dataset_destroy(ds);
  ck_assert_msg(st == VBPR_OK, "%s", vbpr_last_error());
  return enc;
}

START_TEST(lightgcn_results_do_not_depend_on_threads)
{
  if (!VBPR_HAVE_LIGHTGCN) return;
  enum { U = 3000, I = 2000, D = 16, BB = 64 };
  vbpr_encoder *enc = random_lightgcn(U, I, 60000, D);
  int32_t users[BB], pos[BB], neg[BB];
  for (int b = 0; b < BB; b++) {
    users[b] = (b * 37) % U;
    pos[b] = (b * 11) % I;
    neg[b] = (b * 101 + 7) % I;
  }
  static float ue[2][BB * D], pe[2][BB * D], ne[2][BB * D], g[BB * D];
  static float grads[2][(U + I) * D];
  for (int i = 0; i < BB * D; i++) g[i] = (float)((i % 13) - 6) / 7.0f;
  const int threads[2] = {1, 2};
  for (int r = 0; r < 2; r++) {
    ck_assert_ok(vbpr_set_num_threads(threads[r]));
    ck_assert_ok(vbpr_encoder_zero_grad(enc));
    ck_assert_ok(vbpr_encoder_forward(enc, BB, 1, 1, users, pos, neg, ue[r], pe[r], ne[r]));
    ck_assert_ok(vbpr_encoder_backward(enc, g, g, g));
    const float *gu;
    ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, NULL, &gu, NULL, NULL));
    memcpy(grads[r], gu, sizeof grads[r]); /* both tables are contiguous here */
  }
  ck_assert_ok(vbpr_set_num_threads(0));
  ck_assert_int_eq(memcmp(ue[0], ue[1], sizeof ue[0]), 0);
  ck_assert_int_eq(memcmp(pe[0], pe[1], sizeof pe[0]), 0);
  ck_assert_int_eq(memcmp(ne[0], ne[1], sizeof ne[0]), 0);
  ck_assert_int_eq(memcmp(grads[0], grads[1], sizeof grads[0]), 0);
  const float *eu;
  ck_assert_ok(vbpr_encoder_embeddings(enc, &eu, NULL));
  for (size_t i = 0; i < (size_t)U * D; i++) ck_assert(isfinite(eu[i]));
  vbpr_encoder_destroy(enc);
}
END_TEST

/* ---- allocation failures ------------------------------------------------ */

START_TEST(allocation_failures_are_clean)
{
  /* Fail the 1st, 2nd, ... allocation until a call succeeds: every failure
   * must be OUT_OF_MEMORY with *out NULL (ASan checks for leaks). */
  vbpr_dataset *ds = tiny_dataset();
  for (int kind = 1; kind <= 2; kind++) {
    if ((kind == 1 && !VBPR_HAVE_MF) || (kind == 2 && !VBPR_HAVE_LIGHTGCN)) continue;
    int failures = 0;
    for (long n = 1; n < 100; n++) {
      vbpr_encoder *enc = NULL;
      vbpr__fault_arm(n);
      vbpr_status st = kind == 1 ? vbpr_encoder_create_mf(NU, NI, DIM, 1, &enc)
                                 : vbpr_encoder_create_lightgcn(ds, DIM, 2, 1, &enc);
      vbpr__fault_arm(0);
      if (st == VBPR_OK) {
        /* The first forward allocates its workspaces: same drill. */
        float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
        for (long k = 1; k < 20; k++) {
          vbpr__fault_arm(k);
          st = vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, ue, pe, ne);
          vbpr__fault_arm(0);
          if (st == VBPR_OK) break;
          ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
          ck_assert_status(vbpr_encoder_backward(enc, ue, pe, ne), VBPR_ERR_STATE);
        }
        ck_assert_ok(st);
        /* After the first call, forward allocates nothing. */
        vbpr__fault_arm(1);
        st = vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, ue, pe, ne);
        ck_assert_int_eq(vbpr__fault_count(), 0);
        vbpr__fault_arm(0);
        ck_assert_ok(st);
        vbpr_encoder_destroy(enc);
        break;
      }
      ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
      ck_assert_ptr_null(enc);
      failures++;
    }
    ck_assert_int_ge(failures, 3);
  }
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(load_allocation_failure_keeps_encoder)
{
  vbpr_encoder *enc = make(VBPR_ENCODER_MF, DIM, 0, 1);
  if (!enc) enc = make(VBPR_ENCODER_LIGHTGCN, DIM, 2, 1);
  if (!enc) return;
  char dir[256];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/vbpr-enc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[512];
  test_path(path, sizeof path, dir, "m.vbpr");
  ck_assert_ok(vbpr_encoder_save(enc, path));
  ck_assert_ok(vbpr_encoder_init_params(enc, VBPR_INIT_NORMAL, 1.0, 77));
  float *pu;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &pu, NULL, NULL, NULL));
  float keep[NN * DIM];
  memcpy(keep, pu, sizeof keep);
  vbpr__fault_arm(1);
  vbpr_status st = vbpr_encoder_load(enc, path);
  vbpr__fault_arm(0);
  ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
  ck_assert_int_eq(memcmp(pu, keep, sizeof keep), 0);
  ck_assert_ok(vbpr_encoder_load(enc, path));
  ck_assert_int_ne(memcmp(pu, keep, sizeof keep), 0);
  unlink(path);
  rmdir(dir);
  vbpr_encoder_destroy(enc);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("encoder");
  TCase *tc = tcase_create("encoder");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, modules_reported);
  tcase_add_test(tc, constructors_validate);
  tcase_add_test(tc, getters_report_shape);
  tcase_add_test(tc, initialisation_distributions);
  tcase_add_test(tc, mf_forward_gathers_rows);
  tcase_add_test(tc, forward_validates_mf);
  tcase_add_test(tc, forward_validates_lightgcn);
  tcase_add_test(tc, mf_backward_scatters_and_tracks_rows);
  tcase_add_test(tc, backward_state_mf);
  tcase_add_test(tc, backward_state_lightgcn);
  tcase_add_test(tc, lightgcn_forward_matches_reference);
  tcase_add_test(tc, lightgcn_backward_matches_finite_differences);
  tcase_add_test(tc, lightgcn_without_interactions);
  tcase_add_test(tc, lightgcn_results_do_not_depend_on_threads);
  tcase_add_test(tc, allocation_failures_are_clean);
  tcase_add_test(tc, load_allocation_failure_keeps_encoder);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
