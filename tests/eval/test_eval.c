/* Black-box tests of the evaluator and vbpr_recommend (shared library). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vbpr/vbpr.h"
#include "vbpr/dataset.h"
#include "vbpr/eval.h"

#define EPS 1e-12

/* ---- helpers ----------------------------------------------------------- */

/* Dataset from (user, item) pairs pairs[2*i], pairs[2*i+1]. */
static vbpr_dataset *make_ds(int32_t nu, int32_t ni, const int32_t *pairs, size_t n)
{
  int32_t *u = malloc((size_t)(n ? n : 1) * sizeof *u);
  int32_t *it = malloc((size_t)(n ? n : 1) * sizeof *it);
  ck_assert(u && it);
  for (size_t i = 0; i < n; i++) {
    u[i] = pairs[2 * i];
    it[i] = pairs[2 * i + 1];
  }
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_create(nu, ni, n, u, it, NULL, NULL, &ds));
  free(u);
  free(it);
  return ds;
}

static double metric(const vbpr_evaluator *ev, vbpr_metric m, int32_t k)
{
  double v = -1.0;
  ck_assert_ok(vbpr_evaluator_metric(ev, m, k, &v));
  return v;
}

#define ck_assert_near(a, b)                                                     \
  do {                                                                           \
    double a_ = (a), b_ = (b);                                                   \
    ck_assert_msg(fabs(a_ - b_) <= EPS, "%s = %.15g, expected %.15g", #a, a_, b_); \
  } while (0)

static void assert_error_mentions(const char *needle)
{
  ck_assert_msg(strstr(vbpr_last_error(), needle) != NULL, "message '%s' lacks '%s'",
                vbpr_last_error(), needle);
}

/* ---- the hand-computed case ---------------------------------------------- */

/*
 * 3 users, 6 items, dim 3. User u's embedding is the unit vector e_u, so
 * user u's score for item i is column u of item i's row:
 *   user 0: [5 9 1 3 4 2]  train {1}    test {0, 3}
 *   user 1: anything       train {0, 5} test {} (skipped)
 *   user 2: [0 0 7 1 1 1]  train {2}    test {4}
 * Rankings (train items excluded, equal scores by lower id):
 *   user 0: 0 4 3 5 2   (item 1 scores highest but is a training item)
 *   user 2: 3 4 5 0 1   (three-way tie 3/4/5, two-way tie 0/1)
 */
static const float hand_users[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
static const float hand_items[18] = {5, 8, 0, 9, 7, 0, 1, 6, 7, 3, 5, 1, 4, 4, 1, 2, 3, 1};
static const int32_t hand_train[] = {0, 1, 1, 0, 1, 5, 2, 2};
static const int32_t hand_test[] = {0, 0, 0, 3, 2, 4};

typedef struct fixture {
  vbpr_dataset *train, *test;
  vbpr_evaluator *ev;
} fixture;

static fixture hand_fixture(void)
{
  fixture f;
  f.train = make_ds(3, 6, hand_train, 4);
  f.test = make_ds(3, 6, hand_test, 3);
  ck_assert_ok(vbpr_evaluator_create(f.train, f.test, &f.ev));
  return f;
}

static void fixture_free(fixture *f)
{
  vbpr_evaluator_destroy(f->ev);
  vbpr_dataset_destroy(f->train);
  vbpr_dataset_destroy(f->test);
}

START_TEST(hand_computed_metrics)
{
  fixture f = hand_fixture();
  const size_t ks[] = {3, 2};
  ck_assert_ok(vbpr_evaluator_set_ks(f.ev, 2, ks));
  ck_assert_ok(vbpr_evaluator_run(f.ev, 3, 6, 3, hand_users, hand_items));
  ck_assert_int_eq(vbpr_evaluator_num_users_evaluated(f.ev), 2);
  double l2 = 1.0 / log2(3.0), l3 = 1.0 / log2(4.0);
  /* K = 2: user 0 [0 4] one hit at rank 1; user 2 [3 4] one hit at rank 2 */
  ck_assert_near(metric(f.ev, VBPR_METRIC_PRECISION, 2), (0.5 + 0.5) / 2);
  ck_assert_near(metric(f.ev, VBPR_METRIC_RECALL, 2), (0.5 + 1.0) / 2);
  ck_assert_near(metric(f.ev, VBPR_METRIC_NDCG, 2), (1.0 / (1.0 + l2) + l2 / 1.0) / 2);
  ck_assert_near(metric(f.ev, VBPR_METRIC_F1, 2), (2.0 / 4 + 2.0 / 3) / 2);
  ck_assert_near(metric(f.ev, VBPR_METRIC_HIT_RATE, 2), 1.0);
  /* K = 3: user 0 [0 4 3] hits at ranks 1 and 3; user 2 [3 4 5] rank 2 */
  ck_assert_near(metric(f.ev, VBPR_METRIC_PRECISION, 3), (2.0 / 3 + 1.0 / 3) / 2);
  ck_assert_near(metric(f.ev, VBPR_METRIC_RECALL, 3), 1.0);
  ck_assert_near(metric(f.ev, VBPR_METRIC_NDCG, 3), ((1.0 + l3) / (1.0 + l2) + l2) / 2);
  ck_assert_near(metric(f.ev, VBPR_METRIC_F1, 3), (4.0 / 5 + 2.0 / 4) / 2);
  /* long tail: floor(0.85 * 6) = 5 items by (count, id): 3 4 0 1 2; head: 5 */
  ck_assert_near(metric(f.ev, VBPR_METRIC_APLT, 2), 1.0);
  ck_assert_near(metric(f.ev, VBPR_METRIC_APLT, 3), (1.0 + 2.0 / 3) / 2);
  fixture_free(&f);
}
END_TEST

START_TEST(per_user_values_and_skipped_users)
{
  fixture f = hand_fixture();
  ck_assert_ok(vbpr_evaluator_run(f.ev, 3, 6, 3, hand_users, hand_items));
  double v[4] = {-7, -7, -7, -7};
  /* default K is 20: every list is the 5 candidates */
  ck_assert_ok(vbpr_evaluator_user_metric(f.ev, VBPR_METRIC_PRECISION, 20, 4, v));
  ck_assert_near(v[0], 2.0 / 20); /* divided by K even with 5 items listed */
  ck_assert(isnan(v[1]));          /* no test items: skipped */
  ck_assert_near(v[2], 1.0 / 20);
  ck_assert(v[3] == -7);           /* beyond the run's users: untouched */
  ck_assert_ok(vbpr_evaluator_user_metric(f.ev, VBPR_METRIC_HIT_RATE, 20, 3, v));
  ck_assert_near(v[0], 1.0);
  ck_assert_near(v[2], 1.0);
  ck_assert_ok(vbpr_evaluator_user_metric(f.ev, VBPR_METRIC_NDCG, 20, 3, v));
  double l2 = 1.0 / log2(3.0);
  ck_assert_near(v[0], (1.0 + 1.0 / log2(4.0)) / (1.0 + l2));
  ck_assert_near(v[2], l2);
  /* the average is the mean over evaluated users only */
  ck_assert_near(metric(f.ev, VBPR_METRIC_NDCG, 20), (v[0] + v[2]) / 2);
  ck_assert_status(vbpr_evaluator_user_metric(f.ev, VBPR_METRIC_NDCG, 20, 2, v),
                   VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("len");
  fixture_free(&f);
}
END_TEST

START_TEST(fewer_candidates_than_k)
{
  /* 4 items, user 0 trains on 2: only 2 candidates for K = 5 */
  const int32_t tr[] = {0, 0, 0, 2};
  const int32_t te[] = {0, 1, 0, 3};
  vbpr_dataset *train = make_ds(1, 4, tr, 2), *test = make_ds(1, 4, te, 2);
  vbpr_evaluator *ev = NULL;
  ck_assert_ok(vbpr_evaluator_create(train, test, &ev));
  const size_t ks[] = {1, 5};
  ck_assert_ok(vbpr_evaluator_set_ks(ev, 2, ks));
  const float u[1] = {1};
  const float it[4] = {4, 1, 3, 2}; /* candidates: 3 (2) then 1 (1) */
  ck_assert_ok(vbpr_evaluator_run(ev, 1, 4, 1, u, it));
  ck_assert_near(metric(ev, VBPR_METRIC_PRECISION, 1), 1.0);
  ck_assert_near(metric(ev, VBPR_METRIC_PRECISION, 5), 2.0 / 5);
  ck_assert_near(metric(ev, VBPR_METRIC_RECALL, 5), 1.0);
  ck_assert_near(metric(ev, VBPR_METRIC_NDCG, 5), 1.0);
  ck_assert_near(metric(ev, VBPR_METRIC_F1, 5), 2.0 * 2 / (5 + 2));
  ck_assert_near(metric(ev, VBPR_METRIC_RECALL, 1), 0.5);
  ck_assert_near(metric(ev, VBPR_METRIC_NDCG, 1), 1.0); /* IDCG over min(2, 1) */
  /* tail: floor(0.85 * 4) = 3 by (count, id): 1 3 0 (0 and 2 tie at 1) */
  ck_assert_near(metric(ev, VBPR_METRIC_APLT, 5), 2.0 / 5);
  vbpr_evaluator_destroy(ev);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(long_tail_cut_breaks_ties_by_id)
{
  /* counts: items 0..3 once each, item 4 twice, item 5 never.
   * share 0.5 -> 3 tail items by (count, id): 5, 0, 1. */
  const int32_t tr[] = {0, 0, 0, 1, 1, 2, 1, 3, 2, 4, 3, 4};
  const int32_t te[] = {4, 0, 5, 0};
  vbpr_dataset *train = make_ds(6, 6, tr, 6), *test = make_ds(6, 6, te, 2);
  vbpr_evaluator *ev = NULL;
  ck_assert_ok(vbpr_evaluator_create(train, test, &ev));
  const size_t k1[] = {1};
  ck_assert_ok(vbpr_evaluator_set_ks(ev, 1, k1));
  ck_assert_ok(vbpr_evaluator_set_long_tail_share(ev, 0.5));
  /* user 4 top-1 is item 1 (tail), user 5 top-1 is item 2 (head: same count
   * as item 1 but a larger id) */
  float u[12] = {0};
  u[4 * 2] = 1;
  u[5 * 2 + 1] = 1;
  const float it[12] = {0, 0, 9, 0, 0, 9, 0, 0, 0, 0, 0, 0};
  ck_assert_ok(vbpr_evaluator_run(ev, 6, 6, 2, u, it));
  double v[6];
  ck_assert_ok(vbpr_evaluator_user_metric(ev, VBPR_METRIC_APLT, 1, 6, v));
  ck_assert_near(v[4], 1.0);
  ck_assert_near(v[5], 0.0);
  /* share 1: everything is long tail */
  ck_assert_ok(vbpr_evaluator_set_long_tail_share(ev, 1.0));
  ck_assert_ok(vbpr_evaluator_run(ev, 6, 6, 2, u, it));
  ck_assert_near(metric(ev, VBPR_METRIC_APLT, 1), 1.0);
  ck_assert_status(vbpr_evaluator_set_long_tail_share(ev, 0.0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_set_long_tail_share(ev, NAN), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_set_long_tail_share(ev, 1.5), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("share");
  vbpr_evaluator_destroy(ev);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

START_TEST(training_items_never_ranked)
{
  /* Every user trains on the item with by far the highest score; with it
   * test-only, a leak would show up as a hit. */
  enum { NU = 40, NI = 30 };
  int32_t tr[2 * NU], te[2 * NU];
  for (int32_t u = 0; u < NU; u++) {
    tr[2 * u] = u;
    tr[2 * u + 1] = u % NI;
    te[2 * u] = u;
    te[2 * u + 1] = (u + 1) % NI;
  }
  vbpr_dataset *train = make_ds(NU, NI, tr, NU), *test = make_ds(NU, NI, te, NU);
  float ue[NU * NI], ie[NI * NI];
  memset(ie, 0, sizeof ie);
  for (int32_t i = 0; i < NI; i++) ie[i * NI + i] = 1; /* item i = e_i */
  for (int32_t u = 0; u < NU; u++)
    for (int32_t i = 0; i < NI; i++)
      ue[u * NI + i] = i == u % NI ? 100.0f : (float)((i * 7 + u) % 11);
  vbpr_evaluator *ev = NULL;
  ck_assert_ok(vbpr_evaluator_create(train, test, &ev));
  ck_assert_ok(vbpr_evaluator_run(ev, NU, NI, NI, ue, ie));
  int32_t users[NU], items[NU * 5];
  float scores[NU * 5];
  for (int32_t u = 0; u < NU; u++) users[u] = u;
  ck_assert_ok(vbpr_recommend(train, NU, NI, NI, ue, ie, NU, users, 5, items, scores));
  for (int32_t u = 0; u < NU; u++)
    for (int r = 0; r < 5; r++) {
      ck_assert_int_ne(items[u * 5 + r], u % NI);
      ck_assert(scores[u * 5 + r] < 100.0f);
    }
  /* Without train, the 100-point item leads every list. */
  ck_assert_ok(vbpr_recommend(NULL, NU, NI, NI, ue, ie, NU, users, 5, items, scores));
  for (int32_t u = 0; u < NU; u++) {
    ck_assert_int_eq(items[u * 5], u % NI);
    ck_assert(scores[u * 5] == 100.0f);
  }
  /* And when the test item is the training item, it can never be hit. */
  vbpr_dataset *test2 = make_ds(NU, NI, tr, NU);
  vbpr_evaluator *ev2 = NULL;
  ck_assert_ok(vbpr_evaluator_create(train, test2, &ev2));
  ck_assert_ok(vbpr_evaluator_run(ev2, NU, NI, NI, ue, ie));
  ck_assert_near(metric(ev2, VBPR_METRIC_HIT_RATE, 20), 0.0);
  vbpr_evaluator_destroy(ev2);
  vbpr_dataset_destroy(test2);
  vbpr_evaluator_destroy(ev);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

/* ---- brute-force cross-check on integer embeddings ------------------------ */

/* Small integer entries make every score an exact small integer, so the
 * reference below can compute them naively and ties are frequent. */
typedef struct bigcase {
  int32_t nu, ni;
  size_t dim;
  float *ue, *ie;
  vbpr_dataset *train, *test;
} bigcase;

static uint64_t lcg(uint64_t *s)
{
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

static bigcase big_case(int32_t nu, int32_t ni, size_t dim, uint64_t seed)
{
  bigcase c = {nu, ni, dim, malloc((size_t)nu * dim * sizeof(float)),
               malloc((size_t)ni * dim * sizeof(float)), NULL, NULL};
  ck_assert(c.ue && c.ie);
  for (size_t i = 0; i < (size_t)nu * dim; i++) c.ue[i] = (float)((int)(lcg(&seed) % 7) - 3);
  for (size_t i = 0; i < (size_t)ni * dim; i++) c.ie[i] = (float)((int)(lcg(&seed) % 7) - 3);
  int32_t *tr = malloc((size_t)nu * (size_t)ni * 2 * sizeof *tr);
  int32_t *te = malloc((size_t)nu * (size_t)ni * 2 * sizeof *te);
  ck_assert(tr && te);
  int64_t ntr = 0, nte = 0;
  for (int32_t u = 0; u < nu; u++)
    for (int32_t i = 0; i < ni; i++) {
      uint64_t r = lcg(&seed) % 100;
      if (r < 15) { tr[2 * ntr] = u; tr[2 * ntr++ + 1] = i; }
      else if (r < 20 && u % 7 != 3) { te[2 * nte] = u; te[2 * nte++ + 1] = i; }
    }
  c.train = make_ds(nu, ni, tr, ntr);
  c.test = make_ds(nu, ni, te, nte);
  free(tr);
  free(te);
  return c;
}

static void big_free(bigcase *c)
{
  free(c->ue);
  free(c->ie);
  vbpr_dataset_destroy(c->train);
  vbpr_dataset_destroy(c->test);
}

static float ref_score(const bigcase *c, int32_t u, int32_t i)
{
  float s = 0;
  for (size_t d = 0; d < c->dim; d++) s += c->ue[u * c->dim + d] * c->ie[i * c->dim + d];
  return s;
}

/* Reference top-k of one user by insertion over every candidate, in
 * increasing id order: an item goes before those scoring strictly less. */
static int32_t ref_topk(const bigcase *c, int32_t u, int32_t k, int32_t *list)
{
  float sc[64];
  int32_t n = 0;
  for (int32_t i = 0; i < c->ni; i++) {
    if (vbpr_dataset_contains(c->train, u, i)) continue;
    float s = ref_score(c, u, i);
    int32_t pos = n;
    while (pos > 0 && sc[pos - 1] < s) {
      if (pos < k) {
        sc[pos] = sc[pos - 1];
        list[pos] = list[pos - 1];
      }
      pos--;
    }
    if (pos < k) {
      sc[pos] = s;
      list[pos] = i;
      if (n < k) n++;
    }
  }
  return n;
}

static double ref_metric(const bigcase *c, int32_t u, int32_t k, vbpr_metric m,
                         const uint8_t *tail)
{
  int32_t list[64];
  int32_t len = ref_topk(c, u, k, list);
  const int32_t *t;
  size_t n;
  ck_assert_ok(vbpr_dataset_user_items(c->test, u, &t, &n));
  ck_assert_int_gt(n, 0);
  double h = 0, dcg = 0, idcg = 0, lt = 0;
  for (int32_t r = 0; r < len; r++) {
    if (vbpr_dataset_contains(c->test, u, list[r])) {
      h++;
      dcg += 1.0 / log2(r + 2.0);
    }
    lt += tail[list[r]];
  }
  for (int32_t r = 0; r < ((int32_t)n < k ? (int32_t)n : k); r++) idcg += 1.0 / log2(r + 2.0);
  switch (m) {
  case VBPR_METRIC_PRECISION: return h / k;
  case VBPR_METRIC_RECALL: return h / (double)n;
  case VBPR_METRIC_NDCG: return dcg / idcg;
  case VBPR_METRIC_F1: return (h / k + h / n) > 0 ? 2 * (h / k) * (h / n) / (h / k + h / n) : 0;
  case VBPR_METRIC_HIT_RATE: return h > 0;
  case VBPR_METRIC_APLT: return lt / k;
  }
  return NAN;
}

/* Long-tail mask by the documented rule, computed the slow way. */
static void ref_tail(const bigcase *c, double share, uint8_t *tail)
{
  const int64_t *cnt;
  ck_assert_ok(vbpr_dataset_item_counts(c->train, &cnt));
  int32_t n_train = vbpr_dataset_num_items(c->train);
  int32_t want = (int32_t)floor(share * c->ni);
  memset(tail, 0, (size_t)c->ni);
  for (int32_t t = 0; t < want; t++) {
    int32_t best = -1;
    int64_t best_cnt = 0;
    for (int32_t i = 0; i < c->ni; i++) {
      int64_t ci = i < n_train ? cnt[i] : 0; /* beyond train's universe: 0 */
      if (!tail[i] && (best < 0 || ci < best_cnt)) {
        best = i;
        best_cnt = ci;
      }
    }
    tail[best] = 1;
  }
}

START_TEST(matches_brute_force)
{
  bigcase c = big_case(150, 90, 6, 12345);
  vbpr_evaluator *ev = NULL;
  ck_assert_ok(vbpr_evaluator_create(c.train, c.test, &ev));
  const size_t ks[] = {10, 1, 5, 40};
  ck_assert_ok(vbpr_evaluator_set_ks(ev, 4, ks));
  ck_assert_ok(vbpr_evaluator_run(ev, c.nu, c.ni, c.dim, c.ue, c.ie));
  uint8_t tail[90];
  ref_tail(&c, 0.85, tail);
  double *v = malloc((size_t)c.nu * sizeof *v);
  int evaluated = 0;
  for (int m = VBPR_METRIC_PRECISION; m <= VBPR_METRIC_APLT; m++)
    for (int j = 0; j < 4; j++) {
      ck_assert_ok(vbpr_evaluator_user_metric(ev, (vbpr_metric)m, ks[j], (size_t)c.nu, v));
      double sum = 0;
      int cnt = 0;
      for (int32_t u = 0; u < c.nu; u++) {
        const int32_t *t;
        size_t n;
        ck_assert_ok(vbpr_dataset_user_items(c.test, u, &t, &n));
        if (n == 0) {
          ck_assert_msg(isnan(v[u]), "user %d has no test items", u);
          continue;
        }
        double want = ref_metric(&c, u, ks[j], (vbpr_metric)m, tail);
        ck_assert_msg(fabs(v[u] - want) <= EPS, "metric %d k %zu user %d: %.15g vs %.15g", m,
                      ks[j], u, v[u], want);
        sum += want;
        cnt++;
      }
      evaluated = cnt;
      ck_assert_msg(fabs(metric(ev, (vbpr_metric)m, ks[j]) - sum / cnt) <= 1e-9,
                    "average of metric %d at %zu", m, ks[j]);
    }
  ck_assert_int_eq(vbpr_evaluator_num_users_evaluated(ev), evaluated);
  free(v);
  vbpr_evaluator_destroy(ev);
  big_free(&c);
}
END_TEST

START_TEST(several_k_equal_separate_runs)
{
  bigcase c = big_case(120, 70, 5, 777);
  vbpr_evaluator *all = NULL, *one = NULL;
  ck_assert_ok(vbpr_evaluator_create(c.train, c.test, &all));
  ck_assert_ok(vbpr_evaluator_create(c.train, c.test, &one));
  const size_t ks[] = {50, 3, 20, 1, 7};
  ck_assert_ok(vbpr_evaluator_set_ks(all, 5, ks));
  ck_assert_ok(vbpr_evaluator_run(all, c.nu, c.ni, c.dim, c.ue, c.ie));
  double va[120], vo[120];
  for (int j = 0; j < 5; j++) {
    ck_assert_ok(vbpr_evaluator_set_ks(one, 1, &ks[j]));
    ck_assert_ok(vbpr_evaluator_run(one, c.nu, c.ni, c.dim, c.ue, c.ie));
    for (int m = VBPR_METRIC_PRECISION; m <= VBPR_METRIC_APLT; m++) {
      ck_assert(metric(all, (vbpr_metric)m, ks[j]) == metric(one, (vbpr_metric)m, ks[j]));
      ck_assert_ok(vbpr_evaluator_user_metric(all, (vbpr_metric)m, ks[j], 120, va));
      ck_assert_ok(vbpr_evaluator_user_metric(one, (vbpr_metric)m, ks[j], 120, vo));
      ck_assert(memcmp(va, vo, sizeof va) == 0);
    }
  }
  vbpr_evaluator_destroy(all);
  vbpr_evaluator_destroy(one);
  big_free(&c);
}
END_TEST

START_TEST(same_results_for_any_thread_count)
{
  /* Non-integer embeddings: the scores come from sgemm rounding. Enough
   * users for many blocks. */
  bigcase c = big_case(700, 300, 16, 99);
  uint64_t s = 5;
  for (size_t i = 0; i < (size_t)c.nu * c.dim; i++) c.ue[i] = (float)(lcg(&s) % 1000) / 997.0f - 0.5f;
  for (size_t i = 0; i < (size_t)c.ni * c.dim; i++) c.ie[i] = (float)(lcg(&s) % 1000) / 991.0f - 0.5f;
  const size_t ks[] = {5, 20};
  double avg[2][6][2];
  double *per[2];
  int32_t *rec[2];
  float *rsc[2];
  int32_t users[700];
  for (int32_t u = 0; u < 700; u++) users[u] = 699 - u;
  for (int t = 0; t < 2; t++) {
    ck_assert_ok(vbpr_set_num_threads(t + 1));
    vbpr_evaluator *ev = NULL;
    ck_assert_ok(vbpr_evaluator_create(c.train, c.test, &ev));
    ck_assert_ok(vbpr_evaluator_set_ks(ev, 2, ks));
    ck_assert_ok(vbpr_evaluator_run(ev, c.nu, c.ni, c.dim, c.ue, c.ie));
    per[t] = malloc(700 * 6 * 2 * sizeof(double));
    for (int m = 0; m < 6; m++)
      for (int j = 0; j < 2; j++) {
        avg[t][m][j] = metric(ev, (vbpr_metric)(m + 1), ks[j]);
        ck_assert_ok(vbpr_evaluator_user_metric(ev, (vbpr_metric)(m + 1), ks[j],
                                           700, per[t] + (m * 2 + j) * 700));
      }
    vbpr_evaluator_destroy(ev);
    rec[t] = malloc(700 * 20 * sizeof(int32_t));
    rsc[t] = malloc(700 * 20 * sizeof(float));
    ck_assert_ok(vbpr_recommend(c.train, c.nu, c.ni, c.dim, c.ue, c.ie, 700, users, 20,
                                rec[t], rsc[t]));
  }
  ck_assert(memcmp(avg[0], avg[1], sizeof avg[0]) == 0);
  /* NaN markers compare unequal as doubles but equal as bytes */
  ck_assert(memcmp(per[0], per[1], 700 * 6 * 2 * sizeof(double)) == 0);
  ck_assert(memcmp(rec[0], rec[1], 700 * 20 * sizeof(int32_t)) == 0);
  ck_assert(memcmp(rsc[0], rsc[1], 700 * 20 * sizeof(float)) == 0);
  ck_assert(avg[0][VBPR_METRIC_RECALL - 1][1] > 0); /* the case is not trivial */
  for (int t = 0; t < 2; t++) {
    free(per[t]);
    free(rec[t]);
    free(rsc[t]);
  }
  ck_assert_ok(vbpr_set_num_threads(0));
  big_free(&c);
}
END_TEST

START_TEST(datasets_may_be_destroyed_first)
{
  /* The evaluator keeps its own references to the datasets. */
  fixture f = hand_fixture();
  vbpr_dataset_destroy(f.train);
  vbpr_dataset_destroy(f.test);
  f.train = f.test = NULL;
  ck_assert_ok(vbpr_evaluator_run(f.ev, 3, 6, 3, hand_users, hand_items));
  ck_assert_near(metric(f.ev, VBPR_METRIC_RECALL, 20), 1.0);
  fixture_free(&f);
}
END_TEST

START_TEST(universes_may_differ)
{
  /* test: 1 user (fewer than train's 3), 7 items (more than train's 6) */
  vbpr_dataset *train = make_ds(3, 6, hand_train, 4);
  const int32_t te[] = {0, 6, 0, 3};
  vbpr_dataset *test = make_ds(1, 7, te, 2);
  vbpr_evaluator *ev = NULL;
  ck_assert_ok(vbpr_evaluator_create(train, test, &ev));
  ck_assert_int_eq(vbpr_evaluator_num_users_evaluated(ev), 1);
  ck_assert_status(vbpr_evaluator_run(ev, 3, 6, 3, hand_users, hand_items), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("test set's 7 items");
  float it7[21];
  memcpy(it7, hand_items, sizeof hand_items);
  it7[18] = 4.5f; it7[19] = 0; it7[20] = 0; /* item 6 */
  /* user 0 ranks 0 (5), 6 (4.5), 4 (4), 3 (3), ...; test {3, 6} */
  const size_t k2[] = {2};
  ck_assert_ok(vbpr_evaluator_set_ks(ev, 1, k2));
  ck_assert_ok(vbpr_evaluator_run(ev, 3, 7, 3, hand_users, it7));
  ck_assert_near(metric(ev, VBPR_METRIC_RECALL, 2), 0.5);
  ck_assert_near(metric(ev, VBPR_METRIC_NDCG, 2), (1.0 / log2(3.0)) / (1.0 + 1.0 / log2(3.0)));
  /* a user table smaller than the test universe is refused */
  vbpr_dataset *test3 = make_ds(3, 6, hand_test, 3);
  vbpr_evaluator *ev3 = NULL;
  ck_assert_ok(vbpr_evaluator_create(train, test3, &ev3));
  ck_assert_status(vbpr_evaluator_run(ev3, 2, 6, 3, hand_users, hand_items), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("test set's 3 users");
  vbpr_evaluator_destroy(ev3);
  vbpr_dataset_destroy(test3);
  vbpr_evaluator_destroy(ev);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

START_TEST(create_errors)
{
  fixture f = hand_fixture();
  vbpr_evaluator *ev = (vbpr_evaluator *)&f; /* must come back NULL */
  ck_assert_status(vbpr_evaluator_create(NULL, f.test, &ev), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("vbpr_evaluator_create: train");
  ck_assert_status(vbpr_evaluator_create(f.train, NULL, &ev), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_create(f.train, f.test, NULL), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_dataset *empty = make_ds(3, 6, NULL, 0);
  ck_assert_status(vbpr_evaluator_create(f.train, empty, &ev), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("no user with test items");
  ck_assert_ptr_null(ev);
  vbpr_dataset_destroy(empty);
  vbpr_evaluator_destroy(NULL);
  ck_assert_int_eq(vbpr_evaluator_num_users_evaluated(NULL), 0);
  fixture_free(&f);
}
END_TEST

START_TEST(set_ks_errors_keep_old_set)
{
  fixture f = hand_fixture();
  const size_t good[] = {2, 3};
  ck_assert_ok(vbpr_evaluator_set_ks(f.ev, 2, good));
  size_t bad0[] = {0}, badneg[] = {3, SIZE_MAX}, huge[] = {VBPR_EVALUATOR_MAX_K + 1}, dup[] = {5, 7, 5};
  ck_assert_status(vbpr_evaluator_set_ks(f.ev, 1, bad0), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("ks[0]");
  ck_assert_status(vbpr_evaluator_set_ks(f.ev, 2, badneg), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("ks[1]");
  ck_assert_status(vbpr_evaluator_set_ks(f.ev, 1, huge), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_set_ks(f.ev, 3, dup), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("repeats");
  ck_assert_status(vbpr_evaluator_set_ks(f.ev, 0, good), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_set_ks(f.ev, VBPR_EVALUATOR_MAX_KS + 1, good),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_set_ks(f.ev, 1, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_set_ks(NULL, 1, good), VBPR_ERR_INVALID_ARGUMENT);
  /* the old set {2, 3} still holds */
  ck_assert_ok(vbpr_evaluator_run(f.ev, 3, 6, 3, hand_users, hand_items));
  ck_assert_near(metric(f.ev, VBPR_METRIC_RECALL, 3), 1.0);
  double v = 0;
  ck_assert_status(vbpr_evaluator_metric(f.ev, VBPR_METRIC_RECALL, 20, &v), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("k = 20");
  /* the largest K is accepted */
  size_t max[] = {VBPR_EVALUATOR_MAX_K};
  ck_assert_ok(vbpr_evaluator_set_ks(f.ev, 1, max));
  ck_assert_ok(vbpr_evaluator_run(f.ev, 3, 6, 3, hand_users, hand_items));
  ck_assert_near(metric(f.ev, VBPR_METRIC_RECALL, VBPR_EVALUATOR_MAX_K), 1.0);
  fixture_free(&f);
}
END_TEST

START_TEST(run_errors)
{
  fixture f = hand_fixture();
  ck_assert_status(vbpr_evaluator_run(NULL, 3, 6, 3, hand_users, hand_items), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_run(f.ev, 3, 6, 3, NULL, hand_items), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("user_emb");
  ck_assert_status(vbpr_evaluator_run(f.ev, 3, 6, 3, hand_users, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_run(f.ev, 2, 6, 3, hand_users, hand_items), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("num_users");
  ck_assert_status(vbpr_evaluator_run(f.ev, 3, 5, 3, hand_users, hand_items), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("num_items");
  ck_assert_status(vbpr_evaluator_run(f.ev, 3, -6, 3, hand_users, hand_items), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_run(f.ev, 3, 6, 0, hand_users, hand_items), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("dim");
  ck_assert_status(vbpr_evaluator_run(f.ev, 3, 6, SIZE_MAX / 2, hand_users, hand_items),
                   VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("overflow");
  double v = 0;
  ck_assert_status(vbpr_evaluator_metric(f.ev, VBPR_METRIC_RECALL, 20, &v), VBPR_ERR_STATE);
  ck_assert_ok(vbpr_evaluator_run(f.ev, 3, 6, 3, hand_users, hand_items));
  ck_assert_status(vbpr_evaluator_metric(f.ev, (vbpr_metric)0, 20, &v), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("metric");
  ck_assert_status(vbpr_evaluator_metric(f.ev, (vbpr_metric)7, 20, &v), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_metric(f.ev, VBPR_METRIC_RECALL, 20, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_evaluator_metric(NULL, VBPR_METRIC_RECALL, 20, &v), VBPR_ERR_INVALID_ARGUMENT);
  /* a setting change drops the results */
  ck_assert_ok(vbpr_evaluator_set_long_tail_share(f.ev, 0.5));
  ck_assert_status(vbpr_evaluator_metric(f.ev, VBPR_METRIC_RECALL, 20, &v), VBPR_ERR_STATE);
  assert_error_mentions("vbpr_evaluator_run");
  fixture_free(&f);
}
END_TEST

START_TEST(non_finite_embeddings)
{
  fixture f = hand_fixture();
  float u[9], it[18];
  memcpy(u, hand_users, sizeof u);
  memcpy(it, hand_items, sizeof it);
  u[2 * 3 + 1] = NAN; /* user 2, an evaluated user */
  ck_assert_status(vbpr_evaluator_run(f.ev, 3, 6, 3, u, it), VBPR_ERR_NUMERIC);
  assert_error_mentions("user_emb[2 * dim + 1]");
  double v = 0;
  ck_assert_status(vbpr_evaluator_metric(f.ev, VBPR_METRIC_RECALL, 20, &v), VBPR_ERR_STATE);
  memcpy(u, hand_users, sizeof u);
  it[4 * 3 + 2] = INFINITY;
  ck_assert_status(vbpr_evaluator_run(f.ev, 3, 6, 3, u, it), VBPR_ERR_NUMERIC);
  assert_error_mentions("item_emb[4 * dim + 2]");
  /* the evaluator still works afterwards */
  ck_assert_ok(vbpr_evaluator_run(f.ev, 3, 6, 3, hand_users, hand_items));
  fixture_free(&f);
}
END_TEST

/* ---- recommend ------------------------------------------------------------- */

START_TEST(recommend_ranks_and_pads)
{
  vbpr_dataset *train = make_ds(3, 6, hand_train, 4);
  const int32_t users[] = {2, 0, 2};
  int32_t items[3 * 6];
  float scores[3 * 6];
  ck_assert_ok(vbpr_recommend(train, 3, 6, 3, hand_users, hand_items, 3, users, 6, items,
                              scores));
  const int32_t want_items[] = {3, 4, 5, 0, 1, -1, 0, 4, 3, 5, 2, -1, 3, 4, 5, 0, 1, -1};
  const float want_scores[] = {1, 1, 1, 0, 0, -INFINITY, 5, 4, 3, 2, 1, -INFINITY,
                               1, 1, 1, 0, 0, -INFINITY};
  for (int i = 0; i < 18; i++) {
    ck_assert_int_eq(items[i], want_items[i]);
    ck_assert(scores[i] == want_scores[i]);
  }
  /* user 1 (train {0, 5}); scores_out may be NULL */
  const int32_t u1[] = {1};
  int32_t top2[2];
  ck_assert_ok(vbpr_recommend(train, 3, 6, 3, hand_users, hand_items, 1, u1, 2, top2, NULL));
  ck_assert_int_eq(top2[0], 1); /* column 1: [8 7 6 5 4 3] minus {0, 5} */
  ck_assert_int_eq(top2[1], 2);
  /* a longer item table than train's universe: extra items are candidates */
  float it7[21];
  memcpy(it7, hand_items, sizeof hand_items);
  it7[18] = 100; it7[19] = 0; it7[20] = 0;
  ck_assert_ok(vbpr_recommend(train, 3, 7, 3, hand_users, it7, 1, u1 + 0, 1, top2, NULL));
  ck_assert_int_eq(top2[0], 1);
  const int32_t u0[] = {0};
  ck_assert_ok(vbpr_recommend(train, 3, 7, 3, hand_users, it7, 1, u0, 1, top2, NULL));
  ck_assert_int_eq(top2[0], 6);
  vbpr_dataset_destroy(train);
}
END_TEST

START_TEST(recommend_errors_write_nothing)
{
  vbpr_dataset *train = make_ds(3, 6, hand_train, 4);
  const int32_t users[] = {0, 2};
  int32_t items[4] = {-9, -9, -9, -9};
  float scores[4] = {-9, -9, -9, -9};
#define REC(tr, ue, ie, nu, ni, d, us, n, k) \
  vbpr_recommend(tr, nu, ni, d, ue, ie, n, us, k, items, scores)
  ck_assert_status(REC(train, NULL, hand_items, 3, 6, 3, users, 2, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(REC(train, hand_users, NULL, 3, 6, 3, users, 2, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(REC(train, hand_users, hand_items, 3, 6, 3, NULL, 2, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_recommend(train, 3, 6, 3, hand_users, hand_items, 2, users, 2, NULL, scores),
                   VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("items_out");
  ck_assert_status(REC(train, hand_users, hand_items, 3, 5, 3, users, 2, 2), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("num_items");
  ck_assert_status(REC(train, hand_users, hand_items, 0, 6, 3, users, 2, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(REC(train, hand_users, hand_items, 3, 6, 0, users, 2, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(REC(train, hand_users, hand_items, 3, 6, 3, users, 0, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(REC(train, hand_users, hand_items, 3, 6, 3, users, 2, 0), VBPR_ERR_INVALID_ARGUMENT);
  assert_error_mentions("k must be");
  ck_assert_status(REC(train, hand_users, hand_items, 3, 6, 3, users, 2, VBPR_EVALUATOR_MAX_K + 1),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(REC(train, hand_users, hand_items, 3, 6, 3, users, SIZE_MAX / 2, 4),
                   VBPR_ERR_INVALID_ARGUMENT);
  const int32_t bad_users[] = {0, 3};
  ck_assert_status(REC(train, hand_users, hand_items, 3, 6, 3, bad_users, 2, 2), VBPR_ERR_OUT_OF_RANGE);
  assert_error_mentions("users[1]");
  float it[18];
  memcpy(it, hand_items, sizeof it);
  it[5 * 3] = NAN;
  ck_assert_status(REC(train, hand_users, it, 3, 6, 3, users, 2, 2), VBPR_ERR_NUMERIC);
  assert_error_mentions("item_emb[5 * dim + 0]");
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(items[i], -9);
    ck_assert(scores[i] == -9);
  }
#undef REC
  vbpr_dataset_destroy(train);
}
END_TEST

/* ---- real data -------------------------------------------------------------- */

START_TEST(ml100k_against_brute_force)
{
  const char *dir = test_data_dir();
  if (dir == NULL) return;
  char a[4096], b[4096];
  vbpr_dataset *train = NULL, *test = NULL;
  ck_assert_ok(vbpr_dataset_load_pair(test_path(a, sizeof a, dir, "ml-100k/train.tsv"),
                                      test_path(b, sizeof b, dir, "ml-100k/test.tsv"), NULL,
                                      &train, &test));
  bigcase c = {vbpr_dataset_num_users(train), 1682, 8, NULL, NULL, train, test};
  ck_assert_int_ge(vbpr_dataset_num_items(train), 1600);
  c.ue = malloc((size_t)c.nu * c.dim * sizeof(float));
  c.ie = malloc((size_t)c.ni * c.dim * sizeof(float));
  uint64_t s = 2024;
  for (size_t i = 0; i < (size_t)c.nu * c.dim; i++) c.ue[i] = (float)((int)(lcg(&s) % 9) - 4);
  for (size_t i = 0; i < (size_t)c.ni * c.dim; i++) c.ie[i] = (float)((int)(lcg(&s) % 9) - 4);
  vbpr_evaluator *ev = NULL;
  ck_assert_ok(vbpr_evaluator_create(train, test, &ev));
  const size_t ks[] = {20, 5};
  ck_assert_ok(vbpr_evaluator_set_ks(ev, 2, ks));
  ck_assert_ok(vbpr_evaluator_run(ev, c.nu, c.ni, c.dim, c.ue, c.ie));
  uint8_t *tail = malloc(1682);
  ref_tail(&c, 0.85, tail);
  for (int m = VBPR_METRIC_PRECISION; m <= VBPR_METRIC_APLT; m++) {
    double sum = 0;
    int n = 0;
    for (int32_t u = 0; u < c.nu; u++) {
      const int32_t *t;
      size_t cnt;
      ck_assert_ok(vbpr_dataset_user_items(test, u, &t, &cnt));
      if (cnt == 0) continue;
      sum += ref_metric(&c, u, 20, (vbpr_metric)m, tail);
      n++;
    }
    ck_assert_int_eq(n, vbpr_evaluator_num_users_evaluated(ev));
    ck_assert_msg(fabs(metric(ev, (vbpr_metric)m, 20) - sum / n) <= 1e-9, "metric %d", m);
  }
  free(tail);
  free(c.ue);
  free(c.ie);
  vbpr_evaluator_destroy(ev);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

int main(void)
{
  const char *only = getenv("VBPR_EVAL_TESTS"); /* "data" runs the real-data case */
  Suite *s = suite_create("eval");
  TCase *tc = tcase_create("core");
  if (only != NULL && strcmp(only, "data") == 0) {
    tcase_add_test(tc, ml100k_against_brute_force);
  } else {
    tcase_add_test(tc, hand_computed_metrics);
    tcase_add_test(tc, per_user_values_and_skipped_users);
    tcase_add_test(tc, fewer_candidates_than_k);
    tcase_add_test(tc, long_tail_cut_breaks_ties_by_id);
    tcase_add_test(tc, training_items_never_ranked);
    tcase_add_test(tc, matches_brute_force);
    tcase_add_test(tc, several_k_equal_separate_runs);
    tcase_add_test(tc, same_results_for_any_thread_count);
    tcase_add_test(tc, datasets_may_be_destroyed_first);
    tcase_add_test(tc, universes_may_differ);
    tcase_add_test(tc, create_errors);
    tcase_add_test(tc, set_ks_errors_keep_old_set);
    tcase_add_test(tc, run_errors);
    tcase_add_test(tc, non_finite_embeddings);
    tcase_add_test(tc, recommend_ranks_and_pads);
    tcase_add_test(tc, recommend_errors_write_nothing);
  }
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
