/* Per-item log-priors: vbpr_dataset_item_log_priors against the formulas
 * worked by hand; vbpr_loss_item_log_priors (plain arrays) against it, bit
 * for bit; the prior weights that go with each loss preset. */
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

/* A larger dataset: popularity from a skewed draw, ratings 1..5. */
static vbpr_dataset *make_random(bool with_ratings, uint32_t seed)
{
  enum { USERS = 120, ITEMS = 257, PER_USER = 30 };
  int32_t u[USERS * PER_USER], i[USERS * PER_USER];
  float r[USERS * PER_USER];
  uint32_t x = seed;
  for (int k = 0; k < USERS * PER_USER; k++) {
    x = x * 1664525u + 1013904223u;
    u[k] = k / PER_USER;
    double v = (double)(x >> 8) / (double)(1u << 24);
    i[k] = (int32_t)(v * v * (ITEMS - 3)); /* the last 3 items: no interactions */
    r[k] = (float)(1 + (x >> 4) % 5);
  }
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_create(USERS, ITEMS, USERS * PER_USER, u, i,
                                   with_ratings ? r : NULL, NULL, &ds));
  return ds;
}

/* The same counts and sums as plain arrays give the same bits. */
static void check_arrays_agree(vbpr_dataset *ds, const double w[4])
{
  size_t ni = vbpr_dataset_num_items(ds);
  const int64_t *count;
  const double *sums;
  ck_assert_ok(vbpr_dataset_item_counts(ds, &count));
  ck_assert_ok(vbpr_dataset_item_rating_sums(ds, &sums));
  double *c = malloc(ni * sizeof *c);
  float *dp = malloc(ni * sizeof *dp), *dn = malloc(ni * sizeof *dn);
  float *ap = malloc(ni * sizeof *ap), *an = malloc(ni * sizeof *an);
  ck_assert(c && dp && dn && ap && an);
  for (size_t k = 0; k < ni; k++) c[k] = (double)count[k];
  ck_assert_ok(vbpr_dataset_item_log_priors(ds, w[0], w[1], w[2], w[3], ni, dp, dn));
  ck_assert_ok(vbpr_loss_item_log_priors(ni, c, sums, w[0], w[1], w[2], w[3], ap, an));
  ck_assert_mem_eq(ap, dp, ni * sizeof *dp);
  ck_assert_mem_eq(an, dn, ni * sizeof *dn);
  if (!vbpr_dataset_has_ratings(ds)) { /* NULL sums: no ratings, the same */
    ck_assert_ok(vbpr_loss_item_log_priors(ni, c, NULL, w[0], w[1], w[2], w[3], ap, an));
    ck_assert_mem_eq(ap, dp, ni * sizeof *dp);
    ck_assert_mem_eq(an, dn, ni * sizeof *dn);
  }
  /* the priors vary over the items wherever the weights let them, so that
   * the comparison means something */
  bool varied = false;
  for (size_t k = 1; k < ni; k++) varied = varied || dp[k] != dp[0] || dn[k] != dn[0];
  bool constant = w[0] == 0 && w[2] == 0 &&
                  (!vbpr_dataset_has_ratings(ds) || (w[1] == 0 && w[3] == 0));
  ck_assert(varied != constant);
  free(c);
  free(dp);
  free(dn);
  free(ap);
  free(an);
}

START_TEST(arrays_and_dataset_agree_exactly)
{
  const double weights[][4] = {{0.7, 1.0, 0.3, 0.5}, {0, 1, 0, 0.5}, {1, 0, 1, 0},
                               {0, 0, 0, 0}, {2.5, 0.25, 4, 1e3}};
  for (int rated = 0; rated < 2; rated++) {
    vbpr_dataset *small = make(rated), *big = make_random(rated, 12345u + (uint32_t)rated);
    for (size_t k = 0; k < sizeof weights / sizeof weights[0]; k++) {
      check_arrays_agree(small, weights[k]);
      check_arrays_agree(big, weights[k]);
    }
    vbpr_dataset_destroy(small);
    vbpr_dataset_destroy(big);
  }
}
END_TEST

