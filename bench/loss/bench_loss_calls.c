/* The loss called the way a per-sample host calls it: ns per row of the
 * fused forward+backward at batch 1, 8, 64 and 1024 (M 2, N 4, dim 64, the
 * default prototype estimator), over the same 1024 rows each time, against
 * an inline hand-written BPR forward+backward on the same rows (its first
 * positive and first negative: the step a per-sample BPR engine swaps for
 * the call) and against a batch-1 BPR-kind call (M = N = 1, the same work
 * as the inline code). Then batch-1 calls of each kind and of the
 * double-precision call.
 *
 * Usage: bench_loss_calls [runs] [wall]   (default 9; medians over runs;
 * every run times each configuration once, in turn, so ratios compare
 * figures taken side by side). On one thread, so that every configuration
 * does the same work per core; timed in CPU time (which other jobs on a
 * shared machine disturb least), or wall time with "wall". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "vbpr/error.h"
#include "vbpr/loss.h"
#include "vbpr/runtime.h"

enum { ROWS = 1024, DIM = 64, M = 2, N = 4, NCFG = 11 };

static float user[ROWS * DIM], pos[ROWS * M * DIM], neg[ROWS * N * DIM];
static float gu[ROWS * DIM], gp[ROWS * M * DIM], gn[ROWS * N * DIM];
static double user_d[ROWS * DIM], pos_d[ROWS * M * DIM], neg_d[ROWS * N * DIM];
static double gu_d[ROWS * DIM], gp_d[ROWS * M * DIM], gn_d[ROWS * N * DIM];

static void check(vbpr_status st, const char *what)
{
  if (st != VBPR_OK) {
    fprintf(stderr, "bench_loss_calls: %s failed: %s\n", what, vbpr_last_error());
    exit(1);
  }
}

static void fill(void)
{
  unsigned seed = 12345;
  float *arrs[3] = {user, pos, neg};
  size_t lens[3] = {ROWS * DIM, ROWS * M * DIM, ROWS * N * DIM};
  for (int a = 0; a < 3; a++)
    for (size_t i = 0; i < lens[a]; i++) {
      seed = seed * 1664525u + 1013904223u;
      arrs[a][i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.4f;
    }
  for (size_t i = 0; i < ROWS * DIM; i++) user_d[i] = user[i];
  for (size_t i = 0; i < ROWS * M * DIM; i++) pos_d[i] = pos[i];
  for (size_t i = 0; i < ROWS * N * DIM; i++) neg_d[i] = neg[i];
}

/* What a per-sample BPR engine writes inline: loss softplus(-x) of
 * x = <u, i - j> and its gradients, for row r's first positive and first
 * negative. */
static float inline_bpr(size_t r)
{
  const float *u = user + r * DIM, *i = pos + r * M * DIM, *j = neg + r * N * DIM;
  float *g_u = gu + r * DIM, *g_i = gp + r * M * DIM, *g_j = gn + r * N * DIM;
  float x = 0.0f;
  for (int k = 0; k < DIM; k++) x += u[k] * (i[k] - j[k]);
  float e = expf(-fabsf(x));
  float loss = (x > 0 ? 0.0f : -x) + log1pf(e);
  float d = -(x >= 0 ? e : 1.0f) / (1.0f + e); /* d loss / d x = -sigmoid(-x) */
  for (int k = 0; k < DIM; k++) {
    g_u[k] = d * (i[k] - j[k]);
    g_i[k] = d * u[k];
    g_j[k] = -d * u[k];
  }
  return loss;
}

/* The same inline BPR over all M x N (positive, negative) pairs of row r,
 * the usual way to feed a BPR engine tuples of M positives and N negatives
 * (the same data as the Variational call); gradients summed over the pairs
 * and divided by their number, as a mean. */
