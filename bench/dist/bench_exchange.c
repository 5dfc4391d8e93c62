/* What data-parallel training exchanges per batch, and the work every rank
 * repeats: Gowalla MF, d 128, M 2, N 16, batch 2048 (doc/scaling.md).
 *
 *   bench_exchange [DATA_DIR] [BATCHES] [BATCH_SIZE]
 *
 * For W = 1, 2, 4, ..., 64 ranks it draws BATCHES global batches (default
 * 40) of BATCH_SIZE rows (default 2048) with the sampler sharded W ways and counts what the trainer's
 * exchange (lib/train/collective.c) sends: the all-gather of each rank's
 * touched row ids (padded to the longest list) and the all-reduce of the
 * union's gradient rows. It also times, on one thread, the two parts of a
 * step: the per-row work a rank does for its share (sampling, gathering,
 * loss, scattering: measured on the whole batch and divided by W) and the
 * lazy Adam update of the union's rows, which every rank repeats. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "vbpr/vbpr.h"

#define MAX_B 65536
#define M 2
#define N 16
#define DIM 128

static int B = 2048;

static void die(const char *what)
{
  fprintf(stderr, "bench_exchange: %s: %s\n", what, vbpr_last_error());
  exit(1);
}

/* Distinct ids among ids[0..n) (mark is all 0 before and after). */
static size_t distinct(const int32_t *ids, size_t n, unsigned char *mark)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += !mark[ids[i]], mark[ids[i]] = 1;
  for (size_t i = 0; i < n; i++) mark[ids[i]] = 0;
  return k;
}

typedef struct counts {
  double users, items;             /* union per global batch */
  double long_users, long_items;   /* longest rank's list */
} counts;

static counts count_batches(const vbpr_dataset *ds, size_t w, int batches,
                            unsigned char *mark)
{
  vbpr_sampler *s[64];
  for (size_t r = 0; r < w; r++) {
    if (vbpr_sampler_create(ds, &s[r]) != VBPR_OK) die("sampler");
    vbpr_sampler_set(s[r], VBPR_SAMPLER_BATCH_SIZE, B);
    vbpr_sampler_set(s[r], VBPR_SAMPLER_NUM_POS, M);
    vbpr_sampler_set(s[r], VBPR_SAMPLER_NUM_NEG, N);
    vbpr_sampler_set(s[r], VBPR_SAMPLER_SEED, 1);
    vbpr_sampler_set(s[r], VBPR_SAMPLER_WORLD_SIZE, (double)w);
    vbpr_sampler_set(s[r], VBPR_SAMPLER_RANK, (double)r);
  }
  static int32_t users[MAX_B], items[MAX_B * (M + N)], all_u[MAX_B];
  static int32_t all_i[MAX_B * (M + N)], pos[MAX_B * M], neg[MAX_B * N];
  counts c = {0, 0, 0, 0};
  for (int b = 0; b < batches; b++) {
    size_t nu = 0, ni = 0, lu = 0, li = 0;
    for (size_t r = 0; r < w; r++) {
      size_t rows = 0, global = 0;
      if (vbpr_sampler_next_shard(s[r], users, pos, neg, &rows, &global) != VBPR_OK)
        die("next");
      memcpy(items, pos, rows * M * sizeof *pos);
      memcpy(items + rows * M, neg, rows * N * sizeof *neg);
      size_t du = distinct(users, rows, mark), di = distinct(items, rows * (M + N), mark);
      lu = du > lu ? du : lu;
      li = di > li ? di : li;
      memcpy(all_u + nu, users, rows * sizeof *users);
      memcpy(all_i + ni, items, rows * (M + N) * sizeof *items);
      nu += rows;
      ni += rows * (M + N);
    }
    c.users += (double)distinct(all_u, nu, mark) / batches;
    c.items += (double)distinct(all_i, ni, mark) / batches;
    c.long_users += (double)lu / batches;
    c.long_items += (double)li / batches;
  }
  for (size_t r = 0; r < w; r++) vbpr_sampler_destroy(s[r]);
  return c;
}

/* Seconds per batch of one trainer epoch slice (everything), and of the
 * optimizer step alone, on one thread. */
