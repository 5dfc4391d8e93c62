/*
 * Full-ranking evaluation time on Gowalla (LightGCN split) with random
 * d = 128 embeddings, next to the bare sgemm that produces the same scores
 * (every user with test items x every item, in the same user blocks, one
 * BLIS thread per block). Medians of several runs, at 1 and 2 threads.
 *
 * usage: bench_eval [data_dir [runs]]
 *   data_dir  folder holding gowalla/train.txt and gowalla/test.txt
 *             (default: $VBPR_DATA_DIR, else ../shared/data)
 *   runs      timed runs per configuration (default 3)
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "vbpr/vbpr.h"
#include "vbpr/dataset.h"
#include "vbpr/eval.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#endif
#include <blis.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#define DIM 128
#define MAX_RUNS 20

/* The evaluator's blocking (lib/eval/rank.c): a 4 Mi-float score budget per
 * thread, at most 256 users, at least 16 blocks, at least 8 users. */
static size_t eval_block_rows(size_t n_users, size_t num_items)
{
  size_t rows = ((size_t)1 << 22) / num_items;
  if (rows > 256) rows = 256;
  size_t spread = (n_users + 15) / 16;
  if (spread < 8) spread = 8;
  if (rows > spread) rows = spread;
  if (rows > n_users) rows = n_users;
  return rows < 1 ? 1 : rows;
}

/* ---- the bare sgemm baseline --------------------------------------------- */

typedef struct gemm_job {
  const float *users; /* gathered rows of the evaluated users */
  const float *items;
  size_t n_users, n_items, rows;
  size_t b0, b1; /* blocks of this thread */
  float *scores; /* rows x n_items */
  float sink;
} gemm_job;

static void *gemm_blocks(void *arg)
{
  gemm_job *j = arg;
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(1, &rntm);
  float one = 1.0f, zero = 0.0f;
  for (size_t b = j->b0; b < j->b1; b++) {
    size_t u0 = b * j->rows;
    size_t m = j->n_users - u0 < j->rows ? j->n_users - u0 : j->rows;
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, (dim_t)m, (dim_t)j->n_items, DIM, &one,
                 (float *)(j->users + u0 * DIM), DIM, 1, (float *)j->items, DIM, 1, &zero,
                 j->scores, (inc_t)j->n_items, 1, NULL, &rntm);
    j->sink += j->scores[m * j->n_items - 1]; /* keep the work observable */
  }
  return NULL;
}

static double time_sgemm(const float *users, const float *items, size_t n_users,
                         size_t n_items, int nt)
{
  size_t rows = eval_block_rows(n_users, n_items);
  size_t n_blocks = (n_users + rows - 1) / rows;
  gemm_job jobs[2];
  pthread_t tid[2];
  for (int t = 0; t < nt; t++) {
    jobs[t] = (gemm_job){users, items, n_users, n_items, rows,
                         n_blocks * (size_t)t / (size_t)nt,
                         n_blocks * (size_t)(t + 1) / (size_t)nt,
                         malloc(rows * n_items * sizeof(float)), 0.0f};
    if (jobs[t].scores == NULL) return -1.0;
  }
  double t0 = bench_seconds();
  for (int t = 1; t < nt; t++) pthread_create(&tid[t], NULL, gemm_blocks, &jobs[t]);
  gemm_blocks(&jobs[0]);
  for (int t = 1; t < nt; t++) pthread_join(tid[t], NULL);
  double dt = bench_seconds() - t0;
  for (int t = 0; t < nt; t++) free(jobs[t].scores);
  return dt;
}

/* ---- main ------------------------------------------------------------------ */

static float *random_table(size_t rows, uint64_t seed)
{
  float *t = malloc(rows * DIM * sizeof(float));
  if (t == NULL) return NULL;
  uint64_t s = seed;
  for (size_t i = 0; i < rows * DIM; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    t[i] = (float)((double)(s >> 40) / (double)(1 << 24) - 0.5) * 0.2f;
  }
  return t;
}

static int fail(const char *what)
{
  fprintf(stderr, "bench_eval: %s: %s\n", what, vbpr_last_error());
  return 1;
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : getenv("VBPR_DATA_DIR");
  if (dir == NULL || *dir == '\0') dir = "../shared/data";
  int runs = argc > 2 ? atoi(argv[2]) : 3;
  if (runs < 1 || runs > MAX_RUNS) runs = 3;
  char tr[4096], te[4096];
  snprintf(tr, sizeof tr, "%s/gowalla/train.txt", dir);
  snprintf(te, sizeof te, "%s/gowalla/test.txt", dir);

  vbpr_dataset *train = NULL, *test = NULL;
  if (vbpr_dataset_load_pair(tr, te, NULL, &train, &test) != VBPR_OK) return fail("load");
  int32_t nu = vbpr_dataset_num_users(train), ni = vbpr_dataset_num_items(train);
  float *ue = random_table((size_t)nu, 1), *ie = random_table((size_t)ni, 2);
  vbpr_evaluator *ev = NULL;
  if (ue == NULL || ie == NULL) return 1;
  if (vbpr_evaluator_create(train, test, &ev) != VBPR_OK) return fail("create");
  const size_t ks[] = {20};
  if (vbpr_evaluator_set_ks(ev, 1, ks) != VBPR_OK) return fail("set_ks");
  size_t n_eval = (size_t)vbpr_evaluator_num_users_evaluated(ev);

  /* The baseline multiplies the evaluated users' rows, gathered once. */
  float *gathered = malloc(n_eval * DIM * sizeof(float));
  if (gathered == NULL) return 1;
  const int64_t *off = NULL;
  if (vbpr_dataset_csr(test, &off, NULL, NULL) != VBPR_OK) return fail("csr");
  for (int32_t u = 0, e = 0; (size_t)u < vbpr_dataset_num_users(test); u++)
    if (off[u + 1] > off[u]) memcpy(gathered + (size_t)e++ * DIM, ue + (size_t)u * DIM, DIM * sizeof(float));

  printf("gowalla: %zu users evaluated x %d items, d = %d, K = 20, blocks of %zu users, "
         "%d runs (medians)\n",
         n_eval, (int)ni, DIM, eval_block_rows(n_eval, (size_t)ni), runs);
  printf("%-8s %14s %14s %8s %12s\n", "threads", "eval_s", "sgemm_s", "ratio", "recall@20");
  for (int nt = 1; nt <= 2; nt++) {
    double te_s[MAX_RUNS], tg_s[MAX_RUNS], recall = 0;
    if (vbpr_set_num_threads(nt) != VBPR_OK) return fail("threads");
    if (vbpr_evaluator_run(ev, nu, ni, DIM, ue, ie) != VBPR_OK) return fail("warm-up run");
    for (int r = 0; r < runs; r++) {
      double t0 = bench_seconds();
      if (vbpr_evaluator_run(ev, nu, ni, DIM, ue, ie) != VBPR_OK) return fail("run");
      te_s[r] = bench_seconds() - t0;
      tg_s[r] = time_sgemm(gathered, ie, n_eval, (size_t)ni, nt);
      if (tg_s[r] < 0) return 1;
    }
    if (vbpr_evaluator_metric(ev, VBPR_METRIC_RECALL, 20, &recall) != VBPR_OK) return fail("metric");
    double me = bench_median(te_s, runs), mg = bench_median(tg_s, runs);
    printf("%-8d %14.3f %14.3f %8.2f %12.5f\n", nt, me, mg, me / mg, recall);
  }
  free(gathered);
  free(ue);
  free(ie);
  vbpr_evaluator_destroy(ev);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  return 0;
}
