/* White-box tests of the loss: the inline exp/log1p replacements against
 * libm, allocation behaviour (none after the first call of a shape; clean
 * failure when an allocation fails). Links the testing build. */
#include <float.h>
#include <math.h>

#include "core/core.h"
#include "loss/loss_internal.h"
#include "testutil.h"
#include "vbpr/error.h"
#include "vbpr/loss.h"
#include "vbpr/runtime.h"

START_TEST(exp_matches_libm)
{
  double worst = 0.0;
  for (int i = 0; i <= 200000; i++) {
    double x = -708.0 * i / 200000.0;
    double got = vbpr__exp_nonpos(x), want = exp(x);
    worst = fmax(worst, fabs(got - want) / want);
  }
  ck_assert_msg(worst < 1e-14, "max relative error %.3g", worst);
  ck_assert(vbpr__exp_nonpos(0.0) == 1.0);
  ck_assert(vbpr__exp_nonpos(-0.0) == 1.0);
  /* below -708 it is clamped: subnormal territory, negligible next to 1 */
  ck_assert(vbpr__exp_nonpos(-709.0) <= 4e-308 && vbpr__exp_nonpos(-709.0) >= 0.0);
  ck_assert(vbpr__exp_nonpos(-1e300) <= 4e-308);
  ck_assert(vbpr__exp_nonpos(-HUGE_VAL) <= 4e-308);
}
END_TEST

START_TEST(log1p_matches_libm)
{
  double worst = 0.0;
  for (int i = 0; i <= 100000; i++) {
    double e = i / 100000.0;
    double got = vbpr__log1p_unit(e), want = log1p(e);
    if (want > 0) worst = fmax(worst, fabs(got - want) / want);
  }
  for (double e = 1e-300; e < 1e-3; e *= 1.7) {
    double want = log1p(e);
    worst = fmax(worst, fabs(vbpr__log1p_unit(e) - want) / want);
  }
  ck_assert_msg(worst < 1e-14, "max relative error %.3g", worst);
  ck_assert(vbpr__log1p_unit(0.0) == 0.0);
}
END_TEST

START_TEST(softplus_and_sigmoid_are_stable)
{
  const double z[] = {-1e300, -1e4, -745, -40, -1,  -1e-9, 0,
                      1e-9,   1,    40,   745, 1e4, 1e300};
  for (size_t i = 0; i < sizeof z / sizeof z[0]; i++) {
    double sp = vbpr__softplus(z[i]), sg = vbpr__sigmoid(z[i]);
    double want_sp = z[i] > 0 ? z[i] + log1p(exp(-z[i])) : log1p(exp(z[i]));
    double want_sg = z[i] >= 0 ? 1 / (1 + exp(-z[i])) : exp(z[i]) / (1 + exp(z[i]));
    ck_assert_msg(isfinite(sp) && isfinite(sg), "z = %g", z[i]);
    ck_assert_msg(fabs(sp - want_sp) <= 1e-14 * want_sp + 1e-300,
                  "softplus(%g) = %.17g vs %.17g", z[i], sp, want_sp);
    ck_assert_msg(fabs(sg - want_sg) <= 1e-14 * want_sg + 1e-300,
                  "sigmoid(%g) = %.17g vs %.17g", z[i], sg, want_sg);
    ck_assert(sg >= 0.0 && sg <= 1.0);
  }
  ck_assert(fabs(vbpr__softplus(0.0) - log(2.0)) <= 1e-15);
  ck_assert(vbpr__sigmoid(0.0) == 0.5);
}
END_TEST

typedef struct shape_bufs {
  size_t B, M, N, dim;
  float *user, *pos, *neg, *gu, *gp, *gn;
} shape_bufs;

static shape_bufs bufs_make(size_t B, size_t M, size_t N, size_t dim)
{
  shape_bufs s = {B, M, N, dim, NULL, NULL, NULL, NULL, NULL, NULL};
  s.user = calloc(B * dim, 4), s.gu = calloc(B * dim, 4);
  s.pos = calloc(B * M * dim, 4), s.gp = calloc(B * M * dim, 4);
  s.neg = calloc(B * N * dim, 4), s.gn = calloc(B * N * dim, 4);
  ck_assert(s.user && s.gu && s.pos && s.gp && s.neg && s.gn);
  for (size_t i = 0; i < B * dim; i++) s.user[i] = (float)sin((double)i);
  for (size_t i = 0; i < B * M * dim; i++) s.pos[i] = (float)cos((double)i);
  for (size_t i = 0; i < B * N * dim; i++) s.neg[i] = (float)sin(0.3 * (double)i);
  return s;
}

static void bufs_free(shape_bufs *s)
{
  free(s->user), free(s->gu), free(s->pos), free(s->gp), free(s->neg), free(s->gn);
}

