/* Encoder and optimizer timings on a real data set: LightGCN propagation
 * (forward) and back-propagation with 1 and 2 threads, against the floor of
 * one propagation layer (reading each edge's row once), MF forward/backward
 * of one batch, dense against lazy Adam on the MF tables, and an XSimGCL
 * training step (noisy forward, contrastive term, backward) against
 * LightGCN's with the same layers, 1 thread.
 *
 *   bench_encoder [interactions-file]
 *
 * Default file: $VBPR_DATA_DIR/gowalla/train.txt. Prints medians of REPS
 * runs in milliseconds, and ratios. */
#if defined(__linux__)
#  define _DEFAULT_SOURCE 1 /* madvise */
#  include <sys/mman.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include <vbpr/vbpr.h>
#include <vbpr/dataset.h>
#include <vbpr/encoder.h>
#include <vbpr/optim.h>

enum { REPS = 5, DIM = 64, BATCH = 2048, M = 2, N = 4 };

#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != VBPR_OK) {                                                     \
      fprintf(stderr, "%s failed: %s\n", #call, vbpr_last_error());              \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

static int32_t users[BATCH], pos[BATCH * M], neg[BATCH * N];
static float ue[BATCH * DIM], pe[BATCH * M * DIM], ne[BATCH * N * DIM];
static float gu[BATCH * DIM], gp[BATCH * M * DIM], gn[BATCH * N * DIM];

static void make_batch(int32_t nu, int32_t ni)
{
  uint64_t s = 1;
  for (int i = 0; i < BATCH * N; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    if (i < BATCH) users[i] = (int32_t)((s >> 33) % (uint64_t)nu);
    if (i < BATCH * M) pos[i] = (int32_t)((s >> 20) % (uint64_t)ni);
    neg[i] = (int32_t)((s >> 7) % (uint64_t)ni);
  }
  for (int i = 0; i < BATCH * N * DIM; i++) {
    float v = (float)((int)(((unsigned)i * 7919u) % 201u) - 100) / 1000.0f;
    if (i < BATCH * DIM) gu[i] = v;
    if (i < BATCH * M * DIM) gp[i] = v;
    gn[i] = v;
  }
}

/* Median time of forward (and, if `back`, zero_grad + backward) calls. */
static double time_pass(vbpr_encoder *enc, int back)
{
  double t[REPS];
  for (int r = 0; r < REPS; r++) {
    double t0 = (1e3 * bench_seconds());
    CHECK(vbpr_encoder_forward(enc, BATCH, M, N, users, pos, neg, ue, pe, ne));
    double t1 = (1e3 * bench_seconds());
    if (back) {
      CHECK(vbpr_encoder_zero_grad(enc));
      CHECK(vbpr_encoder_backward(enc, gu, gp, gn));
    }
    t[r] = back ? (1e3 * bench_seconds()) - t1 : t1 - t0;
  }
  return bench_median(t, REPS);
}

/* The floor of one propagation layer: for every node, the sum of its
 * neighbours' rows (each edge's row read once, as the propagation reads
 * it, without the edge weights), written to the node's output row; over
 * the symmetric user-item graph of ds, on one thread. Median ms. */
static double floor_layer(const vbpr_dataset *ds)
{
  const int64_t *off;
  const int32_t *items;
  CHECK(vbpr_dataset_csr(ds, &off, &items, NULL));
  size_t nu = vbpr_dataset_num_users(ds), ni = vbpr_dataset_num_items(ds), n = nu + ni;
  size_t nnz = vbpr_dataset_num_interactions(ds);
  int64_t *goff = calloc(n + 1, sizeof *goff);
  int32_t *cols = malloc(2 * nnz * sizeof *cols);
  /* 2 MB aligned and offered huge pages, as the library's own buffers */
  float *in = NULL, *out = NULL;
  if (!goff || !cols || posix_memalign((void **)&in, 2 << 20, n * DIM * sizeof *in) ||
      posix_memalign((void **)&out, 2 << 20, n * DIM * sizeof *out))
    exit(1);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(in, n * DIM * sizeof *in, MADV_HUGEPAGE);
  madvise(out, n * DIM * sizeof *out, MADV_HUGEPAGE);
#endif
  for (size_t u = 0; u < nu; u++) /* node degrees, then CSR of both directions */
    for (int64_t e = off[u]; e < off[u + 1]; e++) goff[u + 1]++, goff[nu + (size_t)items[e] + 1]++;
  for (size_t r = 0; r < n; r++) goff[r + 1] += goff[r];
  int64_t *fill = malloc(n * sizeof *fill);
  if (!fill) exit(1);
  memcpy(fill, goff, n * sizeof *fill);
  for (size_t u = 0; u < nu; u++)
    for (int64_t e = off[u]; e < off[u + 1]; e++) {
      cols[fill[u]++] = (int32_t)(nu + (size_t)items[e]);
      cols[fill[nu + (size_t)items[e]]++] = (int32_t)u;
    }
  for (size_t i = 0; i < n * DIM; i++) in[i] = (float)(i % 13) * 1e-3f;
  double t[REPS];
  for (int rep = 0; rep < REPS; rep++) {
    double t0 = (1e3 * bench_seconds());
    for (size_t r = 0; r < n; r++) {
      float *restrict o = out + r * DIM;
      memset(o, 0, DIM * sizeof *o);
      for (int64_t e = goff[r]; e < goff[r + 1]; e++) {
        const float *restrict x = in + (size_t)cols[e] * DIM;
        for (size_t j = 0; j < DIM; j++) o[j] += x[j];
      }
    }
    t[rep] = (1e3 * bench_seconds()) - t0;
    __asm__ __volatile__("" : : "g"(out) : "memory");
  }
  free(goff), free(cols), free(in), free(out), free(fill);
  return bench_median(t, REPS);
}

/* Median times of an XSimGCL step's parts: forward, the contrastive term,
 * zero_grad + backward. */
static void time_xsimgcl(vbpr_encoder *enc, double *fwd, double *term, double *bwd)
{
  double t[3][REPS];
  for (int r = 0; r < REPS; r++) {
    double t0 = 1e3 * bench_seconds(), v;
    CHECK(vbpr_encoder_forward(enc, BATCH, M, N, users, pos, neg, ue, pe, ne));
    double t1 = 1e3 * bench_seconds();
    CHECK(vbpr_encoder_extra_loss(enc, &v));
    double t2 = 1e3 * bench_seconds();
    CHECK(vbpr_encoder_zero_grad(enc));
    CHECK(vbpr_encoder_backward(enc, gu, gp, gn));
    double t3 = 1e3 * bench_seconds();
    t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2;
  }
  *fwd = bench_median(t[0], REPS), *term = bench_median(t[1], REPS);
  *bwd = bench_median(t[2], REPS);
}

static void bench_xsimgcl(const vbpr_dataset *ds)
{
  vbpr_encoder *xs, *lg = NULL;
  CHECK(vbpr_set_num_threads(1));
  CHECK(vbpr_encoder_create_xsimgcl(ds, DIM, 2, 1, &xs));
  double f, c, b, f0, c0, b0;
  time_xsimgcl(xs, &f, &c, &b);
  CHECK(vbpr_encoder_set(xs, VBPR_ENCODER_NOISE_EPS, 0.0));
  time_xsimgcl(xs, &f0, &c0, &b0);
  printf("xsimgcl K=2, 1 thread: forward %.1f ms (%.1f without noise), contrastive term "
         "%.1f ms, zero_grad+backward %.1f ms\n", f, f0, c, b);
  if (vbpr_has_module(VBPR_MODULE_LIGHTGCN)) {
    CHECK(vbpr_encoder_create_lightgcn(ds, DIM, 2, 1, &lg));
    double lf = time_pass(lg, 0), lb = time_pass(lg, 1);
    printf("  lightgcn K=2, same run: forward %.1f ms, zero_grad+backward %.1f ms; "
           "xsimgcl step / lightgcn step x%.2f\n", lf, lb, (f + c + b) / (lf + lb));
    vbpr_encoder_destroy(lg);
  }
  vbpr_encoder_destroy(xs);
  CHECK(vbpr_set_num_threads(0));
}

static double time_step(vbpr_optim_kind kind, vbpr_encoder *enc)
{
  vbpr_optim *opt;
  CHECK(vbpr_optim_create(kind, &opt));
  CHECK(vbpr_optim_set(opt, VBPR_OPTIM_WEIGHT_DECAY, 1e-6));
  double t[REPS];
  CHECK(vbpr_optim_step_encoder(opt, enc)); /* sizes the state */
  for (int r = 0; r < REPS; r++) {
    double t0 = (1e3 * bench_seconds());
    CHECK(vbpr_optim_step_encoder(opt, enc));
    t[r] = (1e3 * bench_seconds()) - t0;
  }
  vbpr_optim_destroy(opt);
  return bench_median(t, REPS);
}

int main(int argc, char **argv)
{
  char path[2048];
  if (argc > 1) {
    snprintf(path, sizeof path, "%s", argv[1]);
  } else {
    const char *d = getenv("VBPR_DATA_DIR");
    if (d == NULL) {
      fprintf(stderr, "usage: bench_encoder FILE (or set VBPR_DATA_DIR)\n");
      return 77;
    }
    snprintf(path, sizeof path, "%s/gowalla/train.txt", d);
  }
  vbpr_dataset *ds;
  double t0 = (1e3 * bench_seconds());
  CHECK(vbpr_dataset_load(path, NULL, &ds));
  int32_t nu = vbpr_dataset_num_users(ds), ni = vbpr_dataset_num_items(ds);
  printf("data: %s: %d users, %d items, %lld interactions (loaded in %.0f ms)\n", path,
         (int)nu, (int)ni, (long long)vbpr_dataset_num_interactions(ds), (1e3 * bench_seconds()) - t0);
  printf("dim %d, batch %d x (1 + %d + %d), medians of %d runs\n", DIM, BATCH, M, N, REPS);
  make_batch(nu, ni);

  if (vbpr_has_module(VBPR_MODULE_LIGHTGCN)) {
    vbpr_encoder *lg;
    t0 = (1e3 * bench_seconds());
    CHECK(vbpr_encoder_create_lightgcn(ds, DIM, 3, 1, &lg));
    printf("lightgcn K=3: built in %.0f ms\n", (1e3 * bench_seconds()) - t0);
    double fwd[2], bwd[2];
    for (int k = 0; k < 2; k++) {
      CHECK(vbpr_set_num_threads(k + 1));
      fwd[k] = time_pass(lg, 0);
      bwd[k] = time_pass(lg, 1);
      printf("  %d thread(s): forward %.1f ms, zero_grad+backward %.1f ms\n", k + 1, fwd[k],
             bwd[k]);
    }
    printf("  speed-up 2 vs 1 threads: forward x%.2f, backward x%.2f\n", fwd[0] / fwd[1],
           bwd[0] / bwd[1]);
    double fl = floor_layer(ds);
    printf("  floor of one layer (each edge's row read once, 1 thread): %.1f ms; forward "
           "per layer, 1 thread: %.1f ms (x%.2f the floor)\n", fl, fwd[0] / 3, fwd[0] / 3 / fl);
    vbpr_encoder_destroy(lg);
  }
  CHECK(vbpr_set_num_threads(0));
  if (vbpr_has_module(VBPR_MODULE_MF)) {
    vbpr_encoder *mf;
    CHECK(vbpr_encoder_create_mf(nu, ni, DIM, 1, &mf));
    double f = time_pass(mf, 0), b = time_pass(mf, 1);
    printf("mf: forward %.3f ms, zero_grad+backward %.3f ms per batch\n", f, b);
    double dense = time_step(VBPR_OPTIM_ADAM, mf), lazy = time_step(VBPR_OPTIM_LAZY_ADAM, mf);
    printf("adam step on the mf tables: dense %.2f ms, lazy %.3f ms (x%.0f)\n", dense, lazy,
           dense / lazy);
    vbpr_encoder_destroy(mf);
  }
  if (vbpr_has_module(VBPR_MODULE_XSIMGCL)) bench_xsimgcl(ds);
  vbpr_dataset_destroy(ds);
  return 0;
}

