/* White-box tests of the evaluator: the selection kernel on edge cases, and
 * allocation failures at every point (fault injection). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "eval/rank.h"
#include "testutil.h"
#include "vbpr/dataset.h"
#include "vbpr/error.h"
#include "vbpr/eval.h"
#include "vbpr/runtime.h"

static void assert_list(const vbpr__scored *got, int32_t len, const int32_t *want,
                        int32_t want_len)
{
  ck_assert_int_eq(len, want_len);
  for (int32_t r = 0; r < len; r++)
    ck_assert_msg(got[r].item == want[r], "rank %d: item %d, expected %d", r, got[r].item,
                  want[r]);
}

START_TEST(topk_ties_and_exclusions)
{
  const float s[8] = {1, 3, 3, 2, 3, 0, 2, 3};
  vbpr__scored h[8];
  int32_t nan_item = -1;
  /* no exclusions, k = 3: the four 3s are 1, 2, 4, 7: lower ids first */
  int32_t len = vbpr__topk_row(s, 8, NULL, 0, 3, h, &nan_item);
  assert_list(h, len, (const int32_t[]){1, 2, 4}, 3);
  /* exclusions at the start, middle and end, and ids beyond the row */
  const int32_t ex[] = {0, 2, 7, 9, 12};
  len = vbpr__topk_row(s, 8, ex, 5, 4, h, &nan_item);
  assert_list(h, len, (const int32_t[]){1, 4, 3, 6}, 4);
  ck_assert(h[0].score == 3 && h[3].score == 2);
  /* fewer candidates than k */
  const int32_t most[] = {0, 1, 2, 3, 4, 6};
  len = vbpr__topk_row(s, 8, most, 6, 5, h, &nan_item);
  assert_list(h, len, (const int32_t[]){7, 5}, 2);
  /* everything excluded */
  const int32_t all[] = {0, 1, 2, 3, 4, 5, 6, 7};
  ck_assert_int_eq(vbpr__topk_row(s, 8, all, 8, 3, h, &nan_item), 0);
}
END_TEST

START_TEST(topk_infinities_and_nan)
{
  /* -inf candidates still fill the list (in id order); +inf leads */
  const float s[6] = {-INFINITY, -INFINITY, 1, INFINITY, -INFINITY, -0.0f};
  vbpr__scored h[6];
  int32_t nan_item = -1;
  int32_t len = vbpr__topk_row(s, 6, NULL, 0, 6, h, &nan_item);
  assert_list(h, len, (const int32_t[]){3, 2, 5, 0, 1, 4}, 6);
  /* +0 and -0 tie: the lower id wins */
  const float z[3] = {0.0f, -0.0f, 0.0f};
  len = vbpr__topk_row(z, 3, NULL, 0, 2, h, &nan_item);
  assert_list(h, len, (const int32_t[]){0, 1}, 2);
  const float zz[3] = {-0.0f, 0.0f, -1.0f};
  len = vbpr__topk_row(zz, 3, NULL, 0, 1, h, &nan_item);
  assert_list(h, len, (const int32_t[]){0}, 1);
  /* NaN in the fill phase, in the scan phase, and excluded (ignored) */
  const float n1[4] = {1, NAN, 2, 3};
  ck_assert_int_eq(vbpr__topk_row(n1, 4, NULL, 0, 3, h, &nan_item), -1);
  ck_assert_int_eq(nan_item, 1);
  const float n2[5] = {1, 2, 3, 0, NAN};
  ck_assert_int_eq(vbpr__topk_row(n2, 5, NULL, 0, 2, h, &nan_item), -1);
  ck_assert_int_eq(nan_item, 4);
  const int32_t ex[] = {4};
  ck_assert_int_eq(vbpr__topk_row(n2, 5, ex, 1, 2, h, &nan_item), 2);
}
END_TEST

