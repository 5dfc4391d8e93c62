/* The shared real data sets load with their documented counts. */
#include "testutil.h"
#include "vbpr/dataset.h"
#include "vbpr/error.h"

/* Check marks every ck_assert through a pipe when forking: hot loops call
 * into it only on failure. */
#define REQUIRE(cond, ...)                                                   \
  do {                                                                       \
    if (!(cond)) ck_abort_msg(__VA_ARGS__);                                  \
  } while (0)

static vbpr_dataset *load(const char *dir, const char *name)
{
  char path[4096];
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_load(test_path(path, sizeof path, dir, name), NULL, &ds));
  return ds;
}

static void check_sorted_unique(const vbpr_dataset *ds)
{
  const int64_t *off;
  const int32_t *items;
  ck_assert_ok(vbpr_dataset_csr(ds, &off, &items, NULL));
  for (int32_t u = 0; (size_t)u < vbpr_dataset_num_users(ds); u++)
    for (int64_t k = off[u] + 1; k < off[u + 1]; k++)
      REQUIRE(items[k - 1] < items[k], "user %d not sorted", u);
}

START_TEST(ml100k_counts)
{
  const char *dir = test_data_dir();
  if (dir == NULL) return;
  vbpr_dataset *all = load(dir, "ml-100k/ratings.tsv");
  ck_assert_int_eq(vbpr_dataset_num_users(all), 943);
  ck_assert_int_eq(vbpr_dataset_num_items(all), 1682);
  ck_assert_int_eq(vbpr_dataset_num_interactions(all), 100000);
  ck_assert_int_eq(vbpr_dataset_has_ratings(all), 1);
  check_sorted_unique(all);
  double means[1682];
  ck_assert_ok(vbpr_dataset_item_mean_ratings(all, 0.0, 1682, means));
  for (int i = 0; i < 1682; i++) REQUIRE(means[i] >= 1.0 && means[i] <= 5.0, "mean %g", means[i]);

  /* train and test in one id space: rank over all 1,682 items */
  char tr[4096], te[4096];
  vbpr_dataset *train, *test;
  ck_assert_ok(vbpr_dataset_load_pair(test_path(tr, sizeof tr, dir, "ml-100k/train.tsv"),
                                      test_path(te, sizeof te, dir, "ml-100k/test.tsv"), NULL,
                                      &train, &test));
  ck_assert_int_eq(vbpr_dataset_num_interactions(train), 72404);
  ck_assert_int_eq(vbpr_dataset_num_interactions(test), 27596);
  ck_assert_int_eq(vbpr_dataset_num_users(train), 943);
  ck_assert_int_eq(vbpr_dataset_num_users(test), 943);
  ck_assert_int_eq(vbpr_dataset_num_items(train), 1682);
  ck_assert_int_eq(vbpr_dataset_num_items(test), 1682);
  const int64_t *off;
  const int32_t *items;
  const float *r;
  ck_assert_ok(vbpr_dataset_csr(test, &off, &items, &r));
  for (int64_t k = 0; k < off[943]; k++) REQUIRE(r[k] >= 4.0f, "test rating %g", (double)r[k]);
  int32_t u = 0;
  for (int64_t k = 0; k < off[943]; k++) { /* train and test do not overlap */
    while (off[u + 1] <= k) u++;
    REQUIRE(!vbpr_dataset_contains(train, u, items[k]), "overlap at user %d", u);
    REQUIRE(vbpr_dataset_contains(all, u, items[k]), "test pair not in ratings, user %d", u);
  }
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  vbpr_dataset_destroy(all);
}
END_TEST

START_TEST(gowalla_counts)
{
  const char *dir = test_data_dir();
  if (dir == NULL) return;
  vbpr_dataset *train = load(dir, "gowalla/train.txt");
  ck_assert_int_eq(vbpr_dataset_num_users(train), 29858);
  ck_assert_int_eq(vbpr_dataset_num_items(train), 40981);
  ck_assert_int_eq(vbpr_dataset_num_interactions(train), 810128);
  ck_assert_int_eq(vbpr_dataset_has_ratings(train), 0);
  check_sorted_unique(train);
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set_reference(o, train));
  vbpr_dataset *test = NULL;
  char path[4096];
  ck_assert_ok(vbpr_dataset_load(test_path(path, sizeof path, dir, "gowalla/test.txt"), o, &test));
  ck_assert_int_eq(vbpr_dataset_num_interactions(test), 217242);
  ck_assert_int_eq(vbpr_dataset_num_users(test), 29858);
  ck_assert_int_eq(vbpr_dataset_num_items(test), 40981);
  const int64_t *counts;
  ck_assert_ok(vbpr_dataset_item_counts(train, &counts));
  int64_t total = 0;
  for (int i = 0; i < 40981; i++) total += counts[i];
  ck_assert_int_eq(total, 810128);
  vbpr_dataset_destroy(test);
  vbpr_dataset_options_destroy(o);
  vbpr_dataset_destroy(train);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("dataset_data");
  TCase *tc = tcase_create("real data");
  tcase_add_test(tc, ml100k_counts);
  tcase_add_test(tc, gowalla_counts);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
