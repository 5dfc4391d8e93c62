/* Sampler: epochs, exact exclusion of positives, sampling without
 * replacement, uniformity (chi-square), popularity weights, determinism
 * across thread counts, edge cases and allocation failures. */
#include <math.h>
#include <stdint.h>

#include "core/core.h"
#include "testutil.h"
#include "vbpr/dataset.h"
#include "vbpr/error.h"
#include "vbpr/runtime.h"
#include "vbpr/sampler.h"

/* Check marks every ck_assert through a pipe when forking; hot loops of
 * checks use this, which only calls into Check on failure. */
#define REQUIRE(cond, ...)                                                   \
  do {                                                                       \
    if (!(cond)) ck_abort_msg(__VA_ARGS__);                                  \
  } while (0)

/* chi-square critical values at p = 1e-4 for k - 1 degrees of freedom */
static double chi_crit(int dof)
{
  /* Wilson-Hilferty approximation of the 0.9999 quantile */
  double z = 3.719, h = 2.0 / (9.0 * dof);
  return dof * pow(1.0 - h + z * sqrt(h), 3.0);
}

static double chi_square(const long *obs, const double *expect, int k)
{
  double chi = 0;
  for (int c = 0; c < k; c++) chi += (obs[c] - expect[c]) * (obs[c] - expect[c]) / expect[c];
  return chi;
}

/* A random dataset: U users, I items, degrees from 1 to max_deg (user 0
 * has max_deg), optionally one user holding every item. */
static vbpr_dataset *random_dataset(int32_t U, int32_t I, int max_deg, int full_user,
                                    uint64_t seed)
{
  int64_t cap = (int64_t)U * max_deg + I;
  int32_t *users = malloc((size_t)cap * sizeof *users), *items = malloc((size_t)cap * sizeof *items);
  vbpr__rng r;
  vbpr__rng_init(&r, seed, 0, 0);
  int64_t n = 0;
  for (int32_t u = 0; u < U; u++) {
    int deg = u == 0 ? max_deg : 1 + (int)vbpr__rng_below(&r, (uint32_t)max_deg);
    for (int k = 0; k < deg; k++) {
      users[n] = u;
      items[n++] = (int32_t)vbpr__rng_below(&r, (uint32_t)I);
    }
  }
  for (int32_t i = 0; full_user && i < I; i++) {
    users[n] = U;
    items[n++] = i;
  }
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(U + (full_user ? 1 : 0), I, n, users, items, NULL, NULL, &ds));
  free(users);
  free(items);
  return ds;
}

typedef struct batch {
  int32_t *users, *pos, *neg;
  int64_t B, M, N;
} batch;

static batch batch_new(vbpr_sampler *s, int64_t B, int64_t M, int64_t N)
{
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_BATCH_SIZE, (double)B));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_POS, (double)M));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, (double)N));
  batch b = {malloc((size_t)B * 4), malloc((size_t)(B * M) * 4), malloc((size_t)(B * N) * 4), B, M,
             N};
  return b;
}

static void batch_free(batch *b)
{
  free(b->users);
  free(b->pos);
  free(b->neg);
}

/* Every row of a batch is a valid tuple: positives from u, negatives
 * distinct and outside u's positives. */
static void check_rows(const vbpr_dataset *ds, const batch *b, size_t rows)
{
  for (size_t r = 0; r < rows; r++) {
    int32_t u = b->users[r];
    REQUIRE(u >= 0 && (size_t)u < vbpr_dataset_num_users(ds), "row %zu: user %d", r, u);
    for (int64_t k = 0; k < b->M; k++)
      REQUIRE(vbpr_dataset_contains(ds, u, b->pos[r * b->M + k]), "row %zu pos %lld", r,
              (long long)k);
    const int32_t *neg = b->neg + r * b->N;
    for (int64_t k = 0; k < b->N; k++) {
      REQUIRE(neg[k] >= 0 && (size_t)neg[k] < vbpr_dataset_num_items(ds), "row %zu: item %d", r, neg[k]);
      REQUIRE(!vbpr_dataset_contains(ds, u, neg[k]), "user %d negative %d is a positive", u,
              neg[k]);
      for (int64_t l = 0; l < k; l++) REQUIRE(neg[l] != neg[k], "repeated negative %d", neg[k]);
    }
  }
}

