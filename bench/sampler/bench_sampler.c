/* Sampler throughput on the Gowalla training set: tuples per second for
 * Variational BPR sampling (M 2, N 16) and plain BPR sampling (M 1, N 1),
 * on one and two threads, with uniform and popularity-weighted negatives.
 *
 * Usage: bench_sampler [data_dir] [runs] [rows]   (data_dir defaults to
 * $VBPR_DATA_DIR; 5 runs of 400000 rows, batches of 4096; medians).
 *        bench_sampler data_dir epoch [runs]   whole epochs of the uniform
 * sampler on one thread, batches of 2048, in CPU ns per tuple (what other
 * jobs on a shared machine disturb least): ml-100k M 2 N 4, Gowalla M 1 N 1
 * and M 2 N 16, the median of runs (default 3) after a warm-up epoch. Uses
 * the public API only, so the same program times another build of the
 * library (LD_LIBRARY_PATH). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "vbpr/dataset.h"
#include "vbpr/error.h"
#include "vbpr/runtime.h"
#include "vbpr/sampler.h"

enum { BATCH = 4096 };

static int fail(const char *what)
{
  fprintf(stderr, "bench_sampler: %s: %s\n", what, vbpr_last_error());
  return 1;
}

/* Median tuples per second over runs of `rows` rows each. */
static int measure(vbpr_sampler *s, int M, int N, int runs, long rows, double *out)
{
  int32_t *u = malloc(BATCH * sizeof *u), *p = malloc((size_t)BATCH * M * sizeof *p),
          *n = malloc((size_t)BATCH * N * sizeof *n);
  double *rate = malloc((size_t)runs * sizeof *rate);
  int rc = 0;
  for (int r = 0; r < runs && rc == 0; r++) {
    long done = 0;
    double t0 = bench_seconds();
    while (done < rows) {
      size_t got;
      if (vbpr_sampler_next(s, u, p, n, &got) != VBPR_OK) {
        rc = fail("next");
        break;
      }
      done += (long)got;
    }
    rate[r] = (double)done / (bench_seconds() - t0);
  }
  if (rc == 0) *out = bench_median(rate, runs);
  free(u);
  free(p);
  free(n);
  free(rate);
  return rc;
}

/* CPU ns per tuple of whole epochs of a uniform sampler (see the usage). */
static int epochs(const char *dir, const char *file, int M, int N, int runs)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  vbpr_dataset *ds;
  vbpr_sampler *s;
  if (vbpr_dataset_load(path, NULL, &ds) != VBPR_OK) return fail("load");
  if (vbpr_set_num_threads(1) != VBPR_OK || vbpr_sampler_create(ds, &s) != VBPR_OK ||
      vbpr_sampler_set(s, VBPR_SAMPLER_BATCH_SIZE, 2048) != VBPR_OK ||
      vbpr_sampler_set(s, VBPR_SAMPLER_NUM_POS, M) != VBPR_OK ||
      vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, N) != VBPR_OK)
    return fail("sampler");
  int32_t *u = malloc(2048 * sizeof *u), *p = malloc((size_t)2048 * M * sizeof *p),
          *n = malloc((size_t)2048 * N * sizeof *n);
  double t[64];
  if (runs > 64) runs = 64;
  for (int r = -1; r < runs; r++) {
    size_t got, total = 0;
    double c0 = bench_cpu_seconds();
    do {
      if (vbpr_sampler_next(s, u, p, n, &got) != VBPR_OK) return fail("next");
      total += got;
    } while (got > 0);
    if (r >= 0) t[r] = 1e9 * (bench_cpu_seconds() - c0) / (double)total;
  }
  printf("%-22s M %d N %2d: %6.1f ns/tuple (CPU, 1 thread)\n", file, M, N,
         bench_median(t, runs));
  free(u), free(p), free(n);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc > 2 && strcmp(argv[2], "epoch") == 0) {
    int runs = argc > 3 ? atoi(argv[3]) : 3;
    if (runs < 1) runs = 1;
    return epochs(argv[1], "ml-100k/train.tsv", 2, 4, runs) ||
           epochs(argv[1], "gowalla/train.txt", 1, 1, runs) ||
           epochs(argv[1], "gowalla/train.txt", 2, 16, runs);
  }
  const char *dir = argc > 1 ? argv[1] : getenv("VBPR_DATA_DIR");
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  long rows = argc > 3 ? atol(argv[3]) : 400000;
  if (dir == NULL || runs < 1 || rows < 1) {
    fprintf(stderr, "usage: bench_sampler [data_dir] [runs] [rows]  (or set VBPR_DATA_DIR)\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/gowalla/train.txt", dir);
  vbpr_dataset *ds;
  if (vbpr_dataset_load(path, NULL, &ds) != VBPR_OK) return fail("load");
  printf("gowalla train: %zu users, %zu items, %lld interactions; batches of %d, %ld rows x %d "
         "runs (medians)\n",
         vbpr_dataset_num_users(ds), vbpr_dataset_num_items(ds),
         (long long)vbpr_dataset_num_interactions(ds), BATCH, rows, runs);
  const int shapes[2][2] = {{2, 16}, {1, 1}};
  const double pops[2] = {0.0, 0.75};
  int rc = 0;
  for (int k = 0; k < 2 && rc == 0; k++)
    for (int q = 0; q < 2 && rc == 0; q++) {
      double rate[2] = {0, 0};
      for (int t = 1; t <= 2 && rc == 0; t++) {
        vbpr_sampler *s;
        if (vbpr_set_num_threads(t) != VBPR_OK || vbpr_sampler_create(ds, &s) != VBPR_OK)
          return fail("create");
        if (vbpr_sampler_set(s, VBPR_SAMPLER_BATCH_SIZE, BATCH) != VBPR_OK ||
            vbpr_sampler_set(s, VBPR_SAMPLER_NUM_POS, shapes[k][0]) != VBPR_OK ||
            vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, shapes[k][1]) != VBPR_OK ||
            vbpr_sampler_set(s, VBPR_SAMPLER_NEG_POP_EXPONENT, pops[q]) != VBPR_OK)
          rc = fail("set");
        if (rc == 0) rc = measure(s, shapes[k][0], shapes[k][1], runs, rows, &rate[t - 1]);
        vbpr_sampler_destroy(s);
      }
      if (rc == 0)
        printf("M %d N %2d %-14s 1 thread %6.2f M tuples/s | 2 threads %6.2f M tuples/s | "
               "speed-up %.2f\n",
               shapes[k][0], shapes[k][1], pops[q] > 0 ? "pop^0.75 neg" : "uniform neg",
               rate[0] / 1e6, rate[1] / 1e6, rate[1] / rate[0]);
    }
  vbpr_dataset_destroy(ds);
  return rc;
}
