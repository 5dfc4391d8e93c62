/* The floor of a BPR epoch on this machine: the inline, hand-written
 * per-sample BPR SGD loop of the fastest engines (implicit's Cython loop,
 * LIBMF's update), timed on the same data as the library's fused path.
 * One epoch is as many samples as training interactions; each sample draws
 * an interaction (u, i) at random, a negative j uniformly among u's
 * non-positives (drawn again until it is one: exact negatives, as the
 * library's; implicit skips such a sample instead), and updates the three
 * rows in place in one pass. Hogwild over the threads, as implicit.
 *
 *   bench_floor [DATA_DIR] [RUNS] [ml100k|gowalla|all]
 *
 * Prints the median epoch time with 1 and 2 threads per data set (d 64 for
 * ml-100k, d 128 for Gowalla, as bench_train). It shares nothing with the
 * library but the data loader. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "vbpr/vbpr.h"

typedef struct floor_data {
  const int64_t *offsets;
  const int32_t *items;
  int32_t *owner; /* the user of each interaction */
  int64_t nnz;
  int32_t num_users, num_items, dim;
  float *U, *V;
  float lr, reg;
} floor_data;

typedef struct worker {
  floor_data *d;
  int64_t samples;
  uint64_t seed;
} worker;

static inline uint64_t next(uint64_t *s) /* splitmix64 */
{
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static inline int contains(const int32_t *p, int64_t n, int32_t x)
{
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (p[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && p[lo] == x;
}

static void *run(void *arg)
{
  worker *w = arg;
  floor_data *d = w->d;
  const int dim = d->dim;
  const float lr = d->lr, reg = d->reg;
  uint64_t s = w->seed;
  for (int64_t t = 0; t < w->samples; t++) {
    int64_t idx = (int64_t)(next(&s) % (uint64_t)d->nnz);
    int32_t u = d->owner[idx], i = d->items[idx], j;
    const int32_t *p = d->items + d->offsets[u];
    int64_t n = d->offsets[u + 1] - d->offsets[u];
    do j = (int32_t)(next(&s) % (uint64_t)d->num_items);
    while (contains(p, n, j));
    float *pu = d->U + (size_t)u * dim, *pi = d->V + (size_t)i * dim,
          *pj = d->V + (size_t)j * dim;
    float x = 0;
    for (int k = 0; k < dim; k++) x += pu[k] * (pi[k] - pj[k]);
    float z = 1.0f / (1.0f + expf(x));
    for (int k = 0; k < dim; k++) {
      float uk = pu[k];
      pu[k] += lr * (z * (pi[k] - pj[k]) - reg * uk);
      pi[k] += lr * (z * uk - reg * pi[k]);
      pj[k] += lr * (-z * uk - reg * pj[k]);
    }
  }
  return NULL;
}

static double epoch(floor_data *d, int threads, uint64_t seed, double *cpu)
{
  pthread_t tid[2];
  worker w[2];
  double t0 = bench_seconds(), c0 = bench_cpu_seconds();
  for (int t = 0; t < threads; t++) {
    w[t] = (worker){d, d->nnz / threads + (t < d->nnz % threads), seed * 31 + (uint64_t)t};
    if (t > 0) pthread_create(&tid[t], NULL, run, &w[t]);
  }
  run(&w[0]);
  for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
  *cpu = bench_cpu_seconds() - c0;
  return bench_seconds() - t0;
}

static void bench(const char *dir, const char *file, int dim, int runs)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  vbpr_dataset *ds;
  if (vbpr_dataset_load(path, NULL, &ds) != VBPR_OK) {
    fprintf(stderr, "bench_floor: %s\n", vbpr_last_error());
    exit(1);
  }
  floor_data d = {0};
  vbpr_dataset_csr(ds, &d.offsets, &d.items, NULL);
  d.nnz = (int64_t)vbpr_dataset_num_interactions(ds);
  d.num_users = (int32_t)vbpr_dataset_num_users(ds);
  d.num_items = (int32_t)vbpr_dataset_num_items(ds);
  d.dim = dim;
  d.lr = 0.05f, d.reg = 0.01f;
  d.owner = malloc((size_t)d.nnz * sizeof *d.owner);
  d.U = malloc((size_t)d.num_users * (size_t)dim * sizeof(float));
  d.V = malloc((size_t)d.num_items * (size_t)dim * sizeof(float));
  if (!d.owner || !d.U || !d.V) {
    fprintf(stderr, "bench_floor: out of memory\n");
    exit(1);
  }
  for (int32_t u = 0; u < d.num_users; u++)
    for (int64_t k = d.offsets[u]; k < d.offsets[u + 1]; k++) d.owner[k] = u;
  uint64_t s = 1;
  for (size_t k = 0; k < (size_t)d.num_users * (size_t)dim; k++)
    d.U[k] = 0.01f * (float)((double)(next(&s) >> 11) * 0x1.0p-53 - 0.5);
  for (size_t k = 0; k < (size_t)d.num_items * (size_t)dim; k++)
    d.V[k] = 0.01f * (float)((double)(next(&s) >> 11) * 0x1.0p-53 - 0.5);
  double t[2][64], c[2][64];
  epoch(&d, 1, 99, &c[0][0]); /* warm-up */
  for (int r = 0; r < runs; r++) /* the thread counts interleaved */
    for (int th = 1; th <= 2; th++) t[th - 1][r] = epoch(&d, th, (uint64_t)r, &c[th - 1][r]);
  double t1 = bench_median(t[0], runs), t2 = bench_median(t[1], runs);
  printf("%-22s d %3d  %10.1f ms %10.1f ms %8.2f   %10.1f ms\n", file, dim, 1e3 * t1,
         1e3 * t2, t1 / t2, 1e3 * bench_median(c[0], runs));
  free(d.owner), free(d.U), free(d.V);
  vbpr_dataset_destroy(ds);
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : getenv("VBPR_DATA_DIR");
  if (dir == NULL || *dir == '\0') dir = "../shared/data";
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  const char *which = argc > 3 ? argv[3] : "all";
  if (runs < 1) runs = 1;
  if (runs > 64) runs = 64;
  printf("floor: inline per-sample BPR SGD (exact negatives, Hogwild), median of %d "
         "epochs\n%-22s %5s  %13s %13s %8s   %13s\n", runs, "data", "", "1 thread",
         "2 threads", "1t/2t", "1 thread, CPU");
  if (strcmp(which, "gowalla") != 0) bench(dir, "ml-100k/train.tsv", 64, runs);
  if (strcmp(which, "ml100k") != 0) bench(dir, "gowalla/train.txt", 128, runs);
  return 0;
}
