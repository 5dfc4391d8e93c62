/* Cost of checkpoints: writing and reading the whole training state of a
 * Gowalla-sized run, against writing the model file alone, in the same run.
 *
 *   bench_checkpoint [DATA_DIR] [OUT_DIR]
 *
 * MF, dim 128, Adam (moments for both tables), noise statistics on, after
 * one batch. DATA_DIR defaults to $VBPR_DATA_DIR; OUT_DIR (default /tmp)
 * holds the files, removed at the end. Prints medians of 5 runs and the
 * checkpoint / model-file ratios of time and size. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bench_util.h"
#include "vbpr/vbpr.h"

enum { REPS = 5 };

static void check(vbpr_status st, const char *what)
{
  if (st == VBPR_OK) return;
  fprintf(stderr, "bench_checkpoint: %s: %s\n", what, vbpr_last_error());
  exit(1);
}

static int stop_first(void *p, vbpr_trainer_event ev, int64_t e, size_t b, size_t n, double l)
{
  (void)p, (void)ev, (void)e, (void)b, (void)n, (void)l;
  return 1;
}

static double file_mb(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0 ? (double)sb.st_size / 1e6 : 0;
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : getenv("VBPR_DATA_DIR");
  const char *out = argc > 2 ? argv[2] : "/tmp";
  if (dir == NULL) {
    fprintf(stderr, "usage: bench_checkpoint DATA_DIR [OUT_DIR] (or set VBPR_DATA_DIR)\n");
    return 77;
  }
  char train_path[1024], ck[1024], model[1024];
  snprintf(train_path, sizeof train_path, "%s/gowalla/train.txt", dir);
  snprintf(ck, sizeof ck, "%s/bench_checkpoint.%ld.ckpt", out, (long)getpid());
  snprintf(model, sizeof model, "%s/bench_checkpoint.%ld.vbpr", out, (long)getpid());
  vbpr_dataset *train;
  check(vbpr_dataset_load(train_path, NULL, &train), "loading the data");
  vbpr_trainer *tr, *re;
  check(vbpr_trainer_create(train, NULL, &tr), "trainer");
  check(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 128), "dim");
  check(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_TRACK, 1), "noise_track");
  check(vbpr_trainer_set_progress(tr, stop_first, NULL), "progress");
  vbpr_status st = vbpr_trainer_epoch(tr, NULL); /* one batch: Adam moments exist */
  if (st != VBPR_ERR_INTERRUPTED) check(st, "a batch");
  check(vbpr_trainer_create(train, NULL, &re), "trainer");
  double save[REPS], load[REPS], msave[REPS];
  for (int r = 0; r < REPS; r++) {
    double t0 = bench_seconds();
    check(vbpr_trainer_save_checkpoint(tr, ck), "save");
    double t1 = bench_seconds();
    check(vbpr_trainer_load_checkpoint(re, ck), "load");
    double t2 = bench_seconds();
    check(vbpr_encoder_save(vbpr_trainer_encoder(tr), model), "model");
    double t3 = bench_seconds();
    save[r] = t1 - t0, load[r] = t2 - t1, msave[r] = t3 - t2;
  }
  double s = bench_median(save, REPS), l = bench_median(load, REPS);
  double m = bench_median(msave, REPS), cs = file_mb(ck), ms = file_mb(model);
  printf("gowalla train (%zu users, %zu items, %zu interactions), MF d 128, Adam, noise "
         "statistics on; medians of %d\n", vbpr_dataset_num_users(train),
         vbpr_dataset_num_items(train), vbpr_dataset_num_interactions(train), REPS);
  printf("checkpoint: %.1f MB, save %.3f s, load %.3f s\n", cs, s, l);
  printf("model file: %.1f MB, save %.3f s\n", ms, m);
  printf("checkpoint / model file: size x%.2f, save time x%.2f\n", cs / ms, s / m);
  unlink(ck);
  unlink(model);
  vbpr_trainer_destroy(re);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  return 0;
}
