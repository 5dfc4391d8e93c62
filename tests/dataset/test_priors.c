/* vbpr_dataset_item_log_priors against the formulas worked by hand. */
#include <math.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

/* items 0..3: counts 3, 1, 0, 2 with ratings; users 0..2 */
static vbpr_dataset *make(bool with_ratings)
{
  int32_t u[] = {0, 1, 2, 0, 1, 2};
  int32_t i[] = {0, 0, 0, 1, 3, 3};
  float r[] = {5, 4, 3, 1, 2, 4};
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_create(3, 4, 6, u, i, with_ratings ? r : NULL, NULL, &ds));
  return ds;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

START_TEST(priors_follow_the_formulas)
{
  vbpr_dataset *ds = make(true);
  float lp[4], ln[4];
  const double a1 = 0.7, a2 = 1.0, b1 = 0.3, b2 = 0.5;
  ck_assert_ok(vbpr_dataset_item_log_priors(ds, a1, a2, b1, b2, 4, lp, ln));
  const double count[4] = {3, 1, 0, 2}, sums[4] = {12, 1, 0, 6};
  double mean_q = 0;
  for (int k = 0; k < 4; k++) mean_q += sums[k] / (count[k] + 1) / 4;
  for (int k = 0; k < 4; k++) {
    double pop = count[k] + 1, popularity = log1p(pop) / log1p(4.0);
    double good = sigmoid((sums[k] / pop - mean_q) / 0.2);
    double rar = fmax(1 - popularity, 1e-12);
    double want_p = a1 * log(rar) + a2 * log(good);
    double want_n = b1 * log(popularity) + b2 * log(1 - good);
    ck_assert_double_eq_tol(lp[k], want_p, 1e-5 * fmax(1, fabs(want_p)));
    ck_assert_double_eq_tol(ln[k], want_n, 1e-5 * fmax(1, fabs(want_n)));
  }
  /* the most popular item is the least rare: log(1e-12) caps its prior */
  ck_assert_double_eq_tol(lp[0], a1 * log(1e-12) + a2 * log(sigmoid((3 - mean_q) / 0.2)), 1e-3);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(without_ratings_good_and_bad_are_constant)
{
  vbpr_dataset *ds = make(false);
  float lp[4], ln[4];
  ck_assert_ok(vbpr_dataset_item_log_priors(ds, 0, 1, 0, 1, 4, lp, ln));
  for (int k = 0; k < 4; k++) {
    ck_assert_double_eq_tol(lp[k], log(0.5), 1e-6);
    ck_assert_double_eq_tol(ln[k], log(0.5), 1e-6);
  }
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(bad_arguments_write_nothing)
{
  vbpr_dataset *ds = make(true);
  float lp[5] = {9, 9, 9, 9, 9}, ln[5] = {9, 9, 9, 9, 9};
  ck_assert_status(vbpr_dataset_item_log_priors(NULL, 1, 1, 1, 1, 4, lp, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_dataset_item_log_priors(ds, 1, 1, 1, 1, 4, NULL, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_dataset_item_log_priors(ds, 1, 1, 1, 1, 3, lp, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "len") != NULL, "%s", vbpr_last_error());
  ck_assert_status(vbpr_dataset_item_log_priors(ds, -1, 1, 1, 1, 4, lp, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_dataset_item_log_priors(ds, 1, NAN, 1, 1, 4, lp, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "a2") != NULL, "%s", vbpr_last_error());
  for (int k = 0; k < 5; k++) ck_assert(lp[k] == 9 && ln[k] == 9);
  ck_assert_ok(vbpr_dataset_item_log_priors(ds, 1, 1, 1, 1, 5, lp, ln));
  ck_assert(lp[4] == 9 && ln[4] == 9); /* past num_items: left alone */
  vbpr_dataset_destroy(ds);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("priors");
  TCase *tc = tcase_create("priors");
  tcase_add_test(tc, priors_follow_the_formulas);
  tcase_add_test(tc, without_ratings_good_and_bad_are_constant);
  tcase_add_test(tc, bad_arguments_write_nothing);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
