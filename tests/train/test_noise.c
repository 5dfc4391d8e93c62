/* Noise diagnosis: statistics per training interaction, the ranking, the
 * report file, and that Variational BPR's attention finds injected false
 * positives on synthetic data where the truth is known. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

/* Synthetic data with 20% injected false positives, labelled in the
 * training set's ratings (1 true, 0 injected). */
static void make_data(vbpr_dataset **train, vbpr_dataset **test)
{
  vbpr_synthetic *syn;
  ck_assert_ok(vbpr_synthetic_create(&syn));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_NUM_USERS, 300));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_NUM_ITEMS, 500));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_MEAN_PREFERENCES, 40));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_FALSE_POSITIVES, 0.2));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_LABELS, 1));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_SEED, 3));
  ck_assert_ok(vbpr_synthetic_generate(syn, train, test));
  vbpr_synthetic_destroy(syn);
}

static vbpr_trainer *make_trainer(vbpr_dataset *train, vbpr_loss_kind loss, int epochs)
{
  vbpr_trainer *tr;
  ck_assert_ok(vbpr_trainer_create(train, NULL, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 16));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_LOSS, loss));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EPOCHS, epochs));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_TRACK, 1));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, 256));
  ck_assert_ok(vbpr_optim_set(vbpr_trainer_optim(tr), VBPR_OPTIM_LR, 5e-3));
  return tr;
}

/* ROC AUC of detecting the injected interactions (rating 0) by the ranking:
 * the probability that a random injected one ranks before a random true one. */
static double injected_auc(const vbpr_trainer *tr, const vbpr_dataset *train,
                           vbpr_noise_rank by)
{
  size_t n = vbpr_dataset_num_interactions(train);
  size_t *order = malloc(n * sizeof *order);
  const float *ratings;
  ck_assert_ok(vbpr_dataset_csr(train, NULL, NULL, &ratings));
  ck_assert_ptr_nonnull(ratings);
  ck_assert_ok(vbpr_trainer_noise_ranking(tr, by, n, order));
  double injected = 0, pairs = 0, total = 0;
  for (size_t r = 0; r < n; r++) {
    if (ratings[order[r]] == 0) injected++;
    else pairs += injected, total++; /* injected ones ranked before this true one */
  }
  free(order);
  return pairs / (injected * total);
}

START_TEST(attention_finds_injected_false_positives)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = make_trainer(train, VBPR_LOSS_VARIATIONAL, 15);
  ck_assert_ok(vbpr_loss_set(vbpr_trainer_loss(tr), VBPR_LOSS_NUM_POS, 4));
  ck_assert_ok(vbpr_trainer_fit(tr));
  double auc = injected_auc(tr, train, VBPR_NOISE_RANK_WEIGHT);
  double auc_auto = injected_auc(tr, train, VBPR_NOISE_RANK_AUTO);
  ck_assert(auc == auc_auto); /* M = 4: AUTO ranks by weight */
  /* Measured 0.76 with this seed (chance is 0.5). */
  ck_assert_msg(auc > 0.7, "ROC AUC of the injected interactions %.3f", auc);
  /* Every interaction is an anchor once per epoch, plus drawn as an extra
   * positive. */
  size_t n = vbpr_dataset_num_interactions(train);
  uint32_t *visits = malloc(n * sizeof *visits);
  float *w = malloc(n * sizeof *w);
  ck_assert_ok(vbpr_trainer_noise_stats(tr, n, w, NULL, visits));
  double mean_w = 0;
  for (size_t e = 0; e < n; e++) {
    ck_assert_uint_ge(visits[e], 15);
    ck_assert(w[e] > 0 && w[e] < 4);
    mean_w += w[e] / (double)n;
  }
  ck_assert(fabs(mean_w - 1.0) < 0.1); /* M alpha averages 1 over a row */
  free(visits);
  free(w);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

/* BPR has no attention: every weight is 1 and AUTO ranks by loss, which
 * still separates the injected interactions better than chance. */