/* ---- parameters -------------------------------------------------------- */

START_TEST(parameters_validate)
{
  vbpr_dataset *ds = random_dataset(20, 30, 5, 0, 1);
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  double v;
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_BATCH_SIZE, &v));
  ck_assert_double_eq(v, 1024);
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_NUM_NEG, &v));
  ck_assert_double_eq(v, 1);
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_BATCH_SIZE, 0), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_str_eq(vbpr_last_error(), "vbpr_sampler_set: batch_size must be an integer in "
                                      "[1, 16777216], got 0");
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_POS, 1.5), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, 31), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "30"), "%s", vbpr_last_error());
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, NAN), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_MODE, 2), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_NEG_POP_EXPONENT, -0.5),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_SEED, -1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_sampler_set(s, (vbpr_sampler_param)0, 1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_sampler_get(s, (vbpr_sampler_param)42, &v), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_BATCH_SIZE, 1 << 24));
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_POS, 200), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "2^31"), "%s", vbpr_last_error());
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_NUM_POS, &v));
  ck_assert_double_eq(v, 1); /* unchanged */
  ck_assert_status(vbpr_sampler_next(s, NULL, NULL, NULL, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(vbpr_sampler_epoch(NULL), 0);
  ck_assert_int_eq(vbpr_sampler_rows_per_epoch(NULL), 0);
  vbpr_sampler_destroy(NULL);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

/* ---- epochs ------------------------------------------------------------ */

START_TEST(epoch_visits_each_interaction_once)
{
  vbpr_dataset *ds = random_dataset(40, 60, 12, 0, 2);
  int64_t nnz = vbpr_dataset_num_interactions(ds);
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  batch b = batch_new(s, 7, 2, 3);
  ck_assert_int_eq(vbpr_sampler_rows_per_epoch(s), nnz);
  const int64_t *off;
  const int32_t *items;
  ck_assert_ok(vbpr_dataset_csr(ds, &off, &items, NULL));
  int *seen = calloc((size_t)nnz, sizeof *seen);
  int32_t first_user[2] = {-1, -1};
  for (int e = 0; e < 2; e++) {
    ck_assert_int_eq(vbpr_sampler_epoch(s), e);
    int64_t total = 0;
    size_t rows;
    int in_order = 1;
    for (;;) {
      ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
      if (rows == 0) break;
      ck_assert_uint_le(rows, 7);
      check_rows(ds, &b, rows);
      if (total == 0) first_user[e] = b.users[0];
      for (size_t r = 0; r < rows; r++) {
        /* find the interaction (users[r], pos[r*M]) */
        int32_t u = b.users[r];
        int64_t k = off[u];
        while (items[k] != b.pos[r * 2]) k++;
        seen[k]++;
        in_order &= k == total + (int64_t)r;
      }
      total += (int64_t)rows;
      ck_assert_int_eq(vbpr_sampler_position(s), total);
    }
    ck_assert_int_eq(total, nnz);
    ck_assert(!in_order); /* shuffled */
    for (int64_t k = 0; k < nnz; k++) ck_assert_int_eq(seen[k], e + 1);
  }
  ck_assert_int_eq(vbpr_sampler_epoch(s), 2);
  /* reset: mid-epoch it starts the next epoch, at an epoch start it does nothing */
  size_t rows;
  ck_assert_ok(vbpr_sampler_reset(s));
  ck_assert_int_eq(vbpr_sampler_epoch(s), 2);
  ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
  ck_assert_ok(vbpr_sampler_reset(s));
  ck_assert_int_eq(vbpr_sampler_epoch(s), 3);
  ck_assert_int_eq(vbpr_sampler_position(s), 0);
  /* jumping back to an epoch replays it */
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_EPOCH, 1));
  ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
  ck_assert_int_eq(b.users[0], first_user[1]);
  free(seen);
  batch_free(&b);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(users_mode_draws_active_users_uniformly)
{
  /* users 1 and 3 have no items; the others have 1, 5, 20 items */
  const int32_t users[] = {0, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
                           4, 4, 4, 4, 4, 4, 4, 4, 4, 4};
  int32_t items[26];
  for (int k = 0; k < 26; k++) items[k] = k < 6 ? k : k - 6;
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(5, 40, 26, users, items, NULL, NULL, &ds));
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_MODE, VBPR_SAMPLER_MODE_USERS));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_USERS_EPOCH_ROWS, 30000));
  ck_assert_int_eq(vbpr_sampler_rows_per_epoch(s), 30000);
  batch b = batch_new(s, 30000, 1, 2);
  size_t rows;
  ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
  ck_assert_uint_eq(rows, 30000);
  check_rows(ds, &b, rows);
  long cnt[5] = {0}, pos4[20] = {0};
  for (size_t r = 0; r < rows; r++) {
    cnt[b.users[r]]++;
    if (b.users[r] == 4) pos4[b.pos[r]]++;
  }
  ck_assert(cnt[1] == 0 && cnt[3] == 0);
  long obs[3] = {cnt[0], cnt[2], cnt[4]};
  double e3[3] = {10000, 10000, 10000}, e20[20];
  ck_assert_double_lt(chi_square(obs, e3, 3), chi_crit(2));
  for (int k = 0; k < 20; k++) e20[k] = cnt[4] / 20.0;
  ck_assert_double_lt(chi_square(pos4, e20, 20), chi_crit(19));
  ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
  ck_assert_uint_eq(rows, 0);
  batch_free(&b);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