static vbpr_status fused(vbpr_loss *l, shape_bufs *s, float *loss)
{
  return vbpr_loss_forward_backward(l, s->B, s->dim, s->user, s->pos, s->neg, NULL, NULL,
                                    1.0f, loss, s->gu, s->gp, s->gn);
}

START_TEST(no_allocation_after_first_call_of_a_shape)
{
  ck_assert_ok(vbpr_set_num_threads(2));
  vbpr_loss *l = NULL;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l));
  ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_ESTIMATOR, 1 + _i));
  shape_bufs big = bufs_make(5000, 2, 4, 48), small = bufs_make(7, 2, 4, 48);
  float loss;
  ck_assert_ok(fused(l, &big, &loss));
  /* from now on every allocation would fail, and none may happen */
  vbpr__fault_arm(1);
  for (int rep = 0; rep < 3; rep++) {
    ck_assert_ok(fused(l, &big, &loss));
    ck_assert_ok(fused(l, &small, &loss)); /* a smaller shape fits too */
    ck_assert_ok(vbpr_loss_forward(l, big.B, big.dim, big.user, big.pos, big.neg, NULL,
                                   NULL, &loss));
    ck_assert_ok(vbpr_loss_backward(l, 1.0f, big.gu, big.gp, big.gn));
    ck_assert_ok(
        vbpr_loss_forward_scores(l, big.B, big.user, big.pos, NULL, NULL, &loss));
    float *gps = big.gu, *gns = big.gp;
    ck_assert_ok(vbpr_loss_backward_scores(l, 1.0f, gps, gns));
  }
  long count = vbpr__fault_count();
  vbpr__fault_arm(0);
  ck_assert_msg(count == 0, "%ld allocations after the first call", count);
  vbpr_loss_destroy(l);
  bufs_free(&big), bufs_free(&small);
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

START_TEST(allocation_failures_are_clean)
{
  vbpr_loss *l = (vbpr_loss *)&l, *before = l;
  vbpr__fault_arm(1);
  ck_assert_status(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l), VBPR_ERR_OUT_OF_MEMORY);
  vbpr__fault_arm(0);
  ck_assert_ptr_null(l); /* set to NULL on entry, nothing half-built */
  (void)before;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l));
  shape_bufs s = bufs_make(9, 2, 4, 5);
  for (size_t i = 0; i < 9 * 5; i++) s.gu[i] = 42.0f;
  /* every workspace allocation of the first call, in turn */
  for (long n = 1; n <= 3; n++) {
    float loss = 42.0f;
    vbpr__fault_arm(n);
    vbpr_status st = fused(l, &s, &loss);
    vbpr__fault_arm(0);
    if (st == VBPR_OK) break; /* fewer allocations than n: all tried */
    ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
    ck_assert_msg(strstr(vbpr_last_error(), "vbpr_loss_forward_backward") != NULL, "%s",
                  vbpr_last_error());
    ck_assert(loss == 42.0f && s.gu[0] == 42.0f);
    ck_assert_status(vbpr_loss_backward(l, 1.0f, s.gu, s.gp, s.gn), VBPR_ERR_STATE);
  }
  float loss;
  ck_assert_ok(fused(l, &s, &loss));
  ck_assert(isfinite(loss));
  vbpr_loss_destroy(l);
  bufs_free(&s);
}
END_TEST

/* From kernel_baseline.c: the same kernels for the baseline ISA only. */
void baseline_loss_fwd_range(void *job, size_t begin, size_t end, int tid);
void baseline_loss_bwd_range(void *job, size_t begin, size_t end, int tid);

static float *rand_array(size_t n, unsigned *seed, float scale)
{
  float *x = malloc((n ? n : 1) * sizeof *x);
  ck_assert_ptr_nonnull(x);
  for (size_t i = 0; i < n; i++) {
    *seed = *seed * 1103515245u + 12345u;
    x[i] = scale * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
  }
  return x;
}

/* Runs forward and backward kernels on one configuration and returns all
 * outputs concatenated, for a bitwise comparison. */
typedef void (*range_fn)(void *, size_t, size_t, int);