START_TEST(bpr_ranks_by_loss)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = make_trainer(train, VBPR_LOSS_BPR, 15);
  ck_assert_ok(vbpr_trainer_fit(tr));
  size_t n = vbpr_dataset_num_interactions(train);
  float *w = malloc(n * sizeof *w), *l = malloc(n * sizeof *l);
  ck_assert_ok(vbpr_trainer_noise_stats(tr, n, w, l, NULL));
  for (size_t e = 0; e < n; e++) ck_assert_float_eq(w[e], 1.0f);
  double auc = injected_auc(tr, train, VBPR_NOISE_RANK_AUTO);
  ck_assert(auc == injected_auc(tr, train, VBPR_NOISE_RANK_LOSS));
  ck_assert_msg(auc > 0.65, "ROC AUC by loss %.3f", auc); /* measured 0.74 */
  /* the ranking is sorted by loss, highest first */
  size_t order[64];
  ck_assert_ok(vbpr_trainer_noise_ranking(tr, VBPR_NOISE_RANK_LOSS, 64, order));
  for (int r = 1; r < 64; r++) ck_assert(l[order[r - 1]] >= l[order[r]]);
  free(w);
  free(l);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(report_file)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr = make_trainer(train, VBPR_LOSS_VARIATIONAL, 2);
  ck_assert_ok(vbpr_trainer_fit(tr));
  char dir[256], path[300];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/vbpr-noise-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/noise.tsv", dir);
  ck_assert_ok(vbpr_trainer_noise_report(tr, VBPR_NOISE_RANK_AUTO, 0, path));
  size_t n = vbpr_dataset_num_interactions(train), order[3];
  ck_assert_ok(vbpr_trainer_noise_ranking(tr, VBPR_NOISE_RANK_WEIGHT, 3, order));
  const int64_t *off;
  const int32_t *items;
  ck_assert_ok(vbpr_dataset_csr(train, &off, &items, NULL));
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  char line[512];
  size_t comments = 0, rows = 0;
  bool header = false;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') { comments++; continue; }
    if (!header) {
      ck_assert_str_eq(line, "rank\tuser\titem\trating\tweight\tloss\tvisits\n");
      header = true;
      continue;
    }
    long rank, user, item, visits;
    double rating, weight, loss;
    ck_assert_int_eq(sscanf(line, "%ld\t%ld\t%ld\t%lf\t%lf\t%lf\t%ld", &rank, &user, &item,
                            &rating, &weight, &loss, &visits), 7);
    ck_assert_int_eq(rank, (long)rows + 1);
    if (rows < 3) { /* the ranking's first interactions, by their ids */
      ck_assert_int_eq(item, items[order[rows]]);
      ck_assert(off[user] <= (int64_t)order[rows] && (int64_t)order[rows] < off[user + 1]);
    }
    ck_assert(rating == 0 || rating == 1);
    rows++;
  }
  fclose(f);
  ck_assert_uint_eq(comments, 3);
  ck_assert_uint_eq(rows, n);
  /* top limits the lines */
  ck_assert_ok(vbpr_trainer_noise_report(tr, VBPR_NOISE_RANK_LOSS, 10, path));
  f = fopen(path, "r");
  rows = 0;
  while (fgets(line, sizeof line, f)) rows += line[0] != '#';
  fclose(f);
  ck_assert_uint_eq(rows, 11);
  ck_assert_status(vbpr_trainer_noise_report(tr, VBPR_NOISE_RANK_LOSS, 0, ""),
                   VBPR_ERR_INVALID_ARGUMENT);
  snprintf(line, sizeof line, "%s/absent/noise.tsv", dir);
  ck_assert_status(vbpr_trainer_noise_report(tr, VBPR_NOISE_RANK_LOSS, 0, line), VBPR_ERR_IO);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "absent/noise.tsv"));
  unlink(path);
  rmdir(dir);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(errors)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  vbpr_trainer *tr;
  ck_assert_ok(vbpr_trainer_create(train, NULL, &tr));
  size_t n = vbpr_dataset_num_interactions(train), order[4];
  float *w = malloc(n * sizeof *w);
  ck_assert_status(vbpr_trainer_noise_stats(tr, n, w, NULL, NULL), VBPR_ERR_STATE);
  ck_assert_str_eq(vbpr_last_error(), "vbpr_trainer_noise_stats: no noise statistics: set "
                                      "noise_track to 1 before training");
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8));
  ck_assert_ok(vbpr_trainer_epoch(tr, NULL)); /* tracking off: nothing kept */
  ck_assert_status(vbpr_trainer_noise_ranking(tr, VBPR_NOISE_RANK_AUTO, 4, order),
                   VBPR_ERR_STATE);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_MOMENTUM, 1),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_TRACK, 2),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_TRACK, 1)); /* not structural */
  ck_assert_ok(vbpr_trainer_epoch(tr, NULL));
  ck_assert_status(vbpr_trainer_noise_stats(tr, n - 1, w, NULL, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_noise_stats(tr, n, w, NULL, NULL));
  ck_assert_status(vbpr_trainer_noise_ranking(tr, 0, 4, order), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_noise_ranking(tr, VBPR_NOISE_RANK_LOSS, 4, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_noise_ranking(tr, VBPR_NOISE_RANK_LOSS, 0, NULL));
  ck_assert_status(vbpr_trainer_noise_stats(NULL, n, w, NULL, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_noise_report(tr, VBPR_NOISE_RANK_LOSS, 0, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  free(w);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

int main(void)
{
  if (!vbpr_has_module(VBPR_MODULE_MF)) { /* the trainers here train MF */
    fprintf(stderr, "SKIP: the mf module is not built\n");
    return 77; /* Meson's skip code */
  }
  Suite *s = suite_create("noise");
  TCase *tc = tcase_create("noise");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, attention_finds_injected_false_positives);
  tcase_add_test(tc, bpr_ranks_by_loss);
  tcase_add_test(tc, report_file);
  tcase_add_test(tc, errors);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
