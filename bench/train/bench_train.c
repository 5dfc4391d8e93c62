/* Training speed: epoch times of the trainer on the shared data sets.
 *
 *   bench_train [DATA_DIR] [RUNS] [which]
 *
 * which: ml100k (default: all), gowalla, lightgcn, or ml100k-fused,
 * gowalla-fused (the fused path: per tuple, in place, row-wise Adagrad),
 * fused (both). DATA_DIR defaults to
 * $VBPR_DATA_DIR, else ../shared/data. Prints the median epoch time of RUNS
 * epochs (after one warm-up epoch) per configuration and thread count, and
 * the ratios the project tracks: Variational/BPR epoch time against the
 * paper's linear-cost bound (1 + M + N) / 3, and 1-thread/2-thread. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "vbpr/vbpr.h"

static void die(const char *what)
{
  fprintf(stderr, "bench_train: %s: %s\n", what, vbpr_last_error());
  exit(1);
}

typedef struct cfg {
  const char *name;
  int encoder, layers, dim, loss, m, n, optim, batch;
  double c;
  int fused;
} cfg;

/* Median seconds per epoch of `runs` epochs after a warm-up epoch; *cpu gets
 * the median CPU time of the process per epoch, all threads together (with
 * one thread, what other jobs on a shared machine disturb least; with two,
 * the work the second thread adds: contention, waiting). */
static double epoch_time(const vbpr_dataset *train, const cfg *c, int threads, int runs,
                         double *cpu)
{
  if (vbpr_set_num_threads(threads) != VBPR_OK) die("threads");
  vbpr_trainer *tr;
  if (vbpr_trainer_create(train, NULL, &tr) != VBPR_OK) die("trainer");
  struct { vbpr_trainer_param p; double v; } set[] = {
    {VBPR_TRAINER_ENCODER, c->encoder}, {VBPR_TRAINER_LAYERS, c->layers},
    {VBPR_TRAINER_DIM, c->dim}, {VBPR_TRAINER_LOSS, c->loss},
    {VBPR_TRAINER_OPTIMIZER, c->optim},
  };
  for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
    if (vbpr_trainer_set(tr, set[i].p, set[i].v) != VBPR_OK) die("set");
  /* only when on: the batched configurations also time older builds of the
   * library (LD_LIBRARY_PATH), which have no such parameter */
  if (c->fused && vbpr_trainer_set(tr, VBPR_TRAINER_FUSED, 1) != VBPR_OK) die("fused");
  if (vbpr_trainer_prepare(tr) != VBPR_OK) die("prepare");
  vbpr_loss *loss = vbpr_trainer_loss(tr);
  if (c->loss == VBPR_LOSS_VARIATIONAL &&
      (vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, c->m) != VBPR_OK ||
       vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, c->n) != VBPR_OK ||
       vbpr_loss_set(loss, VBPR_LOSS_C_POS, c->c) != VBPR_OK ||
       vbpr_loss_set(loss, VBPR_LOSS_C_NEG, c->c) != VBPR_OK))
    die("loss");
  if (vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, c->batch) != VBPR_OK)
    die("batch");
  double t[64], ct[64];
  if (runs > 64) runs = 64;
  for (int r = -1; r < runs; r++) {
    double t0 = bench_seconds(), c0 = bench_cpu_seconds();
    if (vbpr_trainer_epoch(tr, NULL) != VBPR_OK) die("epoch");
    if (r >= 0) t[r] = bench_seconds() - t0, ct[r] = bench_cpu_seconds() - c0;
  }
  vbpr_trainer_destroy(tr);
  *cpu = bench_median(ct, runs);
  return bench_median(t, runs);
}

static vbpr_dataset *load(const char *dir, const char *file)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  vbpr_dataset *ds;
  if (vbpr_dataset_load(path, NULL, &ds) != VBPR_OK) die(path);
  return ds;
}

