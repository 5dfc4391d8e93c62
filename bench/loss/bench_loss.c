/* Loss throughput: ns per row of forward + backward at the embedding level,
 * against the memory floor, a plain copy of the same input bytes (user, pos,
 * neg) into the same output bytes (the three gradients).
 *
 * Usage: bench_loss [runs] [small]   (default 7; figures are medians over
 * runs; "small" runs only the per-call section)
 * Honours VBPR_NUM_THREADS; also reports a one-thread run for comparison.
 *
 * The per-call section times what a per-sample loop pays per call
 * (batch 1 and 64, M 2 N 4 dim 64, fused) with the thread setting 0 (one
 * per core, the default) and 1, alternating the two within each run so
 * that their ratio compares figures taken side by side; batches 256 and
 * 1024 show where splitting rows over threads starts to pay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "vbpr/error.h"
#include "vbpr/loss.h"
#include "vbpr/runtime.h"

typedef struct shape {
  size_t batch, dim, M, N;
} shape;

typedef struct bufs {
  float *user, *pos, *neg, *gu, *gp, *gn;
} bufs;

static float *alloc_floats(size_t n)
{
  float *p = malloc(n * sizeof *p);
  if (p == NULL) {
    fprintf(stderr, "bench_loss: out of memory\n");
    exit(1);
  }
  return p;
}

static void fill(float *x, size_t n, unsigned *seed)
{
  for (size_t i = 0; i < n; i++) {
    *seed = *seed * 1664525u + 1013904223u;
    x[i] = ((float)(*seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
  }
}

static bufs make_bufs(const shape *s)
{
  bufs b;
  unsigned seed = 12345;
  b.user = alloc_floats(s->batch * s->dim);
  b.pos = alloc_floats(s->batch * s->M * s->dim);
  b.neg = alloc_floats(s->batch * s->N * s->dim);
  b.gu = alloc_floats(s->batch * s->dim);
  b.gp = alloc_floats(s->batch * s->M * s->dim);
  b.gn = alloc_floats(s->batch * s->N * s->dim);
  fill(b.user, s->batch * s->dim, &seed);
  fill(b.pos, s->batch * s->M * s->dim, &seed);
  fill(b.neg, s->batch * s->N * s->dim, &seed);
  memset(b.gu, 0, s->batch * s->dim * sizeof(float));
  memset(b.gp, 0, s->batch * s->M * s->dim * sizeof(float));
  memset(b.gn, 0, s->batch * s->N * s->dim * sizeof(float));
  return b;
}

static void free_bufs(bufs *b)
{
  free(b->user), free(b->pos), free(b->neg), free(b->gu), free(b->gp), free(b->gn);
}

static void check(vbpr_status st, const char *what)
{
  if (st != VBPR_OK) {
    fprintf(stderr, "bench_loss: %s failed: %s\n", what, vbpr_last_error());
    exit(1);
  }
}

enum mode { FUSED, SEPARATE, COPY };

/* One timed run: enough iterations for ~20 ms; returns ns per row. */
static double run_once(vbpr_loss *loss, const shape *s, bufs *b, enum mode mode,
                       int iters)
{
  size_t nu = s->batch * s->dim * sizeof(float);
  size_t np = nu * s->M, nn = nu * s->N;
  float l = 0.0f;
  double t0 = (1e9 * bench_seconds());
  for (int it = 0; it < iters; it++) {
    switch (mode) {
    case FUSED:
      check(vbpr_loss_forward_backward(loss, s->batch, s->dim, b->user, b->pos, b->neg,
                                       NULL, NULL, 1.0f, &l, b->gu, b->gp, b->gn),
            "vbpr_loss_forward_backward");
      break;
    case SEPARATE:
      check(vbpr_loss_forward(loss, s->batch, s->dim, b->user, b->pos, b->neg, NULL, NULL,
                              &l),
            "vbpr_loss_forward");
      check(vbpr_loss_backward(loss, 1.0f, b->gu, b->gp, b->gn), "vbpr_loss_backward");
      break;
    case COPY:
      memcpy(b->gu, b->user, nu);
      memcpy(b->gp, b->pos, np);
      memcpy(b->gn, b->neg, nn);
      break;
    }
    /* keep the copy from being optimised away across iterations */
    __asm__ __volatile__("" : : "g"(b->gu), "g"(b->gp), "g"(b->gn) : "memory");
  }
  double t = (1e9 * bench_seconds()) - t0;
  (void)l;
  return t / ((double)iters * (double)s->batch);
}

static double measure(vbpr_loss *loss, const shape *s, bufs *b, enum mode mode, int runs)
{
  double per_row = run_once(loss, s, b, mode, 3); /* warm-up, sizes the loop */
  int iters = (int)(20e6 / (per_row * (double)s->batch)) + 1;
  double v[64];
  if (runs > 64) runs = 64;
  for (int r = 0; r < runs; r++) v[r] = run_once(loss, s, b, mode, iters);
  return bench_median(v, runs);
}