/* ---- negatives --------------------------------------------------------- */

START_TEST(negatives_exclude_positives_exactly)
{
  /* dense users (user 0 holds 150 of 200 items) and sparse ones; N values on
   * both sides of the linear/hash switch and of the rejection/Floyd switch */
  vbpr_dataset *ds = random_dataset(60, 200, 150, 1, 3);
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  const int64_t Ns[] = {1, 5, 33, 45};
  for (int t = 0; t < 4; t++) {
    batch b = batch_new(s, 64, 3, Ns[t]);
    size_t rows;
    do {
      ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
      check_rows(ds, &b, rows);
      for (size_t r = 0; r < rows; r++) REQUIRE(b.users[r] != 60, "user 60 has no negatives");
    } while (rows > 0);
    batch_free(&b);
  }
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

/* Counts negatives of user 0 over many rows of a USERS-mode sampler. */
static void count_negatives(vbpr_dataset *ds, int64_t N, double a, long *count, long *first,
                            int64_t rows_total)
{
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_MODE, VBPR_SAMPLER_MODE_USERS));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_USERS_EPOCH_ROWS, (double)rows_total));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NEG_POP_EXPONENT, a));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_SEED, 99));
  batch b = batch_new(s, 4096, 1, N);
  size_t rows;
  for (;;) {
    ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
    if (rows == 0) break;
    check_rows(ds, &b, rows);
    for (size_t r = 0; r < rows; r++) {
      for (int64_t k = 0; k < N; k++) count[b.neg[r * N + k]]++;
      first[b.neg[r * N]]++;
    }
  }
  batch_free(&b);
  vbpr_sampler_destroy(s);
}

