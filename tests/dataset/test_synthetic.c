/* Synthetic data: sizes, determinism (seed, threads), the test set's
 * independence from noise, the injected noise shares, ground truth. */
#include <math.h>
#include <stdint.h>

#include "core/core.h"
#include "testutil.h"
#include "vbpr/dataset.h"
#include "vbpr/error.h"
#include "vbpr/runtime.h"
#include "vbpr/synthetic.h"

#define REQUIRE(cond, ...)                                                   \
  do {                                                                       \
    if (!(cond)) ck_abort_msg(__VA_ARGS__);                                  \
  } while (0)

static vbpr_synthetic *config(double fp, double fn, double seed, int labels)
{
  vbpr_synthetic *g;
  ck_assert_ok(vbpr_synthetic_create(&g));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_FALSE_POSITIVES, fp));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_FALSE_NEGATIVES, fn));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_SEED, seed));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_LABELS, labels));
  return g;
}

static int same_csr(const vbpr_dataset *a, const vbpr_dataset *b)
{
  if (vbpr_dataset_num_users(a) != vbpr_dataset_num_users(b) ||
      vbpr_dataset_num_interactions(a) != vbpr_dataset_num_interactions(b))
    return 0;
  const int64_t *oa, *ob;
  const int32_t *ia, *ib;
  ck_assert_ok(vbpr_dataset_csr(a, &oa, &ia, NULL));
  ck_assert_ok(vbpr_dataset_csr(b, &ob, &ib, NULL));
  return memcmp(oa, ob, ((size_t)vbpr_dataset_num_users(a) + 1) * sizeof *oa) == 0 &&
         memcmp(ia, ib, (size_t)vbpr_dataset_num_interactions(a) * sizeof *ia) == 0;
}

START_TEST(defaults_give_the_documented_sizes)
{
  vbpr_synthetic *g = config(0, 0, 0, 0);
  vbpr_dataset *tr, *te;
  ck_assert_ok(vbpr_synthetic_generate(g, &tr, &te));
  ck_assert_int_eq(vbpr_dataset_num_users(tr), 1000);
  ck_assert_int_eq(vbpr_dataset_num_items(tr), 1500);
  ck_assert_int_eq(vbpr_dataset_num_users(te), 1000);
  ck_assert_int_eq(vbpr_dataset_num_items(te), 1500);
  int64_t ntr = vbpr_dataset_num_interactions(tr), nte = vbpr_dataset_num_interactions(te);
  ck_assert_msg(ntr > 45000 && ntr < 58000, "train %lld", (long long)ntr);
  ck_assert_msg(nte > 11000 && nte < 15000, "test %lld", (long long)nte);
  ck_assert_int_eq(vbpr_dataset_has_ratings(tr), 0);
  ck_assert_int_eq(vbpr_dataset_num_active_users(tr), 1000);
  const int64_t *off;
  const int32_t *items;
  ck_assert_ok(vbpr_dataset_csr(te, &off, &items, NULL));
  int32_t u = 0;
  for (int64_t k = 0; k < nte; k++) { /* disjoint */
    while (off[u + 1] <= k) u++;
    REQUIRE(!vbpr_dataset_contains(tr, u, items[k]), "user %d item %d in both", u, items[k]);
  }
  /* power-law popularity: the top 10% of items hold far more than 10% */
  const int64_t *c;
  ck_assert_ok(vbpr_dataset_item_counts(tr, &c));
  int64_t sorted[1500];
  memcpy(sorted, c, sizeof sorted);
  for (int i = 1; i < 1500; i++) { /* insertion sort, descending */
    int64_t x = sorted[i];
    int j = i;
    while (j > 0 && sorted[j - 1] < x) { sorted[j] = sorted[j - 1]; j--; }
    sorted[j] = x;
  }
  int64_t top = 0;
  for (int i = 0; i < 150; i++) top += sorted[i];
  ck_assert_msg(top > ntr / 4, "top 10%% hold %lld of %lld", (long long)top, (long long)ntr);
  vbpr_dataset_destroy(tr);
  vbpr_dataset_destroy(te);
  vbpr_synthetic_destroy(g);
}
END_TEST