static void pair(const char *label, const vbpr_dataset *train, const cfg *bpr, const cfg *vb,
                 int runs)
{
  printf("\n%s (%lld interactions)\n", label, (long long)vbpr_dataset_num_interactions(train));
  printf("  %-38s %12s %12s %8s %14s %14s\n", "configuration", "1 thread", "2 threads",
         "1t/2t", "CPU, 1 thread", "CPU, 2 threads");
  double t[2][2], cpu[2][2];
  const cfg *cs[2] = {bpr, vb};
  for (int i = 0; i < 2; i++) {
    for (int th = 0; th < 2; th++) t[i][th] = epoch_time(train, cs[i], th + 1, runs, &cpu[i][th]);
    printf("  %-38s %10.1f ms %10.1f ms %8.2f %11.1f ms %11.1f ms\n", cs[i]->name,
           1e3 * t[i][0], 1e3 * t[i][1], t[i][0] / t[i][1], 1e3 * cpu[i][0], 1e3 * cpu[i][1]);
  }
  double bound = (1.0 + vb->m + vb->n) / 3.0;
  for (int th = 0; th < 2; th++)
    printf("  Variational/BPR epoch time, %d thread%s: %.2f (linear-cost bound (1+M+N)/3 = %.2f): %s\n",
           th + 1, th ? "s" : "", t[1][th] / t[0][th], bound,
           t[1][th] / t[0][th] <= bound ? "within" : "ABOVE");
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : getenv("VBPR_DATA_DIR");
  if (dir == NULL || *dir == '\0') dir = "../shared/data";
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  const char *which = argc > 3 ? argv[3] : "all";
  if (runs < 1) runs = 1;
  printf("libvbpr %s, median of %d epochs after one warm-up\n", vbpr_version_string(), runs);
  bool all = strcmp(which, "all") == 0;
  if (all || strcmp(which, "ml100k") == 0) {
    vbpr_dataset *ml = load(dir, "ml-100k/train.tsv");
    cfg bpr = {"MF d64 BPR (adam)", VBPR_ENCODER_MF, 1, 64, VBPR_LOSS_BPR, 1, 1, VBPR_OPTIM_ADAM, 1024, 4, 0};
    cfg vb = {"MF d64 VBPR M2 N4 (adam)", VBPR_ENCODER_MF, 1, 64, VBPR_LOSS_VARIATIONAL, 2, 4, VBPR_OPTIM_ADAM, 1024, 4, 0};
    pair("ml-100k train", ml, &bpr, &vb, runs);
    vbpr_dataset_destroy(ml);
  }
  if (all || strcmp(which, "gowalla") == 0 || strcmp(which, "lightgcn") == 0) {
    vbpr_dataset *gw = load(dir, "gowalla/train.txt");
    if (all || strcmp(which, "gowalla") == 0) {
      cfg bpr = {"MF d128 BPR (lazy adam)", VBPR_ENCODER_MF, 1, 128, VBPR_LOSS_BPR, 1, 1, VBPR_OPTIM_LAZY_ADAM, 2048, 8, 0};
      cfg vb = {"MF d128 VBPR M2 N16 (lazy adam)", VBPR_ENCODER_MF, 1, 128, VBPR_LOSS_VARIATIONAL, 2, 16, VBPR_OPTIM_LAZY_ADAM, 2048, 8, 0};
      pair("gowalla train", gw, &bpr, &vb, runs);
    }
    if (all || strcmp(which, "lightgcn") == 0) {
      cfg bpr = {"LightGCN K1 d128 BPR (adam)", VBPR_ENCODER_LIGHTGCN, 1, 128, VBPR_LOSS_BPR, 1, 1, VBPR_OPTIM_ADAM, 2048, 8, 0};
      cfg vb = {"LightGCN K1 d128 VBPR M2 N16", VBPR_ENCODER_LIGHTGCN, 1, 128, VBPR_LOSS_VARIATIONAL, 2, 16, VBPR_OPTIM_ADAM, 2048, 8, 0};
      int lr = runs > 3 ? 3 : runs;
      pair("gowalla train, LightGCN", gw, &bpr, &vb, lr);
    }
    vbpr_dataset_destroy(gw);
  }
  bool fused = strcmp(which, "fused") == 0;
  if (fused || strcmp(which, "ml100k-fused") == 0) {
    vbpr_dataset *ml = load(dir, "ml-100k/train.tsv");
    cfg bpr = {"MF d64 BPR, fused (adagrad)", VBPR_ENCODER_MF, 1, 64, VBPR_LOSS_BPR, 1, 1, VBPR_OPTIM_ADAGRAD, 1024, 4, 1};
    cfg vb = {"MF d64 VBPR M2 N4, fused (adagrad)", VBPR_ENCODER_MF, 1, 64, VBPR_LOSS_VARIATIONAL, 2, 4, VBPR_OPTIM_ADAGRAD, 1024, 4, 1};
    pair("ml-100k train, fused path", ml, &bpr, &vb, runs);
    vbpr_dataset_destroy(ml);
  }
  if (fused || strcmp(which, "gowalla-fused") == 0) {
    vbpr_dataset *gw = load(dir, "gowalla/train.txt");
    cfg bpr = {"MF d128 BPR, fused (adagrad)", VBPR_ENCODER_MF, 1, 128, VBPR_LOSS_BPR, 1, 1, VBPR_OPTIM_ADAGRAD, 2048, 8, 1};
    cfg vb = {"MF d128 VBPR M2 N16, fused (adagrad)", VBPR_ENCODER_MF, 1, 128, VBPR_LOSS_VARIATIONAL, 2, 16, VBPR_OPTIM_ADAGRAD, 2048, 8, 1};
    pair("gowalla train, fused path", gw, &bpr, &vb, runs);
    vbpr_dataset_destroy(gw);
  }
  return 0;
}