START_TEST(uniform_negatives_chi_square)
{
  /* one user, positives {1, 3, 4} among 12 items: 9 candidates */
  const int32_t users[] = {0, 0, 0}, items[] = {1, 3, 4};
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(1, 12, 3, users, items, NULL, NULL, &ds));
  const int cand[9] = {0, 2, 5, 6, 7, 8, 9, 10, 11};
  const int64_t Ns[] = {1, 2, 6, 9}; /* sparse (rejection) and dense (Floyd) paths */
  for (int t = 0; t < 4; t++) {
    long count[12] = {0}, first[12] = {0}, obs[9], obs1[9];
    int64_t R = 36000;
    count_negatives(ds, Ns[t], 0.0, count, first, R);
    ck_assert(count[1] == 0 && count[3] == 0 && count[4] == 0);
    double e[9], e1[9];
    for (int c = 0; c < 9; c++) {
      obs[c] = count[cand[c]];
      obs1[c] = first[cand[c]];
      e[c] = (double)R * (double)Ns[t] / 9.0; /* each candidate: N/9 of the rows */
      e1[c] = (double)R / 9.0;                /* and the order is uniform too */
    }
    if (Ns[t] < 9) ck_assert_double_lt(chi_square(obs, e, 9), chi_crit(8));
    else for (int c = 0; c < 9; c++) ck_assert_int_eq(obs[c], R); /* all of them, always */
    ck_assert_double_lt(chi_square(obs1, e1, 9), chi_crit(8));
  }
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(popularity_negatives_follow_weights)
{
  /* user 0 holds item 0; items 1..5 have popularity 1..5 from other users */
  int32_t users[32], items[32];
  int n = 0;
  users[n] = 0;
  items[n++] = 0;
  for (int i = 1; i <= 5; i++)
    for (int k = 0; k < i; k++) {
      users[n] = 1 + k;
      items[n++] = i;
    }
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(6, 6, n, users, items, NULL, NULL, &ds));
  /* one draw per row from user 0 (weights (c+1)^a, item 0 excluded) */
  for (int t = 0; t < 2; t++) {
    double a = t == 0 ? 1.0 : 0.5;
    vbpr_sampler *s;
    ck_assert_ok(vbpr_sampler_create(ds, &s));
    ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_MODE, VBPR_SAMPLER_MODE_USERS));
    ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_USERS_EPOCH_ROWS, 120000));
    ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NEG_POP_EXPONENT, a));
    batch b = batch_new(s, 120000, 1, 1);
    size_t rows;
    ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
    check_rows(ds, &b, rows);
    long obs[5] = {0}, nu0 = 0;
    for (size_t r = 0; r < rows; r++)
      if (b.users[r] == 0) {
        obs[b.neg[r] - 1]++;
        nu0++;
      }
    double w[5], tot = 0, e[5];
    for (int i = 0; i < 5; i++) tot += w[i] = pow(i + 2.0, a);
    for (int i = 0; i < 5; i++) e[i] = nu0 * w[i] / tot;
    ck_assert_double_lt(chi_square(obs, e, 5), chi_crit(4));
    batch_free(&b);
    vbpr_sampler_destroy(s);
  }
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(popularity_negatives_dense_user_exact)
{
  /* user 0 holds the 3 most popular of 8 items: most of the mass, so the
   * exact scan is used; N = 2 of the 5 others, check marginals by brute
   * force of successive sampling */
  int32_t users[64], items[64];
  int n = 0;
  const int pop[8] = {9, 8, 7, 1, 2, 3, 1, 2};
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < pop[i]; k++) {
      users[n] = 1 + k;
      items[n++] = i;
    }
  for (int i = 0; i < 3; i++) {
    users[n] = 0;
    items[n++] = i;
  }
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(11, 8, n, users, items, NULL, NULL, &ds));
  const int64_t *cnt;
  ck_assert_ok(vbpr_dataset_item_counts(ds, &cnt));
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_MODE, VBPR_SAMPLER_MODE_USERS));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_USERS_EPOCH_ROWS, 200000));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NEG_POP_EXPONENT, 1.0));
  batch b = batch_new(s, 200000, 1, 2);
  size_t rows;
  ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
  check_rows(ds, &b, rows);
  long firsts[5] = {0}, any[5] = {0}, nu0 = 0;
  for (size_t r = 0; r < rows; r++)
    if (b.users[r] == 0) {
      firsts[b.neg[2 * r] - 3]++;
      any[b.neg[2 * r] - 3]++;
      any[b.neg[2 * r + 1] - 3]++;
      nu0++;
    }
  /* successive sampling: P(first = i) = w_i / W; P(i in pair) = sum over orders */
  double w[5], W = 0, e1[5], e2[5];
  for (int i = 0; i < 5; i++) W += w[i] = (double)cnt[3 + i] + 1.0;
  for (int i = 0; i < 5; i++) {
    e1[i] = nu0 * w[i] / W;
    double p = w[i] / W;
    for (int j = 0; j < 5; j++)
      if (j != i) p += w[j] / W * w[i] / (W - w[j]);
    e2[i] = nu0 * p;
  }
  ck_assert_double_lt(chi_square(firsts, e1, 5), chi_crit(4));
  /* the pair counts are not independent cells; a loose check on each */
  for (int i = 0; i < 5; i++)
    ck_assert_msg(fabs(any[i] - e2[i]) < 6 * sqrt(e2[i]), "item %d: %ld vs %g", 3 + i, any[i],
                  e2[i]);
  batch_free(&b);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(large_n_popularity_is_exact_and_distinct)
{
  vbpr_dataset *ds = random_dataset(30, 120, 60, 0, 5);
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NEG_POP_EXPONENT, 0.75));
  batch b = batch_new(s, 50, 2, 40);
  size_t rows;
  do {
    ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
    check_rows(ds, &b, rows);
  } while (rows > 0);
  batch_free(&b);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