START_TEST(deterministic_across_threads_and_seeds)
{
  vbpr_synthetic *g = config(0.2, 0.1, 7, 0);
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_USERS, 300));
  vbpr_dataset *a, *b, *c, *d, *e, *f;
  ck_assert_ok(vbpr_set_num_threads(1));
  ck_assert_ok(vbpr_synthetic_generate(g, &a, &b));
  ck_assert_ok(vbpr_set_num_threads(2));
  ck_assert_ok(vbpr_synthetic_generate(g, &c, &d));
  ck_assert(same_csr(a, c) && same_csr(b, d));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_SEED, 8));
  ck_assert_ok(vbpr_synthetic_generate(g, &e, &f));
  ck_assert(!same_csr(a, e) && !same_csr(b, f));
  ck_assert_ok(vbpr_set_num_threads(0));
  vbpr_dataset *all[] = {a, b, c, d, e, f};
  for (int k = 0; k < 6; k++) vbpr_dataset_destroy(all[k]);
  vbpr_synthetic_destroy(g);
}
END_TEST

START_TEST(noise_changes_train_only)
{
  vbpr_synthetic *clean = config(0, 0, 3, 1), *noisy = config(0.3, 0.2, 3, 1);
  vbpr_dataset *tr0, *te0, *tr1, *te1;
  ck_assert_ok(vbpr_synthetic_generate(clean, &tr0, &te0));
  ck_assert_ok(vbpr_synthetic_generate(noisy, &tr1, &te1));
  ck_assert(same_csr(te0, te1)); /* one test set for every noise level */
  const int64_t *off;
  const int32_t *items;
  const float *lab;
  ck_assert_ok(vbpr_dataset_csr(tr1, &off, &items, &lab));
  ck_assert_ptr_nonnull(lab);
  int64_t n1 = vbpr_dataset_num_interactions(tr1), fp = 0, kept = 0;
  int32_t u = 0;
  for (int64_t k = 0; k < n1; k++) {
    while (off[u + 1] <= k) u++;
    REQUIRE(lab[k] == 0.0f || lab[k] == 1.0f, "label %g", (double)lab[k]);
    if (lab[k] == 0.0f) {
      fp++; /* a false positive is no true preference */
      REQUIRE(!vbpr_dataset_contains(tr0, u, items[k]) && !vbpr_dataset_contains(te0, u, items[k]),
              "false positive %d of user %d is a true preference", items[k], u);
    } else {
      kept++; /* a kept one is a clean positive */
      REQUIRE(vbpr_dataset_contains(tr0, u, items[k]), "true positive %d of %d missing", items[k], u);
    }
  }
  double fp_share = (double)fp / (double)n1;
  double kept_share = (double)kept / (double)vbpr_dataset_num_interactions(tr0);
  ck_assert_msg(fabs(fp_share - 0.3) < 0.01, "false positive share %g", fp_share);
  ck_assert_msg(fabs(kept_share - 0.8) < 0.01, "kept share %g", kept_share);
  ck_assert_ok(vbpr_dataset_csr(tr0, NULL, NULL, &lab));
  for (size_t k = 0; k < vbpr_dataset_num_interactions(tr0); k++)
    REQUIRE(lab[k] == 1.0f, "clean data labelled noise");
  vbpr_dataset *all[] = {tr0, te0, tr1, te1};
  for (int k = 0; k < 4; k++) vbpr_dataset_destroy(all[k]);
  vbpr_synthetic_destroy(clean);
  vbpr_synthetic_destroy(noisy);
}
END_TEST