static const char *est_name(int e)
{
  return e == VBPR_ESTIMATOR_ELBO                 ? "elbo"
         : e == VBPR_ESTIMATOR_PROTOTYPE_DETACHED ? "detached"
                                            : "prototype";
}

static void bench_shape(const shape *s, int est, int runs)
{
  vbpr_loss *loss = NULL;
  check(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss), "vbpr_loss_create");
  check(vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, (double)s->M), "set M");
  check(vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, (double)s->N), "set N");
  check(vbpr_loss_set(loss, VBPR_LOSS_ESTIMATOR, est), "set estimator");
  bufs b = make_bufs(s);
  double floor_ns = measure(loss, s, &b, COPY, runs);
  double fused = measure(loss, s, &b, FUSED, runs);
  double sep = measure(loss, s, &b, SEPARATE, runs);
  double kb = (double)((1 + s->M + s->N) * s->dim * sizeof(float)) / 1024.0;
  printf("%5zu %4zu %3zu %3zu %-9s %7zu %9.1f %9.1f %9.1f %8.2fx %8.2fx  (%.2f KiB in, "
         "as much out, per row)\n",
         s->batch, s->dim, s->M, s->N, est_name(est), vbpr_get_num_threads(), fused, sep,
         floor_ns, fused / floor_ns, sep / floor_ns, kb);
  free_bufs(&b);
  vbpr_loss_destroy(loss);
}

/* Median ns per call of a fused call at settings 0 and 1, alternating. */
static void small_batch(size_t batch, int runs, double per_call[2])
{
  shape s = {batch, 64, 2, 4};
  vbpr_loss *loss = NULL;
  check(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss), "vbpr_loss_create");
  check(vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, 2.0), "set M");
  check(vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, 4.0), "set N");
  bufs b = make_bufs(&s);
  double v[2][64];
  int iters[2];
  if (runs > 64) runs = 64;
  for (int k = 0; k < 2; k++) { /* warm-up, sizes the loops to ~20 ms */
    check(vbpr_set_num_threads((size_t)k), "vbpr_set_num_threads");
    double row = run_once(loss, &s, &b, FUSED, 100);
    iters[k] = (int)(20e6 / (row * (double)batch)) + 1;
  }
  for (int r = 0; r < runs; r++)
    for (int k = 0; k < 2; k++) {
      check(vbpr_set_num_threads((size_t)k), "vbpr_set_num_threads");
      v[k][r] = run_once(loss, &s, &b, FUSED, iters[k]) * (double)batch;
    }
  for (int k = 0; k < 2; k++) per_call[k] = bench_median(v[k], runs);
  free_bufs(&b);
  vbpr_loss_destroy(loss);
}

static void bench_small_batches(int runs)
{
  check(vbpr_set_num_threads(0), "vbpr_set_num_threads");
  printf("\nper call, small to mid batches: fused forward+backward, M 2 N 4 dim 64 "
         "(prototype),\nmedian of %d runs, thread setting 0 (one per core: %zu threads) "
         "against 1, alternating\n",
         runs, vbpr_get_num_threads());
  printf("batch   setting 0: ns/call  ns/row   setting 1: ns/call  ns/row   0/1\n");
  static const size_t batches[] = {1, 64, 256, 1024};
  for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
    double t[2];
    small_batch(batches[i], runs, t);
    double nb = (double)batches[i];
    printf("%5zu   %17.1f %7.1f   %17.1f %7.1f   %4.2f\n", batches[i], t[0], t[0] / nb, t[1],
           t[1] / nb, t[0] / t[1]);
  }
}

int main(int argc, char **argv)
{
  int runs = argc > 1 ? atoi(argv[1]) : 7;
  if (runs < 1) runs = 1;
  int threads = vbpr_get_num_threads();
  if (argc > 2 && strcmp(argv[2], "small") == 0) {
    bench_small_batches(runs);
    return 0;
  }
  const shape shapes[] = {{1024, 64, 2, 4}, {1024, 128, 2, 16}};
  printf("loss forward+backward, ns per row, median of %d runs\n", runs);
  printf("(max-thr: the thread limit; a call splits its rows only when each thread\n"
         " gets about 65,000 multiply-adds, so batch 1024 x dim 64 uses two)\n");
  printf("batch  dim   M   N estimator max-thr     fused  separate copy-floor "
         "fused/floor sep/floor\n");
  for (int pass = 0; pass < 2; pass++) {
    check(vbpr_set_num_threads(pass == 0 ? threads : 1), "vbpr_set_num_threads");
    if (pass == 1 && threads == 1) break;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
      bench_shape(&shapes[i], VBPR_ESTIMATOR_PROTOTYPE, runs);
  }
  check(vbpr_set_num_threads(threads), "vbpr_set_num_threads");
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    bench_shape(&shapes[i], VBPR_ESTIMATOR_PROTOTYPE_DETACHED, runs);
    bench_shape(&shapes[i], VBPR_ESTIMATOR_ELBO, runs);
  }
  bench_small_batches(runs);
  check(vbpr_set_num_threads(threads), "vbpr_set_num_threads");
  return 0;
}