static float inline_bpr_pairs(size_t r)
{
  const float *u = user + r * DIM;
  float *g_u = gu + r * DIM, *g_p = gp + r * M * DIM, *g_n = gn + r * N * DIM;
  float loss = 0.0f, dp[M] = {0}, dn[N] = {0};
  const float w = 1.0f / (M * N);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      const float *i = pos + (r * M + (size_t)m) * DIM, *j = neg + (r * N + (size_t)n) * DIM;
      float x = 0.0f;
      for (int k = 0; k < DIM; k++) x += u[k] * (i[k] - j[k]);
      float e = expf(-fabsf(x));
      loss += w * ((x > 0 ? 0.0f : -x) + log1pf(e));
      float d = -w * (x >= 0 ? e : 1.0f) / (1.0f + e);
      dp[m] += d;
      dn[n] -= d;
    }
  for (int k = 0; k < DIM; k++) {
    float s = 0.0f;
    for (int m = 0; m < M; m++) s += dp[m] * pos[(r * M + (size_t)m) * DIM + (size_t)k];
    for (int n = 0; n < N; n++) s += dn[n] * neg[(r * N + (size_t)n) * DIM + (size_t)k];
    g_u[k] = s;
  }
  for (int m = 0; m < M; m++)
    for (int k = 0; k < DIM; k++) g_p[m * DIM + k] = dp[m] * u[k];
  for (int n = 0; n < N; n++)
    for (int k = 0; k < DIM; k++) g_n[n * DIM + k] = dn[n] * u[k];
  return loss;
}

typedef struct config {
  const char *name;
  vbpr_loss *loss;
  size_t batch; /* 0: the inline code */
  int f64;      /* 1: the f64 call; for the inline code, 1: all M x N pairs */
} config;

static int use_wall = 0;

static double clock_now(void) { return use_wall ? bench_seconds() : bench_cpu_seconds(); }

/* One pass over the 1024 rows in calls of cfg->batch rows; ns per row. */
static double pass(const config *c)
{
  size_t mm = c->loss ? M : 1, nn = c->loss ? N : 1;
  vbpr_loss_kind k = c->loss ? vbpr_loss_get_kind(c->loss) : VBPR_LOSS_BPR;
  if (k == VBPR_LOSS_BPR) mm = nn = 1;
  if (k == VBPR_LOSS_INFONCE) mm = 1;
  float l = 0;
  double ld = 0, t0 = clock_now();
  /* the tuples of a row keep the M 2, N 4 layout whatever the kind uses */
  for (size_t r = 0; r < ROWS; r += c->batch ? c->batch : 1) {
    if (c->batch == 0) {
      l += c->f64 ? inline_bpr_pairs(r) : inline_bpr(r);
    } else if (c->f64) {
      check(vbpr_loss_forward_backward_f64(c->loss, c->batch, DIM, user_d + r * DIM,
                                           pos_d + r * M * DIM, neg_d + r * N * DIM, NULL,
                                           NULL, 1.0, &ld, gu_d + r * DIM,
                                           gp_d + r * M * DIM, gn_d + r * N * DIM),
            "f64 call");
    } else if (mm == M && nn == N) {
      check(vbpr_loss_forward_backward(c->loss, c->batch, DIM, user + r * DIM,
                                       pos + r * M * DIM, neg + r * N * DIM, NULL, NULL,
                                       1.0f, &l, gu + r * DIM, gp + r * M * DIM,
                                       gn + r * N * DIM),
            "call");
    } else { /* batch 1 only: the row's first positives and negatives */
      check(vbpr_loss_forward_backward(c->loss, 1, DIM, user + r * DIM, pos + r * M * DIM,
                                       neg + r * N * DIM, NULL, NULL, 1.0f, &l,
                                       gu + r * DIM, gp + r * M * DIM, gn + r * N * DIM),
            "call");
    }
    __asm__ __volatile__("" : : "g"(gu), "g"(gp), "g"(gn), "g"(gu_d) : "memory");
  }
  double t = clock_now() - t0;
  (void)l, (void)ld;
  return 1e9 * t / ROWS;
}

/* Repeats passes for about 10 ms; ns per row. */
static double timed(const config *c)
{
  int reps = 0;
  double total = 0;
  while (total < 10e6 || reps < 3) {
    total += pass(c) * ROWS;
    reps++;
  }
  return total / ((double)reps * ROWS);
}