START_TEST(true_scores_rank_the_test_set_high)
{
  vbpr_synthetic *g = config(0, 0, 11, 0);
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_USERS, 100));
  vbpr_dataset *tr, *te;
  ck_assert_ok(vbpr_synthetic_generate(g, &tr, &te));
  float s[1500];
  double pos = 0, all = 0;
  int64_t npos = 0;
  for (int32_t u = 0; u < 100; u++) {
    ck_assert_ok(vbpr_synthetic_true_scores(g, u, 1500, s));
    const int32_t *it;
    size_t n;
    ck_assert_ok(vbpr_dataset_user_items(te, u, &it, &n));
    for (size_t k = 0; k < n; k++) pos += s[it[k]];
    npos += n;
    for (int i = 0; i < 1500; i++) all += s[i];
  }
  pos /= (double)npos;
  all /= 100.0 * 1500.0;
  ck_assert_msg(pos > all + 3.0, "test items score %g, all items %g", pos, all);
  ck_assert_status(vbpr_synthetic_true_scores(g, 100, 1500, s), VBPR_ERR_OUT_OF_RANGE);
  ck_assert_status(vbpr_synthetic_true_scores(g, 0, 1499, s), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_dataset_destroy(tr);
  vbpr_dataset_destroy(te);
  vbpr_synthetic_destroy(g);
}
END_TEST

START_TEST(parameters_validate)
{
  vbpr_synthetic *g;
  ck_assert_ok(vbpr_synthetic_create(&g));
  double v;
  ck_assert_ok(vbpr_synthetic_get(g, VBPR_SYNTHETIC_NUM_ITEMS, &v));
  ck_assert_double_eq(v, 1500);
  ck_assert_status(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_USERS, 0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_str_eq(vbpr_last_error(), "vbpr_synthetic_set: num_users must be an integer in "
                                      "[1, 16777216], got 0");
  ck_assert_status(vbpr_synthetic_set(g, VBPR_SYNTHETIC_FALSE_POSITIVES, 1.0),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_synthetic_set(g, VBPR_SYNTHETIC_DIM, 2.5), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_synthetic_set(g, VBPR_SYNTHETIC_SHARPNESS, NAN), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_synthetic_set(g, (vbpr_synthetic_param)0, 1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_synthetic_get(g, (vbpr_synthetic_param)12, &v), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_dataset *a = NULL;
  ck_assert_status(vbpr_synthetic_generate(g, &a, &a), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(a);
  /* a small universe: preferences are clipped to half the items */
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_ITEMS, 10));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_USERS, 20));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_FALSE_POSITIVES, 0.9));
  vbpr_dataset *tr, *te;
  ck_assert_ok(vbpr_synthetic_generate(g, &tr, &te));
  for (int32_t u = 0; u < 20; u++) {
    const int32_t *it;
    size_t n, m;
    ck_assert_ok(vbpr_dataset_user_items(tr, u, &it, &n));
    ck_assert_ok(vbpr_dataset_user_items(te, u, &it, &m));
    ck_assert_int_le(n + m, 10);
  }
  vbpr_dataset_destroy(tr);
  vbpr_dataset_destroy(te);
  vbpr_synthetic_destroy(g);
  vbpr_synthetic_destroy(NULL);
}
END_TEST

START_TEST(allocation_failures_are_clean)
{
  vbpr_synthetic *g = config(0.2, 0.2, 1, 1);
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_USERS, 30));
  int ok = 0;
  for (long n = 1; n < 60 && !ok; n++) {
    vbpr_dataset *a = NULL, *b = NULL;
    vbpr__fault_arm(n);
    vbpr_status st = vbpr_synthetic_generate(g, &a, &b);
    vbpr__fault_arm(0);
    ok = st == VBPR_OK;
    if (!ok) {
      ck_assert_msg(st == VBPR_ERR_OUT_OF_MEMORY, "%d: %s", st, vbpr_last_error());
      ck_assert(a == NULL && b == NULL);
    }
    vbpr_dataset_destroy(a);
    vbpr_dataset_destroy(b);
  }
  ck_assert(ok);
  vbpr_synthetic_destroy(g);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("synthetic");
  TCase *tc = tcase_create("synthetic");
  tcase_add_test(tc, defaults_give_the_documented_sizes);
  tcase_add_test(tc, deterministic_across_threads_and_seeds);
  tcase_add_test(tc, noise_changes_train_only);
  tcase_add_test(tc, true_scores_rank_the_test_set_high);
  tcase_add_test(tc, parameters_validate);
  tcase_add_test(tc, allocation_failures_are_clean);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