START_TEST(arrays_take_a_hosts_own_popularity)
{
  /* fractional popularity is accepted and follows the same formula */
  const double pop[3] = {0.5, 2.25, 0}, sums[3] = {1.5, 9, 0};
  float lp[3], ln[3];
  ck_assert_ok(vbpr_loss_item_log_priors(3, pop, sums, 0.5, 1, 0.25, 0.5, lp, ln));
  double mean_q = 0;
  for (int k = 0; k < 3; k++) mean_q += sums[k] / (pop[k] + 1) / 3;
  for (int k = 0; k < 3; k++) {
    double p = pop[k] + 1, popularity = log1p(p) / log1p(3.25);
    double good = sigmoid((sums[k] / p - mean_q) / 0.2);
    double want_p = 0.5 * log(fmax(1 - popularity, 1e-12)) + log(good);
    double want_n = 0.25 * log(popularity) + 0.5 * log(1 - good);
    ck_assert_double_eq_tol(lp[k], want_p, 1e-5 * fmax(1, fabs(want_p)));
    ck_assert_double_eq_tol(ln[k], want_n, 1e-5 * fmax(1, fabs(want_n)));
  }
  /* no items: nothing to do */
  ck_assert_ok(vbpr_loss_item_log_priors(0, pop, NULL, 1, 1, 1, 1, lp, ln));
}
END_TEST

START_TEST(arrays_bad_arguments_write_nothing)
{
  double c[3] = {3, 1, 0}, sums[3] = {12, 1, 0};
  float lp[3] = {9, 9, 9}, ln[3] = {9, 9, 9};
  ck_assert_status(vbpr_loss_item_log_priors(3, NULL, sums, 1, 1, 1, 1, lp, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_item_log_priors(3, c, sums, 1, 1, 1, 1, lp, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_item_log_priors(3, c, sums, 1, 1, -0.5, 1, lp, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "b1") != NULL, "%s", vbpr_last_error());
  ck_assert_status(vbpr_loss_item_log_priors(3, c, sums, 1, 1, 1, 2e6, lp, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "b2 must be in [0, 1e+06]") != NULL, "%s",
                vbpr_last_error());
  c[2] = -1;
  ck_assert_status(vbpr_loss_item_log_priors(3, c, sums, 1, 1, 1, 1, lp, ln),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "counts[2] must be >= 0") != NULL, "%s",
                vbpr_last_error());
  c[2] = NAN;
  ck_assert_status(vbpr_loss_item_log_priors(3, c, sums, 1, 1, 1, 1, lp, ln),
                   VBPR_ERR_NUMERIC);
  c[2] = 0;
  sums[1] = INFINITY;
  ck_assert_status(vbpr_loss_item_log_priors(3, c, sums, 1, 1, 1, 1, lp, ln),
                   VBPR_ERR_NUMERIC);
  ck_assert_msg(strstr(vbpr_last_error(), "rating_sums[1] is inf") != NULL, "%s",
                vbpr_last_error());
  for (int k = 0; k < 3; k++) ck_assert(lp[k] == 9 && ln[k] == 9);
  /* the dataset entry point shares the weight check */
  vbpr_dataset *ds = make(true);
  float dp[4], dn[4];
  ck_assert_status(vbpr_dataset_item_log_priors(ds, 1, 1, 1, 2e6, 4, dp, dn),
                   VBPR_ERR_INVALID_ARGUMENT);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(presets_name_their_prior_weights)
{
  double a1 = -1, a2 = -1, b1 = -1, b2 = -1;
  for (size_t i = 0; i < vbpr_loss_preset_count(); i++) {
    ck_assert_ok(vbpr_loss_preset_prior_weights(vbpr_loss_preset_name(i), &a1, &a2, &b1,
                                                &b2));
    ck_assert(a1 >= 0 && a2 >= 0 && b1 >= 0 && b2 >= 0);
  }
  ck_assert_ok(vbpr_loss_preset_prior_weights("paper", &a1, &a2, &b1, &b2));
  ck_assert(a1 == 0 && a2 == 0 && b1 == 0 && b2 == 0);
  /* the best configuration was measured with priors (doc/loss.md) */
  ck_assert_ok(vbpr_loss_preset_prior_weights("Best", &a1, &a2, &b1, &b2));
  ck_assert(a1 + a2 + b1 + b2 > 0);
  double keep = a2;
  ck_assert_status(vbpr_loss_preset_prior_weights("fancy", &a1, &a2, &b1, &b2),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "unknown preset 'fancy'") != NULL, "%s",
                vbpr_last_error());
  ck_assert(a2 == keep);
  ck_assert_status(vbpr_loss_preset_prior_weights(NULL, &a1, &a2, &b1, &b2),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_preset_prior_weights("best", &a1, NULL, &b1, &b2),
                   VBPR_ERR_INVALID_ARGUMENT);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("priors");
  TCase *tc = tcase_create("priors");
  tcase_add_test(tc, priors_follow_the_formulas);
  tcase_add_test(tc, without_ratings_good_and_bad_are_constant);
  tcase_add_test(tc, bad_arguments_write_nothing);
  tcase_add_test(tc, arrays_and_dataset_agree_exactly);
  tcase_add_test(tc, arrays_take_a_hosts_own_popularity);
  tcase_add_test(tc, arrays_bad_arguments_write_nothing);
  tcase_add_test(tc, presets_name_their_prior_weights);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
