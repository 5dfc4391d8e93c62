/* White-box tests of lib/core: checked sizes, allocation, RNG, threads. */
#include <math.h>
#include <stdint.h>

#include "core/blas.h"
#include "core/core.h"
#include "testutil.h"
#include "vbpr/vbpr.h"

START_TEST(mul_and_add_overflow)
{
  size_t r = 7;
  ck_assert(vbpr__mul_ok(3, 4, &r) && r == 12);
  ck_assert(!vbpr__mul_ok(SIZE_MAX / 2 + 1, 2, &r));
  ck_assert_uint_eq(r, 12); /* untouched on overflow */
  ck_assert(vbpr__mul_ok(0, SIZE_MAX, &r) && r == 0);
  ck_assert(!vbpr__add_ok(SIZE_MAX, 1, &r));
  ck_assert(vbpr__add_ok(SIZE_MAX - 1, 1, &r) && r == SIZE_MAX);
}
END_TEST

START_TEST(array_allocation_checks_overflow)
{
  ck_assert_ptr_null(vbpr__malloc_array(SIZE_MAX / 4, 8));
  ck_assert_ptr_null(vbpr__calloc(SIZE_MAX / 4, 8));
  ck_assert_ptr_null(vbpr__aligned_array(SIZE_MAX / 4, 8));
  void *p = vbpr__malloc_array(0, 8); /* zero size is a valid pointer */
  ck_assert_ptr_nonnull(p);
  vbpr__free(p);
  float *a = vbpr__aligned_array(10, sizeof(float));
  ck_assert_ptr_nonnull(a);
  ck_assert_uint_eq((uintptr_t)a % 64, 0);
  vbpr__free(a);
}
END_TEST

START_TEST(fault_injection_fails_nth_allocation)
{
  vbpr__fault_arm(2);
  void *a = vbpr__malloc(16);
  void *b = vbpr__malloc(16);
  void *c = vbpr__malloc(16);
  vbpr__fault_arm(0);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_null(b);
  ck_assert_ptr_nonnull(c);
  vbpr__free(a);
  vbpr__free(c);
}
END_TEST

START_TEST(reserve_keeps_old_buffer_on_failure)
{
  void *buf = NULL;
  size_t cap = 0;
  ck_assert_ok(vbpr__reserve(&buf, &cap, 100, sizeof(float), "t"));
  void *old = buf;
  ck_assert_ok(vbpr__reserve(&buf, &cap, 50, sizeof(float), "t"));
  ck_assert_ptr_eq(buf, old); /* big enough: no reallocation */
  ck_assert_status(vbpr__reserve(&buf, &cap, SIZE_MAX / 2, 8, "vbpr_x"),
                   VBPR_ERR_OUT_OF_MEMORY);
  ck_assert_ptr_eq(buf, old);
  ck_assert_uint_eq(cap, 100);
  ck_assert_msg(strstr(vbpr_last_error(), "vbpr_x: ") == vbpr_last_error(), "%s",
                vbpr_last_error());
  vbpr__free(buf);
}
END_TEST

START_TEST(rng_is_a_function_of_key)
{
  vbpr__rng a, b, c;
  vbpr__rng_init(&a, 42, 3, 1000);
  vbpr__rng_init(&b, 42, 3, 1000);
  vbpr__rng_init(&c, 42, 3, 1001);
  int same_c = 0;
  for (int i = 0; i < 100; i++) {
    uint64_t x = vbpr__rng_next(&a), y = vbpr__rng_next(&b), z = vbpr__rng_next(&c);
    ck_assert_uint_eq(x, y);
    same_c += x == z;
  }
  ck_assert_int_eq(same_c, 0);
}
END_TEST