/* ---- determinism ------------------------------------------------------- */

/* All tuples of one epoch, in order. */
static void run_epoch(vbpr_dataset *ds, int threads, int64_t B, double seed, double a, int mode,
                      int32_t *out, int64_t cap)
{
  ck_assert_ok(vbpr_set_num_threads(threads));
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_SEED, seed));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_MODE, mode));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NEG_POP_EXPONENT, a));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_EPOCH, 3));
  batch b = batch_new(s, B, 2, 40);
  int64_t w = 0;
  size_t rows;
  for (;;) {
    ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
    if (rows == 0) break;
    for (size_t r = 0; r < rows; r++) {
      REQUIRE(w + 43 <= cap, "too many rows");
      out[w++] = b.users[r];
      out[w++] = b.pos[2 * r];
      out[w++] = b.pos[2 * r + 1];
      for (int k = 0; k < 40; k++) out[w++] = b.neg[40 * r + k];
    }
  }
  ck_assert_int_eq(vbpr_sampler_epoch(s), 4);
  batch_free(&b);
  vbpr_sampler_destroy(s);
}

START_TEST(same_seed_same_tuples_any_thread_count)
{
  vbpr_dataset *ds = random_dataset(300, 500, 40, 0, 7);
  int64_t cap = 43 * vbpr_dataset_num_interactions(ds);
  int32_t *a = malloc((size_t)cap * 4), *b = malloc((size_t)cap * 4), *c = malloc((size_t)cap * 4);
  for (int mode = 0; mode < 2; mode++)
    for (int pop = 0; pop < 2; pop++) {
      double ex = pop ? 0.75 : 0.0;
      run_epoch(ds, 1, 4096, 5, ex, mode, a, cap);
      run_epoch(ds, 2, 4096, 5, ex, mode, b, cap);
      ck_assert_int_eq(memcmp(a, b, (size_t)cap * 4), 0);
      run_epoch(ds, 2, 97, 5, ex, mode, b, cap); /* batch size does not matter */
      ck_assert_int_eq(memcmp(a, b, (size_t)cap * 4), 0);
      run_epoch(ds, 2, 4096, 6, ex, mode, c, cap);
      int64_t diff = 0;
      for (int64_t k = 0; k < cap; k++) diff += a[k] != c[k];
      ck_assert_int_gt(diff, cap / 2);
    }
  ck_assert_ok(vbpr_set_num_threads(0));
  free(a);
  free(b);
  free(c);
  vbpr_dataset_destroy(ds);
}
END_TEST

/* ---- edge cases -------------------------------------------------------- */