START_TEST(topk_matches_sorting_on_random_rows)
{
  enum { N = 500 };
  float s[N];
  int32_t ex[N];
  vbpr__scored h[N];
  vbpr__rng rng;
  vbpr__rng_init(&rng, 7, 0, 0);
  for (int rep = 0; rep < 50; rep++) {
    int64_t n_ex = 0;
    for (int32_t i = 0; i < N; i++) {
      s[i] = (float)vbpr__rng_below(&rng, 20); /* many ties */
      if (vbpr__rng_below(&rng, 10) == 0) ex[n_ex++] = i;
    }
    int32_t k = 1 + (int32_t)vbpr__rng_below(&rng, 60);
    int32_t nan_item;
    int32_t len = vbpr__topk_row(s, N, ex, n_ex, k, h, &nan_item);
    /* reference: repeatedly take the best unused candidate */
    uint8_t used[N] = {0};
    for (int64_t e = 0; e < n_ex; e++) used[ex[e]] = 1;
    int32_t r = 0;
    for (; r < k; r++) {
      int32_t best = -1;
      for (int32_t i = 0; i < N; i++)
        if (!used[i] && (best < 0 || s[i] > s[best])) best = i;
      if (best < 0) break;
      used[best] = 1;
      ck_assert_int_lt(r, len);
      ck_assert_int_eq(h[r].item, best);
    }
    ck_assert_int_eq(len, r);
  }
}
END_TEST

START_TEST(check_finite_names_the_cell)
{
  const float t[6] = {1, 2, 3, 4, INFINITY, 6};
  ck_assert_ok(vbpr__check_finite_rows(t, (const int32_t[]){0}, 1, 3, "tab", "f"));
  ck_assert_status(vbpr__check_finite_rows(t, NULL, 2, 3, "tab", "vbpr_f"), VBPR_ERR_NUMERIC);
  ck_assert_str_eq(vbpr_last_error(),
                   "vbpr_f: tab[1 * dim + 1] (row 1, column 1) is not finite: inf");
}
END_TEST

/* NaN scores reach the selection through sgemm when a row bypasses the
 * public finite checks (as overflowing products may on some kernels). */
typedef struct count_ctx {
  int emitted[64];
} count_ctx;

static void count_emit(void *ctx, size_t idx, int32_t user, const vbpr__scored *top,
                       int32_t len)
{
  (void)user;
  (void)top;
  ((count_ctx *)ctx)->emitted[idx] = len;
}

START_TEST(rank_run_reports_first_nan_in_user_order)
{
  enum { NU = 64, NI = 20, D = 4 };
  float ue[NU * D], ie[NI * D];
  for (int i = 0; i < NU * D; i++) ue[i] = (float)(i % 5) - 2.0f;
  for (int i = 0; i < NI * D; i++) ie[i] = (float)(i % 3) - 1.0f;
  ue[37 * D + 2] = NAN;
  ue[50 * D] = NAN;
  int32_t users[NU];
  for (int32_t u = 0; u < NU; u++) users[u] = u;
  for (int nt = 1; nt <= 2; nt++) {
    ck_assert_ok(vbpr_set_num_threads(nt));
    count_ctx c = {{0}};
    vbpr__rank_pool pool = {0};
    vbpr__ranker r = {.user_emb = ue, .item_emb = ie, .dim = D, .num_items = NI,
                      .users = users, .n_users = NU, .k = 5, .emit = count_emit,
                      .emit_ctx = &c};
    ck_assert_status(vbpr__rank_run(&r, &pool, "vbpr_x"), VBPR_ERR_NUMERIC);
    ck_assert_str_eq(vbpr_last_error(),
                     "vbpr_x: score of user 37 for item 0 is NaN (products overflow)");
    ck_assert_int_eq(c.emitted[36], 5);
    /* a NaN item column, excluded for user 0 only */
    ue[37 * D + 2] = 0;
    ue[50 * D] = 0;
    ie[3 * D + 1] = NAN;
    const int64_t off[3] = {0, 1, 1};
    const int32_t mask[1] = {3};
    r.mask_offsets = off;
    r.mask_items = mask;
    r.mask_users = 2;
    ck_assert_status(vbpr__rank_run(&r, &pool, "vbpr_x"), VBPR_ERR_NUMERIC);
    ck_assert_str_eq(vbpr_last_error(),
                     "vbpr_x: score of user 1 for item 3 is NaN (products overflow)");
    ck_assert_int_eq(c.emitted[0], 5);
    ie[3 * D + 1] = 0;
    ck_assert_ok(vbpr__rank_run(&r, &pool, "vbpr_x"));
    ue[37 * D + 2] = NAN;
    ue[50 * D] = NAN;
    vbpr__rank_pool_free(&pool);
  }
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

/* ---- allocation failures ----------------------------------------------------- */

static vbpr_dataset *small_ds(const int32_t *pairs, int64_t n)
{
  int32_t u[16], it[16];
  for (int64_t i = 0; i < n; i++) {
    u[i] = pairs[2 * i];
    it[i] = pairs[2 * i + 1];
  }
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_create(3, 6, n, u, it, NULL, NULL, &ds));
  return ds;
}