START_TEST(rng_below_is_uniform)
{
  /* chi-square over 10 cells, 100k draws: 9 dof, p = 1e-6 at 41.0 */
  enum { K = 10, DRAWS = 100000 };
  long count[K] = {0};
  vbpr__rng r;
  vbpr__rng_init(&r, 7, 0, 0);
  for (int i = 0; i < DRAWS; i++) {
    uint32_t v = vbpr__rng_below(&r, K);
    ck_assert_uint_lt(v, K);
    count[v]++;
  }
  double chi = 0, e = (double)DRAWS / K;
  for (int k = 0; k < K; k++) chi += (count[k] - e) * (count[k] - e) / e;
  ck_assert_msg(chi < 41.0, "chi-square %g", chi);
  double mean = 0, m2 = 0;
  for (int i = 0; i < DRAWS; i++) {
    double x = vbpr__rng_normal(&r);
    mean += x;
    m2 += x * x;
  }
  mean /= DRAWS;
  m2 /= DRAWS;
  ck_assert_msg(fabs(mean) < 0.02 && fabs(m2 - 1) < 0.03, "mean %g var %g", mean, m2);
}
END_TEST

typedef struct {
  int *hits;
} cover_ctx;

static void cover(void *p, size_t begin, size_t end, int tid)
{
  cover_ctx *c = p;
  for (size_t i = begin; i < end; i++) c->hits[i] += 1;
  (void)tid;
}

START_TEST(parallel_for_covers_each_index_once)
{
  static int hits[1003];
  for (int nt = 1; nt <= 7; nt++) {
    memset(hits, 0, sizeof hits);
    cover_ctx c = {hits};
    vbpr__parallel_for(1003, nt, cover, &c);
    for (int i = 0; i < 1003; i++) ck_assert_int_eq(hits[i], 1);
  }
  memset(hits, 0, sizeof hits);
  cover_ctx c = {hits};
  vbpr__parallel_for(3, 8, cover, &c); /* more threads than work */
  ck_assert(hits[0] == 1 && hits[1] == 1 && hits[2] == 1 && hits[3] == 0);
}
END_TEST

START_TEST(threads_for_respects_setting)
{
  ck_assert_ok(vbpr_set_num_threads(2));
  ck_assert_int_eq(vbpr__threads_for(10, 100), 1);
  ck_assert_int_eq(vbpr__threads_for(1000, 100), 2);
  ck_assert_int_eq(vbpr__threads_for(1000, 0), 2);
  ck_assert_ok(vbpr_set_num_threads(1));
  ck_assert_int_eq(vbpr__threads_for(100000, 1), 1);
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

START_TEST(sgemm_matches_naive)
{
  enum { M = 37, N = 29, K = 13 };
  static float a[M * K], b[N * K], bt[K * N], c[M * N], c2[M * N];
  vbpr__rng r;
  vbpr__rng_init(&r, 1, 2, 3);
  for (int i = 0; i < M * K; i++) a[i] = (float)vbpr__rng_normal(&r);
  for (int i = 0; i < N * K; i++) b[i] = (float)vbpr__rng_normal(&r);
  for (int j = 0; j < N; j++)
    for (int k = 0; k < K; k++) bt[k * N + j] = b[j * K + k];
  for (int i = 0; i < M * N; i++) c[i] = c2[i] = 1.0f;
  vbpr__sgemm_nt(M, N, K, 2.0f, a, K, b, K, 0.5f, c, N, 2);
  vbpr__sgemm_nn(M, N, K, 2.0f, a, K, bt, N, 0.5f, c2, N, 1);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double want = 0.5;
      for (int k = 0; k < K; k++) want += 2.0 * a[i * K + k] * b[j * K + k];
      ck_assert_double_eq_tol(c[i * N + j], want, 1e-4);
      ck_assert_double_eq_tol(c2[i * N + j], want, 1e-4);
    }
}
END_TEST

int main(void)
{
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, mul_and_add_overflow);
  tcase_add_test(tc, array_allocation_checks_overflow);
  tcase_add_test(tc, fault_injection_fails_nth_allocation);
  tcase_add_test(tc, reserve_keeps_old_buffer_on_failure);
  tcase_add_test(tc, rng_is_a_function_of_key);
  tcase_add_test(tc, rng_below_is_uniform);
  tcase_add_test(tc, parallel_for_covers_each_index_once);
  tcase_add_test(tc, threads_for_respects_setting);
  tcase_add_test(tc, sgemm_matches_naive);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