static vbpr_loss *make(vbpr_loss_kind kind, int estimator)
{
  vbpr_loss *l = NULL;
  check(vbpr_loss_create(kind, &l), "create");
  if (kind == VBPR_LOSS_VARIATIONAL) {
    check(vbpr_loss_set(l, VBPR_LOSS_NUM_POS, M), "M");
    check(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, N), "N");
    check(vbpr_loss_set(l, VBPR_LOSS_ESTIMATOR, estimator), "estimator");
  }
  if (kind == VBPR_LOSS_INFONCE) check(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, N), "N");
  return l;
}

int main(int argc, char **argv)
{
  int runs = argc > 1 ? atoi(argv[1]) : 9;
  if (runs < 1) runs = 1;
  if (runs > 64) runs = 64;
  use_wall = argc > 2 && strcmp(argv[2], "wall") == 0;
  check(vbpr_set_num_threads(1), "vbpr_set_num_threads");
  fill();
  vbpr_loss *vb = make(VBPR_LOSS_VARIATIONAL, VBPR_ESTIMATOR_PROTOTYPE);
  vbpr_loss *elbo = make(VBPR_LOSS_VARIATIONAL, VBPR_ESTIMATOR_ELBO);
  vbpr_loss *bpr = make(VBPR_LOSS_BPR, 0), *nce = make(VBPR_LOSS_INFONCE, 0);
  config cfg[NCFG] = {
    {"Variational, batch 1", vb, 1, 0},    {"Variational, batch 8", vb, 8, 0},
    {"Variational, batch 64", vb, 64, 0},  {"Variational, batch 1024", vb, 1024, 0},
    {"inline BPR, per row", NULL, 0, 0},   {"BPR kind, batch 1", bpr, 1, 0},
    {"Variational ELBO, batch 1", elbo, 1, 0}, {"InfoNCE (N 4), batch 1", nce, 1, 0},
    {"Variational f64, batch 1", vb, 1, 1}, {"Variational f64, batch 1024", vb, 1024, 1},
    {"inline BPR, all M x N pairs", NULL, 0, 1},
  };
  double t[NCFG][64];
  for (int c = 0; c < NCFG; c++) timed(&cfg[c]); /* warm-up: workspaces, caches */
  for (int r = 0; r < runs; r++)
    for (int c = 0; c < NCFG; c++) t[c][r] = timed(&cfg[c]);
  double med[NCFG], ratio_small[64], ratio_inline[64], ratio_bpr[64], ratio_pairs[64];
  for (int r = 0; r < runs; r++) {
    ratio_small[r] = t[0][r] / t[3][r];
    ratio_inline[r] = t[0][r] / t[4][r];
    ratio_bpr[r] = t[5][r] / t[4][r];
    ratio_pairs[r] = t[0][r] / t[10][r];
  }
  printf("loss calls, M %d N %d dim %d (prototype unless named), 1 thread, %s time, median "
         "of %d runs\n", M, N, DIM, use_wall ? "wall" : "CPU", runs);
  printf("%-30s %10s\n", "configuration", "ns/row");
  for (int c = 0; c < NCFG; c++) {
    med[c] = bench_median(t[c], runs);
    printf("%-30s %10.1f\n", cfg[c].name, med[c]);
  }
  printf("batch-1 / batch-1024 per row (target <= 2): %.2f\n", bench_median(ratio_small, runs));
  printf("batch-1 Variational call / inline BPR update (target <= 2): %.2f\n",
         bench_median(ratio_inline, runs));
  printf("batch-1 BPR-kind call / inline BPR update (same work): %.2f\n",
         bench_median(ratio_bpr, runs));
  printf("batch-1 Variational call / inline BPR over the row's M x N pairs (same data): "
         "%.2f\n", bench_median(ratio_pairs, runs));
  vbpr_loss_destroy(vb), vbpr_loss_destroy(elbo), vbpr_loss_destroy(bpr);
  vbpr_loss_destroy(nce);
  return 0;
}