static const float users3[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
static const float items6[18] = {5, 8, 0, 9, 7, 0, 1, 6, 7, 3, 5, 1, 4, 4, 1, 2, 3, 1};

START_TEST(allocation_failures_are_reported)
{
  vbpr_dataset *train = small_ds((const int32_t[]){0, 1, 1, 0, 1, 5, 2, 2}, 4);
  vbpr_dataset *test = small_ds((const int32_t[]){0, 0, 0, 3, 2, 4}, 3);
  double want = 0;
  {
    vbpr_evaluator *ev = NULL;
    ck_assert_ok(vbpr_evaluator_create(train, test, &ev));
    ck_assert_ok(vbpr_evaluator_run(ev, 3, 6, 3, users3, items6));
    ck_assert_ok(vbpr_evaluator_metric(ev, VBPR_METRIC_NDCG, 20, &want));
    vbpr_evaluator_destroy(ev);
  }
  int failures = 0;
  for (long n = 1;; n++) {
    vbpr_evaluator *ev = NULL;
    vbpr__fault_arm(n);
    vbpr_status st = vbpr_evaluator_create(train, test, &ev);
    const size_t ks[] = {5, 20};
    if (st == VBPR_OK) st = vbpr_evaluator_set_ks(ev, 2, ks);
    if (st == VBPR_OK) st = vbpr_evaluator_run(ev, 3, 6, 3, users3, items6);
    long made = vbpr__fault_count();
    vbpr__fault_arm(0);
    if (st == VBPR_OK) {
      double v = -1;
      ck_assert_ok(vbpr_evaluator_metric(ev, VBPR_METRIC_NDCG, 20, &v));
      ck_assert(v == want);
      vbpr_evaluator_destroy(ev);
      if (made < n) break; /* the armed allocation was never reached */
      continue;
    }
    failures++;
    ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
    ck_assert_msg(strncmp(vbpr_last_error(), "vbpr_evaluator_", 15) == 0, "%s", vbpr_last_error());
    if (ev != NULL) {
      /* a failed run leaves a usable evaluator */
      double v;
      ck_assert_status(vbpr_evaluator_metric(ev, VBPR_METRIC_NDCG, 20, &v), VBPR_ERR_STATE);
      ck_assert_ok(vbpr_evaluator_run(ev, 3, 6, 3, users3, items6));
      vbpr_evaluator_destroy(ev);
    }
  }
  ck_assert_int_gt(failures, 3);

  /* a set_ks that cannot grow its tables keeps the old K set working */
  for (long n = 1; n <= 2; n++) {
    vbpr_evaluator *ev = NULL;
    ck_assert_ok(vbpr_evaluator_create(train, test, &ev));
    const size_t big[] = {20, VBPR_EVALUATOR_MAX_K};
    vbpr__fault_arm(n);
    vbpr_status st = vbpr_evaluator_set_ks(ev, 2, big);
    vbpr__fault_arm(0);
    ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
    double v = -1;
    ck_assert_ok(vbpr_evaluator_run(ev, 3, 6, 3, users3, items6));
    ck_assert_ok(vbpr_evaluator_metric(ev, VBPR_METRIC_NDCG, 20, &v));
    ck_assert(v == want);
    ck_assert_status(vbpr_evaluator_metric(ev, VBPR_METRIC_NDCG, VBPR_EVALUATOR_MAX_K, &v),
                     VBPR_ERR_INVALID_ARGUMENT);
    vbpr_evaluator_destroy(ev);
  }

  failures = 0;
  for (long n = 1;; n++) {
    int32_t items[4] = {-9, -9, -9, -9};
    vbpr__fault_arm(n);
    vbpr_status st = vbpr_recommend(train, 3, 6, 3, users3, items6, 2, (const int32_t[]){0, 2},
                                    2, items, NULL);
    long made = vbpr__fault_count();
    vbpr__fault_arm(0);
    if (st == VBPR_OK) {
      ck_assert_int_eq(items[0], 0);
      ck_assert_int_eq(items[3], 4);
      if (made < n) break;
      continue;
    }
    failures++;
    ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
    ck_assert_int_eq(items[0], -9);
  }
  ck_assert_int_gt(failures, 1);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("eval_rank");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, topk_ties_and_exclusions);
  tcase_add_test(tc, topk_infinities_and_nan);
  tcase_add_test(tc, topk_matches_sorting_on_random_rows);
  tcase_add_test(tc, check_finite_names_the_cell);
  tcase_add_test(tc, rank_run_reports_first_nan_in_user_order);
  tcase_add_test(tc, allocation_failures_are_reported);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