START_TEST(edge_cases)
{
  vbpr_sampler *s = (vbpr_sampler *)&s, *sentinel = s;
  vbpr_dataset *empty;
  ck_assert_ok(vbpr_dataset_create(3, 4, 0, NULL, NULL, NULL, NULL, &empty));
  ck_assert_status(vbpr_sampler_create(empty, &s), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "no interactions"), "%s", vbpr_last_error());
  ck_assert_ptr_null(s); /* set to NULL on entry */
  (void)sentinel;
  vbpr_dataset_destroy(empty);
  /* every user holds every item: no negative exists */
  const int32_t fu[] = {0, 0}, fi[] = {0, 1};
  vbpr_dataset *full;
  ck_assert_ok(vbpr_dataset_create(1, 2, 2, fu, fi, NULL, NULL, &full));
  ck_assert_status(vbpr_sampler_create(full, &s), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "num_neg 1"), "%s", vbpr_last_error());
  vbpr_dataset_destroy(full);
  /* user 0: 1 item, user 1: 3 of 4 items, user 2: all 4 */
  const int32_t u[] = {0, 1, 1, 1, 2, 2, 2, 2}, it[] = {0, 0, 1, 2, 0, 1, 2, 3};
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(3, 4, 8, u, it, NULL, NULL, &ds));
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  ck_assert_int_eq(vbpr_sampler_rows_per_epoch(s), 4); /* user 2 left out */
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, 2));
  ck_assert_int_eq(vbpr_sampler_rows_per_epoch(s), 1); /* only user 0 has 2 negatives */
  batch b = batch_new(s, 4, 1, 3);
  size_t rows;
  ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
  ck_assert_uint_eq(rows, 1);
  ck_assert_int_eq(b.users[0], 0);
  ck_assert(b.neg[0] + b.neg[1] + b.neg[2] == 6); /* exactly items 1, 2, 3 */
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, 4), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, 5), VBPR_ERR_INVALID_ARGUMENT);
  double v;
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_NUM_NEG, &v));
  ck_assert_double_eq(v, 3);
  ck_assert_int_eq(vbpr_sampler_rows_per_epoch(s), 1);
  batch_free(&b);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(sampler_keeps_its_dataset_alive)
{
  vbpr_dataset *ds = random_dataset(50, 80, 10, 0, 11);
  vbpr_sampler *s, *s2;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  ck_assert_ok(vbpr_sampler_create(ds, &s2));
  int64_t n = vbpr_dataset_num_interactions(ds);
  vbpr_dataset_destroy(ds); /* the caller lets go first */
  batch b = batch_new(s, 1024, 2, 4);
  size_t rows;
  ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
  ck_assert_int_eq((int64_t)rows, n < 1024 ? n : 1024);
  vbpr_sampler_destroy(s);
  ck_assert_ok(vbpr_sampler_next(s2, b.users, b.pos, b.neg, &rows)); /* still alive */
  vbpr_sampler_destroy(s2); /* the last reference: freed here (the sanitizer checks) */
  batch_free(&b);
}
END_TEST

START_TEST(allocation_failures_are_clean)
{
  vbpr_dataset *ds = random_dataset(50, 80, 10, 0, 13);
  int ok = 0;
  for (long k = 1; k < 20 && !ok; k++) {
    vbpr_sampler *s = NULL;
    vbpr__fault_arm(k);
    vbpr_status st = vbpr_sampler_create(ds, &s);
    vbpr__fault_arm(0);
    ok = st == VBPR_OK;
    if (!ok) {
      ck_assert_int_eq(st, VBPR_ERR_OUT_OF_MEMORY);
      ck_assert_ptr_null(s);
    }
    vbpr_sampler_destroy(s);
  }
  ck_assert(ok);
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  vbpr__fault_arm(1);
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_NEG_POP_EXPONENT, 1.0),
                   VBPR_ERR_OUT_OF_MEMORY);
  vbpr__fault_arm(0);
  double v;
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_NEG_POP_EXPONENT, &v));
  ck_assert_double_eq(v, 0.0);
  batch b = batch_new(s, 16, 1, 40); /* needs a hash workspace */
  for (int k = 0; k < 16 * 40; k++) b.neg[k] = -7;
  size_t rows = 99;
  vbpr__fault_arm(1);
  ck_assert_status(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows), VBPR_ERR_OUT_OF_MEMORY);
  vbpr__fault_arm(0);
  ck_assert_uint_eq(rows, 99);
  for (int k = 0; k < 16 * 40; k++) REQUIRE(b.neg[k] == -7, "neg[%d] written", k);
  ck_assert_ok(vbpr_sampler_next(s, b.users, b.pos, b.neg, &rows));
  ck_assert_uint_eq(rows, 16);
  batch_free(&b);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("sampler");
  TCase *tc = tcase_create("sampler");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, parameters_validate);
  tcase_add_test(tc, epoch_visits_each_interaction_once);
  tcase_add_test(tc, users_mode_draws_active_users_uniformly);
  tcase_add_test(tc, negatives_exclude_positives_exactly);
  tcase_add_test(tc, uniform_negatives_chi_square);
  tcase_add_test(tc, popularity_negatives_follow_weights);
  tcase_add_test(tc, popularity_negatives_dense_user_exact);
  tcase_add_test(tc, large_n_popularity_is_exact_and_distinct);
  tcase_add_test(tc, same_seed_same_tuples_any_thread_count);
  tcase_add_test(tc, edge_cases);
  tcase_add_test(tc, sampler_keeps_its_dataset_alive);
  tcase_add_test(tc, allocation_failures_are_clean);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