static void time_parts(const vbpr_dataset *ds, int batches, double *step, double *update)
{
  vbpr_trainer *tr;
  if (vbpr_trainer_create(ds, NULL, &tr) != VBPR_OK) die("trainer");
  vbpr_trainer_set(tr, VBPR_TRAINER_DIM, DIM);
  vbpr_trainer_set(tr, VBPR_TRAINER_OPTIMIZER, VBPR_OPTIM_LAZY_ADAM);
  if (vbpr_trainer_prepare(tr) != VBPR_OK) die("prepare");
  vbpr_loss_set(vbpr_trainer_loss(tr), VBPR_LOSS_NUM_POS, M);
  vbpr_loss_set(vbpr_trainer_loss(tr), VBPR_LOSS_NUM_NEG, N);
  vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, B);
  vbpr_sampler *s = vbpr_trainer_sampler(tr);
  vbpr_encoder *enc = vbpr_trainer_encoder(tr);
  vbpr_loss *loss = vbpr_trainer_loss(tr);
  vbpr_optim *opt = vbpr_trainer_optim(tr);
  static int32_t users[MAX_B], pos[MAX_B * M], neg[MAX_B * N];
  size_t bs = (size_t)B;
  float *eu = malloc(sizeof(float) * bs * DIM), *ep = malloc(sizeof(float) * bs * M * DIM);
  float *en = malloc(sizeof(float) * bs * N * DIM), *gu = malloc(sizeof(float) * bs * DIM);
  float *gp = malloc(sizeof(float) * bs * M * DIM), *gn = malloc(sizeof(float) * bs * N * DIM);
  if (!eu || !ep || !en || !gu || !gp || !gn) die("buffers");
  double t_all[64], t_opt[64];
  if (batches > 64) batches = 64;
  for (int b = -2; b < batches; b++) { /* two warm-up batches */
    size_t rows = 0;
    float l = 0;
    double t0 = bench_seconds();
    if (vbpr_encoder_zero_grad(enc) != VBPR_OK ||
        vbpr_sampler_next(s, users, pos, neg, &rows) != VBPR_OK ||
        vbpr_encoder_forward(enc, rows, M, N, users, pos, neg, eu, ep, en) != VBPR_OK ||
        vbpr_loss_forward_backward(loss, rows, DIM, eu, ep, en, NULL, NULL, 1.0f, &l, gu, gp,
                                   gn) != VBPR_OK ||
        vbpr_encoder_backward(enc, gu, gp, gn) != VBPR_OK)
      die("step");
    double t1 = bench_seconds();
    if (vbpr_optim_step_encoder(opt, enc) != VBPR_OK) die("optimizer");
    double t2 = bench_seconds();
    if (b >= 0) t_all[b] = t1 - t0, t_opt[b] = t2 - t1;
  }
  *step = bench_median(t_all, batches);
  *update = bench_median(t_opt, batches);
  free(eu), free(ep), free(en), free(gu), free(gp), free(gn);
  vbpr_trainer_destroy(tr);
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : getenv("VBPR_DATA_DIR");
  int batches = argc > 2 ? atoi(argv[2]) : 40;
  if (argc > 3) B = atoi(argv[3]);
  if (B < 64 || B > MAX_B) B = 2048;
  if (dir == NULL) dir = "../shared/data";
  if (batches < 1) batches = 1;
  char tr[4096], te[4096];
  snprintf(tr, sizeof tr, "%s/gowalla/train.txt", dir);
  snprintf(te, sizeof te, "%s/gowalla/test.txt", dir);
  vbpr_set_num_threads(1);
  vbpr_dataset *train, *test;
  if (vbpr_dataset_load_pair(tr, te, NULL, &train, &test) != VBPR_OK) die("load");
  size_t nu = vbpr_dataset_num_users(train), ni = vbpr_dataset_num_items(train);
  unsigned char *mark = calloc(nu > ni ? nu : ni, 1);
  double dense = (double)(nu + ni) * DIM * 4;
  printf("Gowalla MF d %d, M %d, N %d, global batch %d; %zu users, %zu items; "
         "dense gradient %.1f MB\n", DIM, M, N, B, nu, ni, dense / 1e6);
  printf("%5s %12s %12s %12s %12s %14s %14s\n", "ranks", "union users", "union items",
         "longest u", "longest i", "ids in (KB)", "floats (MB)");
  for (size_t w = 1; w <= 64; w *= 2) {
    counts c = count_batches(train, w, batches, mark);
    double ids = (double)w * (c.long_users + c.long_items) * 4;
    double floats = (c.users + c.items) * DIM * 4 + 4;
    printf("%5zu %12.0f %12.0f %12.0f %12.0f %14.1f %14.2f\n", w, c.users, c.items,
           c.long_users, c.long_items, ids / 1e3, floats / 1e6);
  }
  double step = 0, update = 0;
  time_parts(train, batches, &step, &update);
  printf("one thread, per global batch (median of %d): sampling to backward %.2f ms "
         "(split over the ranks), lazy Adam on the union %.2f ms (every rank)\n", batches,
         1e3 * step, 1e3 * update);
  free(mark);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  return 0;
}