static float *run_kernels(const vbpr__loss_cfg *cfg, size_t B, size_t dim, bool priors,
                          range_fn fwd, range_fn bwd, size_t *len)
{
  size_t M = cfg->M, N = cfg->N;
  unsigned seed = 99;
  float *user = rand_array(B * dim, &seed, 1.0f),
        *pos = rand_array(B * M * dim, &seed, 1.0f);
  float *neg = rand_array(B * N * dim, &seed, 1.0f);
  float *lpp = priors ? rand_array(B * M, &seed, 2.0f) : NULL;
  float *lpn = priors ? rand_array(B * N, &seed, 2.0f) : NULL;
  size_t n = B * (M + N) * 3 + B * dim * (1 + M + N) + B * (M + N) + B;
  float *out = calloc(n, sizeof *out), *o = out;
  double *scratch = calloc(vbpr__loss_scratch_per_thread(cfg), sizeof *scratch);
  double *rows = calloc(B, sizeof *rows);
  ck_assert(out && scratch && rows);
  float *ps = o, *ns = o + B * M, *alpha = ns + B * N, *beta = alpha + B * M;
  float *gp = beta + B * N, *gn = gp + B * M, *gu = gn + B * N;
  float *gpos = gu + B * dim, *gneg = gpos + B * M * dim, *gps = gneg + B * N * dim;
  float *gns = gps + B * M, *fl = gns + B * N;
  vbpr__fwd_job fj = {.cfg = cfg,
                      .dim = dim,
                      .user = user,
                      .pos = pos,
                      .neg = neg,
                      .ps = ps,
                      .ns = ns,
                      .ps_out = ps,
                      .ns_out = ns,
                      .lpp = lpp,
                      .lpn = lpn,
                      .alpha = alpha,
                      .beta = beta,
                      .gp = gp,
                      .gn = gn,
                      .row_loss = rows,
                      .scratch = scratch};
  fwd(&fj, 0, B, 0);
  ck_assert_uint_eq(fj.bad_input[0], SIZE_MAX);
  ck_assert_uint_eq(fj.overflow[0], SIZE_MAX);
  vbpr__bwd_job bj = {.M = M,
                      .N = N,
                      .dim = dim,
                      .scale = 0.37,
                      .gp = gp,
                      .gn = gn,
                      .user = user,
                      .pos = pos,
                      .neg = neg,
                      .g_ps = gps,
                      .g_ns = gns,
                      .g_user = gu,
                      .g_pos = gpos,
                      .g_neg = gneg};
  bwd(&bj, 0, B, 0);
  for (size_t r = 0; r < B; r++) fl[r] = (float)rows[r];
  *len = n;
  free(user), free(pos), free(neg), free(lpp), free(lpn), free(scratch), free(rows);
  return out;
}

START_TEST(dispatched_kernels_match_baseline_bit_for_bit)
{
  const struct {
    size_t M, N, dim;
  } shapes[] = {{2, 4, 64}, {3, 5, 37}, {1, 1, 7}, {2, 16, 128}, {7, 2, 16}};
  for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
    for (int est = 1; est <= 3; est++)
      for (int hard = 0; hard < 2; hard++) {
        vbpr__loss_cfg cfg = {shapes[sh].M,     shapes[sh].N,     0.9, 1.7,
                              hard ? 0.5 : 0.0, hard ? 0.8 : 0.0, 0.5, est,
                              hard ? -1 : 1,    VBPR_LOSS_VARIATIONAL, 0.3};
        if (est == 3 && hard) /* InfoNCE: one positive; priors in use */
          cfg.kind = VBPR_LOSS_INFONCE, cfg.M = 1;
        size_t B = 77, n1, n2; /* not a multiple of the block size */
        float *a = run_kernels(&cfg, B, shapes[sh].dim, hard, vbpr__loss_fwd_range,
                               vbpr__loss_bwd_range, &n1);
        float *b = run_kernels(&cfg, B, shapes[sh].dim, hard, baseline_loss_fwd_range,
                               baseline_loss_bwd_range, &n2);
        ck_assert_uint_eq(n1, n2);
        for (size_t i = 0; i < n1; i++)
          ck_assert_msg(memcmp(&a[i], &b[i], sizeof(float)) == 0,
                        "shape %zu est %d hard %d: output %zu differs: %.9g vs %.9g", sh,
                        est, hard, i, (double)a[i], (double)b[i]);
        free(a), free(b);
      }
}
END_TEST

START_TEST(block_layout_is_bounded)
{
  vbpr__loss_cfg c = {2, 4, 4, 4, 0, 0, 0.5, VBPR_ESTIMATOR_PROTOTYPE, 1,
                      VBPR_LOSS_VARIATIONAL, 0.1};
  ck_assert_uint_eq(vbpr__loss_block_rows(&c), 64);
  c.M = 1, c.N = VBPR_LOSS_MAX_SAMPLES;
  ck_assert_uint_eq(vbpr__loss_block_rows(&c), 1);
  ck_assert_uint_le(vbpr__loss_scratch_per_thread(&c), 8 * (size_t)VBPR_LOSS_MAX_SAMPLES);
}
END_TEST

static Suite *loss_internal_suite(void)
{
  Suite *s = suite_create("loss_internal");
  TCase *t = tcase_create("math");
  tcase_add_test(t, exp_matches_libm);
  tcase_add_test(t, log1p_matches_libm);
  tcase_add_test(t, softplus_and_sigmoid_are_stable);
  tcase_add_test(t, dispatched_kernels_match_baseline_bit_for_bit);
  suite_add_tcase(s, t);
  t = tcase_create("memory");
  tcase_add_loop_test(t, no_allocation_after_first_call_of_a_shape, 0, 3);
  tcase_add_test(t, allocation_failures_are_clean);
  tcase_add_test(t, block_layout_is_bounded);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return test_run_suite(loss_internal_suite()); }
