/* Dataset: building from memory, loading files (including every kind of
 * malformed input), id remapping, splitting, and allocation failures. */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "core/core.h"
#include "testutil.h"
#include "vbpr/dataset.h"
#include "vbpr/error.h"

/* ---- helpers ----------------------------------------------------------- */

static char tmp_path[64];

/* Writes n bytes to a fresh temporary file and returns its path. */
static const char *write_tmp(const char *bytes, size_t n)
{
  const char *dir = getenv("TMPDIR");
  snprintf(tmp_path, sizeof tmp_path, "%s/vbprdsXXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(tmp_path);
  ck_assert_msg(fd >= 0, "mkstemp failed");
  ck_assert_int_eq((long)write(fd, bytes, n), (long)n);
  close(fd);
  return tmp_path;
}

static const char *write_str(const char *s) { return write_tmp(s, strlen(s)); }

/* Loads text as a file with opts; removes the file. */
static vbpr_status load_text(const char *text, const vbpr_dataset_options *opts,
                             vbpr_dataset **out)
{
  const char *p = write_str(text);
  vbpr_status st = vbpr_dataset_load(p, opts, out);
  unlink(p);
  return st;
}

/* The load must fail with status and a message holding ":line:col:" and
 * each fragment; out is NULL. */
static void expect_load_error(const char *text, vbpr_status status, const char *where,
                              const char *fragment)
{
  vbpr_dataset *ds = (vbpr_dataset *)&ds; /* must come back NULL */
  const char *p = write_str(text);
  vbpr_status st = vbpr_dataset_load(p, NULL, &ds);
  unlink(p);
  ck_assert_msg(st == status, "status %d, expected %d: %s", st, status, vbpr_last_error());
  ck_assert_ptr_null(ds);
  const char *msg = vbpr_last_error();
  ck_assert_msg(strstr(msg, "vbpr_dataset_load: ") == msg, "%s", msg);
  ck_assert_msg(strstr(msg, tmp_path) != NULL, "no file name in: %s", msg);
  if (where) ck_assert_msg(strstr(msg, where) != NULL, "no '%s' in: %s", where, msg);
  if (fragment) ck_assert_msg(strstr(msg, fragment) != NULL, "no '%s' in: %s", fragment, msg);
}

static void expect_items(const vbpr_dataset *ds, int32_t u, const int32_t *want, size_t n)
{
  const int32_t *items;
  size_t count;
  ck_assert_ok(vbpr_dataset_user_items(ds, u, &items, &count));
  ck_assert_int_eq(count, n);
  for (size_t k = 0; k < count; k++) ck_assert_int_eq(items[k], want[k]);
}

/* ---- memory ------------------------------------------------------------ */

START_TEST(create_builds_sorted_csr)
{
  const int32_t users[] = {2, 0, 0, 2, 0, 2};
  const int32_t items[] = {4, 3, 1, 0, 3, 2};
  const float ratings[] = {5, 2, 4, 1, 3, 2};
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_create(VBPR_DATASET_INFER, 6, 6, users, items, ratings, NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 3);
  ck_assert_int_eq(vbpr_dataset_num_items(ds), 6);
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 5); /* (0,3) twice */
  ck_assert_int_eq(vbpr_dataset_num_active_users(ds), 2);
  ck_assert_int_eq(vbpr_dataset_has_ratings(ds), 1);
  expect_items(ds, 0, (const int32_t[]){1, 3}, 2);
  expect_items(ds, 1, NULL, 0);
  expect_items(ds, 2, (const int32_t[]){0, 2, 4}, 3);
  const int64_t *off;
  const int32_t *it;
  const float *r;
  ck_assert_ok(vbpr_dataset_csr(ds, &off, &it, &r));
  ck_assert(off[0] == 0 && off[1] == 2 && off[2] == 2 && off[3] == 5);
  ck_assert(r[0] == 4 && r[1] == 3); /* (0,3): max of 2 and 3 */
  ck_assert(r[2] == 1 && r[3] == 2 && r[4] == 5);
  const int64_t *counts;
  const double *sums;
  ck_assert_ok(vbpr_dataset_item_counts(ds, &counts));
  ck_assert_ok(vbpr_dataset_item_rating_sums(ds, &sums));
  const int64_t want_c[] = {1, 1, 1, 1, 1, 0};
  const double want_s[] = {1, 4, 2, 3, 5, 0};
  for (int i = 0; i < 6; i++) {
    ck_assert_int_eq(counts[i], want_c[i]);
    ck_assert_double_eq(sums[i], want_s[i]);
  }
  double means[6];
  ck_assert_ok(vbpr_dataset_item_mean_ratings(ds, -1.0, 6, means));
  ck_assert_double_eq(means[4], 5.0);
  ck_assert_double_eq(means[5], -1.0);
  ck_assert_status(vbpr_dataset_item_mean_ratings(ds, 0, 5, means), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(vbpr_dataset_contains(ds, 2, 4), 1);
  ck_assert_int_eq(vbpr_dataset_contains(ds, 2, 3), 0);
  ck_assert_int_eq(vbpr_dataset_contains(ds, 1, 0), 0);
  ck_assert_int_eq(vbpr_dataset_contains(ds, -1, 0), 0);
  ck_assert_int_eq(vbpr_dataset_contains(ds, 0, 6), 0);
  ck_assert_int_eq(vbpr_dataset_contains(NULL, 0, 1), 0);
  const int32_t *items_u;
  size_t n;
  ck_assert_status(vbpr_dataset_user_items(ds, 3, &items_u, &n), VBPR_ERR_OUT_OF_RANGE);
  ck_assert_msg(strstr(vbpr_last_error(), "got 3") != NULL, "%s", vbpr_last_error());
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(null_dataset_getters_are_zero)
{
  ck_assert_int_eq(vbpr_dataset_num_users(NULL), 0);
  ck_assert_int_eq(vbpr_dataset_num_items(NULL), 0);
  ck_assert_int_eq(vbpr_dataset_num_interactions(NULL), 0);
  ck_assert_int_eq(vbpr_dataset_has_ratings(NULL), 0);
  ck_assert_status(vbpr_dataset_csr(NULL, NULL, NULL, NULL), VBPR_ERR_INVALID_ARGUMENT);
  vbpr_dataset_destroy(NULL);
  vbpr_dataset_options_destroy(NULL);
}
END_TEST

/* Rating kept for (0, 1) given ratings 2, 5, 3 in that order. */
static float merged(int policy)
{
  const int32_t users[] = {0, 0, 0, 0};
  const int32_t items[] = {1, 0, 1, 1};
  const float ratings[] = {2, 9, 5, 3};
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_DUPLICATES, policy));
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(1, 2, 4, users, items, ratings, o, &ds));
  vbpr_dataset_options_destroy(o);
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 2);
  const float *r;
  ck_assert_ok(vbpr_dataset_csr(ds, NULL, NULL, &r));
  ck_assert(r[0] == 9);
  float v = r[1];
  const int64_t *counts;
  ck_assert_ok(vbpr_dataset_item_counts(ds, &counts));
  ck_assert_int_eq(counts[1], 1); /* one interaction, whatever the policy */
  vbpr_dataset_destroy(ds);
  return v;
}

START_TEST(duplicate_policies)
{
  ck_assert(merged(VBPR_DATASET_DUPLICATES_MAX) == 5);
  ck_assert(merged(VBPR_DATASET_DUPLICATES_LAST) == 3);
  ck_assert(merged(VBPR_DATASET_DUPLICATES_FIRST) == 2);
  ck_assert(merged(VBPR_DATASET_DUPLICATES_MEAN) == 10.0f / 3.0f);
  ck_assert(merged(VBPR_DATASET_DUPLICATES_SUM) == 10);
}
END_TEST

START_TEST(last_policy_follows_input_order_across_many_items)
{
  /* long unsorted rows take the merge sort path, which must be stable */
  enum { N = 300 };
  int32_t users[2 * N], items[2 * N];
  float ratings[2 * N];
  for (int k = 0; k < N; k++) {
    users[k] = users[N + k] = 0;
    items[k] = items[N + k] = (k * 37) % N;
    ratings[k] = 1.0f;
    ratings[N + k] = 2.0f + (float)k;
  }
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_DUPLICATES, VBPR_DATASET_DUPLICATES_LAST));
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(1, N, 2 * N, users, items, ratings, o, &ds));
  vbpr_dataset_options_destroy(o);
  const int32_t *it;
  const float *r;
  ck_assert_ok(vbpr_dataset_csr(ds, NULL, &it, &r));
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), N);
  for (int k = 0; k < N; k++) ck_assert_int_eq(it[k], k);
  for (int k = 0; k < N; k++) ck_assert(r[(k * 37) % N] == 2.0f + (float)k);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(create_rejects_bad_input)
{
  const int32_t users[] = {0, 1};
  const int32_t items[] = {0, 3};
  const int32_t neg[] = {0, -2};
  const float nan_r[] = {1, NAN};
  vbpr_dataset *ds = (vbpr_dataset *)&ds, *sentinel = ds;
  ck_assert_status(vbpr_dataset_create(2, 3, 2, users, items, NULL, NULL, &ds),
                   VBPR_ERR_OUT_OF_RANGE);
  ck_assert_msg(strstr(vbpr_last_error(), "items[1]") && strstr(vbpr_last_error(), "got 3"), "%s",
                vbpr_last_error());
  ck_assert_status(vbpr_dataset_create(VBPR_DATASET_INFER, VBPR_DATASET_INFER, 2, neg, items, NULL, NULL, &ds),
                   VBPR_ERR_OUT_OF_RANGE);
  ck_assert_msg(strstr(vbpr_last_error(), "users[1]"), "%s", vbpr_last_error());
  ck_assert_status(vbpr_dataset_create(VBPR_DATASET_INFER, VBPR_DATASET_INFER, 2, users, items, nan_r, NULL, &ds),
                   VBPR_ERR_NUMERIC);
  ck_assert_msg(strstr(vbpr_last_error(), "ratings[1]"), "%s", vbpr_last_error());
  ck_assert_status(vbpr_dataset_create((size_t)INT32_MAX + 1, VBPR_DATASET_INFER, 2, users,
                                       items, NULL, NULL, &ds),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "num_users"), "%s", vbpr_last_error());
  ck_assert_status(vbpr_dataset_create(VBPR_DATASET_INFER, VBPR_DATASET_INFER, SIZE_MAX, users,
                                       items, NULL, NULL, &ds),
                   VBPR_ERR_OUT_OF_MEMORY);
  ck_assert_status(vbpr_dataset_create(VBPR_DATASET_INFER, VBPR_DATASET_INFER, 2, NULL, items, NULL, NULL, &ds),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_dataset_create(VBPR_DATASET_INFER, VBPR_DATASET_INFER, 2, users, items, NULL, NULL, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(ds); /* set to NULL on entry */
  (void)sentinel;
}
END_TEST

START_TEST(create_sizes_infer_min_and_empty)
{
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_MIN_USERS, 10));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_MIN_ITEMS, 2));
  const int32_t users[] = {3}, items[] = {7};
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(VBPR_DATASET_INFER, VBPR_DATASET_INFER, 1, users, items, NULL,
                                   o, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 10);
  ck_assert_int_eq(vbpr_dataset_num_items(ds), 8);
  ck_assert_int_eq(vbpr_dataset_has_ratings(ds), 0);
  const double *sums;
  ck_assert_ok(vbpr_dataset_item_rating_sums(ds, &sums));
  ck_assert_double_eq(sums[7], 0.0);
  vbpr_dataset_destroy(ds);
  ck_assert_ok(vbpr_dataset_create(VBPR_DATASET_INFER, 5, 0, NULL, NULL, NULL, NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 0);
  ck_assert_int_eq(vbpr_dataset_num_items(ds), 5);
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 0);
  const int64_t *off;
  const int32_t *it;
  ck_assert_ok(vbpr_dataset_csr(ds, &off, &it, NULL));
  ck_assert_ptr_nonnull(off);
  ck_assert_ptr_nonnull(it);
  ck_assert_int_eq(off[0], 0);
  vbpr_dataset_destroy(ds);
  vbpr_dataset_options_destroy(o);
}
END_TEST

START_TEST(options_validate)
{
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  double v;
  ck_assert_ok(vbpr_dataset_options_get(o, VBPR_DATASET_OPTIONS_NUM_USERS, &v));
  ck_assert_double_eq(v, -1);
  ck_assert_status(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_FORMAT, 3),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_str_eq(vbpr_last_error(), "vbpr_dataset_options_set: format must be one of "
                                      "auto (0), table (1), user_lists (2), lists (2), got 3");
  ck_assert_status(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_MIN_ITEMS, 1.5),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_MIN_ITEMS, NAN),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_dataset_options_set(o, (vbpr_dataset_options_param)99, 1),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_dataset_options_get(o, (vbpr_dataset_options_param)0, &v),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_NUM_ITEMS, 40));
  ck_assert_ok(vbpr_dataset_options_get(o, VBPR_DATASET_OPTIONS_NUM_ITEMS, &v));
  ck_assert_double_eq(v, 40);
  ck_assert_ok(vbpr_dataset_options_get(o, VBPR_DATASET_OPTIONS_MIN_ITEMS, &v));
  ck_assert_double_eq(v, 0); /* failed sets changed nothing */
  vbpr_dataset_options_destroy(o);
}
END_TEST

/* ---- files: good input ------------------------------------------------- */

START_TEST(load_table_with_header_tabs)
{
  vbpr_dataset *ds;
  ck_assert_ok(load_text("user\titem\trating\n0\t2\t4\n1\t0\t3.5\n0\t1\t1e0\n", NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 2);
  ck_assert_int_eq(vbpr_dataset_num_items(ds), 3);
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 3);
  expect_items(ds, 0, (const int32_t[]){1, 2}, 2);
  const float *r;
  ck_assert_ok(vbpr_dataset_csr(ds, NULL, NULL, &r));
  ck_assert(r[0] == 1.0f && r[1] == 4.0f && r[2] == 3.5f);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(load_table_variants)
{
  vbpr_dataset *ds;
  /* comma, spaces around fields, no header, no ratings */
  ck_assert_ok(load_text("3, 1\n0 ,2\n", NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 4);
  ck_assert_int_eq(vbpr_dataset_has_ratings(ds), 0);
  expect_items(ds, 3, (const int32_t[]){1}, 1);
  vbpr_dataset_destroy(ds);
  /* CRLF, UTF-8 BOM, blank lines, last line without newline, extra column */
  ck_assert_ok(load_text("\xef\xbb\xbfu,i,r,ts\r\n\r\n5,6,-2.25,881250949\r\n  \n1,1,+3.,0",
                         NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 6);
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 2);
  const float *r;
  ck_assert_ok(vbpr_dataset_csr(ds, NULL, NULL, &r));
  ck_assert(r[0] == 3.0f && r[1] == -2.25f);
  vbpr_dataset_destroy(ds);
  /* a header that is only a header: a valid empty dataset */
  ck_assert_ok(load_text("user\titem\n", NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 0);
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 0);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(load_header_option)
{
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_HEADER, 1));
  vbpr_dataset *ds;
  ck_assert_ok(load_text("7\t7\n1\t2\n", o, &ds)); /* numeric first line skipped */
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 2);
  vbpr_dataset_destroy(ds);
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_HEADER, 0));
  const char *p = write_str("user\titem\n1\t2\n");
  vbpr_status st = vbpr_dataset_load(p, o, &ds);
  unlink(p);
  ck_assert_int_eq(st, VBPR_ERR_PARSE); /* 'user' read as data */
  ck_assert_msg(strstr(vbpr_last_error(), ":1:1:"), "%s", vbpr_last_error());
  vbpr_dataset_options_destroy(o);
}
END_TEST

START_TEST(load_user_lists)
{
  vbpr_dataset *ds;
  ck_assert_ok(load_text("0 5 3 3\n2\n1  4\t2 \n0 1", NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 3);
  ck_assert_int_eq(vbpr_dataset_num_items(ds), 6);
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 5);
  ck_assert_int_eq(vbpr_dataset_has_ratings(ds), 0);
  expect_items(ds, 0, (const int32_t[]){1, 3, 5}, 3); /* two lines of user 0 merged */
  expect_items(ds, 1, (const int32_t[]){2, 4}, 2);
  expect_items(ds, 2, NULL, 0); /* a user without items */
  vbpr_dataset_destroy(ds);
  /* a user-only last line still counts in the universe */
  ck_assert_ok(load_text("0 1\n9\n", NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 10);
  vbpr_dataset_destroy(ds);
}
END_TEST

START_TEST(load_forced_format)
{
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_FORMAT,
                                        VBPR_DATASET_FORMAT_USER_LISTS));
  vbpr_dataset *ds;
  ck_assert_ok(load_text("0\t1\t2\n", o, &ds)); /* tabs separate a user list too */
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 2);
  vbpr_dataset_destroy(ds);
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_FORMAT, VBPR_DATASET_FORMAT_TABLE));
  const char *p = write_str("0 1 2\n");
  ck_assert_status(vbpr_dataset_load(p, o, &ds), VBPR_ERR_PARSE);
  unlink(p);
  ck_assert_msg(strstr(vbpr_last_error(), "missing column"), "%s", vbpr_last_error());
  vbpr_dataset_options_destroy(o);
}
END_TEST

/* ---- files: bad input -------------------------------------------------- */

START_TEST(bad_non_numeric_field)
{
  expect_load_error("u\ti\n0\t1\n2\tx7\n", VBPR_ERR_PARSE, ":3:3:", "'x7'");
  expect_load_error("0 1 2.5\n", VBPR_ERR_PARSE, ":1:5:", "'2.5'");
  expect_load_error("u,i,r\n0,1,four\n", VBPR_ERR_PARSE, ":2:5:", "'four'");
  expect_load_error("u,i,r\n0,1,4.5.1\n", VBPR_ERR_PARSE, ":2:5:", "rating");
  expect_load_error("u\ti\n0\t1\r\r\n", VBPR_ERR_PARSE, ":2:3:", "\\x0d");
}
END_TEST

START_TEST(bad_missing_or_empty_column)
{
  expect_load_error("u\ti\tr\n0\t1\t5\n0\t2\n", VBPR_ERR_PARSE, ":3:", "missing column");
  /* a truncated last line (no newline, a field short) */
  expect_load_error("u\ti\tr\n0\t1\t5\n0\t2", VBPR_ERR_PARSE, ":3:", "missing column");
  expect_load_error("u\ti\tr\n0\t1\t\n", VBPR_ERR_PARSE, ":2:5:", "empty rating");
  expect_load_error("u\ti\n0\t\n", VBPR_ERR_PARSE, ":2:3:", "empty item");
  expect_load_error("u\ti\n0\t1\t2\n", VBPR_ERR_PARSE, ":2:", "extra column");
  expect_load_error("user\n", VBPR_ERR_PARSE, ":1:1:", "'user'"); /* read as a user list */
}
END_TEST

START_TEST(bad_ids_out_of_range)
{
  expect_load_error("u\ti\n-3\t1\n", VBPR_ERR_OUT_OF_RANGE, ":2:1:", "'-3'");
  expect_load_error("0 1 -1\n", VBPR_ERR_OUT_OF_RANGE, ":1:5:", ">= 0");
  expect_load_error("0 2147483647\n", VBPR_ERR_OUT_OF_RANGE, ":1:3:", "2147483647");
  expect_load_error("99999999999999999999999 1\n", VBPR_ERR_OUT_OF_RANGE, ":1:1:", "must be <");
}
END_TEST

START_TEST(bad_exact_universe)
{
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_NUM_ITEMS, 5));
  vbpr_dataset *ds;
  const char *p = write_str("0 1 4\n1 5\n");
  ck_assert_status(vbpr_dataset_load(p, o, &ds), VBPR_ERR_OUT_OF_RANGE);
  ck_assert_msg(strstr(vbpr_last_error(), ":2:3:") && strstr(vbpr_last_error(), "< 5"), "%s",
                vbpr_last_error());
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_MIN_ITEMS, 6));
  ck_assert_status(vbpr_dataset_load(p, o, &ds), VBPR_ERR_INVALID_ARGUMENT);
  unlink(p);
  vbpr_dataset_options_destroy(o);
}
END_TEST

START_TEST(bad_ratings_not_finite)
{
  expect_load_error("u\ti\tr\n0\t1\tnan\n", VBPR_ERR_NUMERIC, ":2:5:", "finite");
  expect_load_error("u\ti\tr\n0\t1\t-Inf\n", VBPR_ERR_NUMERIC, ":2:5:", "'-Inf'");
  expect_load_error("u\ti\tr\n0\t1\tinfinity\n", VBPR_ERR_NUMERIC, ":2:5:", NULL);
  expect_load_error("u\ti\tr\n0\t1\t1e999\n", VBPR_ERR_NUMERIC, ":2:5:", "overflows");
}
END_TEST

START_TEST(bad_empty_and_binary_files)
{
  expect_load_error("", VBPR_ERR_PARSE, NULL, "empty file");
  expect_load_error("\n \r\n\t\n", VBPR_ERR_PARSE, NULL, "empty file");
  expect_load_error("\xef\xbb\xbf", VBPR_ERR_PARSE, NULL, "empty file");
  expect_load_error("\xff\xfeu\0s\0", VBPR_ERR_PARSE, ":1:1:", "UTF-16");
  const char nul[] = "0 1\n0 \0 2\n";
  vbpr_dataset *ds = NULL;
  const char *p = write_tmp(nul, sizeof nul - 1);
  ck_assert_status(vbpr_dataset_load(p, NULL, &ds), VBPR_ERR_PARSE);
  unlink(p);
  ck_assert_msg(strstr(vbpr_last_error(), ":2:3:") && strstr(vbpr_last_error(), "NUL"), "%s",
                vbpr_last_error());
  ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(bad_paths)
{
  vbpr_dataset *ds = NULL;
  ck_assert_status(vbpr_dataset_load("/nonexistent/dir/file.tsv", NULL, &ds), VBPR_ERR_IO);
  ck_assert_msg(strstr(vbpr_last_error(), "/nonexistent/dir/file.tsv") &&
                    strstr(vbpr_last_error(), "open"), "%s", vbpr_last_error());
  const char *dir = getenv("TMPDIR");
  ck_assert_status(vbpr_dataset_load(dir && *dir ? dir : "/tmp", NULL, &ds), VBPR_ERR_IO);
  ck_assert_status(vbpr_dataset_load(NULL, NULL, &ds), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(long_lines_cross_the_buffer)
{
  /* one user with 40k items on one line: longer than any read chunk */
  size_t cap = 400000, n = 0;
  char *text = malloc(cap);
  n += (size_t)snprintf(text, cap, "user\titem\n");
  for (int k = 0; k < 30000; k++) n += (size_t)snprintf(text + n, cap - n, "1\t%d\n", 29999 - k);
  text[n] = '\0';
  vbpr_dataset *ds;
  ck_assert_ok(load_text(text, NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 30000);
  ck_assert_int_eq(vbpr_dataset_contains(ds, 1, 12345), 1);
  vbpr_dataset_destroy(ds);
  n = (size_t)snprintf(text, cap, "3");
  for (int k = 0; k < 40000; k++) n += (size_t)snprintf(text + n, cap - n, " %d", k);
  ck_assert_ok(load_text(text, NULL, &ds));
  ck_assert_int_eq(vbpr_dataset_num_interactions(ds), 40000);
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 4);
  vbpr_dataset_destroy(ds);
  free(text);
}
END_TEST

/* ---- shared universes and remapping ------------------------------------ */

START_TEST(load_pair_shares_universe)
{
  char a[64], b[64];
  strcpy(a, write_str("u\ti\tr\n0\t1\t5\n1\t2\t3\n"));
  strcpy(b, write_str("0 9\n4 0\n"));
  vbpr_dataset *train = NULL, *test = NULL;
  ck_assert_ok(vbpr_dataset_load_pair(a, b, NULL, &train, &test));
  ck_assert_int_eq(vbpr_dataset_num_users(train), 5);
  ck_assert_int_eq(vbpr_dataset_num_users(test), 5);
  ck_assert_int_eq(vbpr_dataset_num_items(train), 10);
  ck_assert_int_eq(vbpr_dataset_num_items(test), 10);
  ck_assert_int_eq(vbpr_dataset_has_ratings(train), 1);
  ck_assert_int_eq(vbpr_dataset_has_ratings(test), 0);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  /* an error in the second file: neither is created */
  vbpr_dataset *x = NULL, *y = NULL;
  unlink(b);
  ck_assert_status(vbpr_dataset_load_pair(a, b, NULL, &x, &y), VBPR_ERR_IO);
  ck_assert(x == NULL && y == NULL);
  ck_assert_status(vbpr_dataset_load_pair(a, a, NULL, &x, &x), VBPR_ERR_INVALID_ARGUMENT);
  unlink(a);
}
END_TEST

START_TEST(reference_sets_minimum_universe)
{
  vbpr_dataset *train, *test;
  ck_assert_ok(load_text("0 1 2\n7 3\n", NULL, &train));
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set_reference(o, train));
  vbpr_dataset_destroy(train); /* the options keep it alive */
  ck_assert_ok(load_text("1 0\n", o, &test));
  ck_assert_int_eq(vbpr_dataset_num_users(test), 8);
  ck_assert_int_eq(vbpr_dataset_num_items(test), 4);
  vbpr_dataset_destroy(test);
  ck_assert_ok(load_text("1 9\n", o, &test)); /* larger ids still allowed */
  ck_assert_int_eq(vbpr_dataset_num_items(test), 10);
  vbpr_dataset_destroy(test);
  ck_assert_ok(vbpr_dataset_options_set_reference(o, NULL));
  ck_assert_ok(load_text("1 0\n", o, &test));
  ck_assert_int_eq(vbpr_dataset_num_users(test), 2);
  vbpr_dataset_destroy(test);
  vbpr_dataset_options_destroy(o);
}
END_TEST

START_TEST(remap_sparse_ids)
{
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_REMAP_IDS, 1));
  vbpr_dataset *ds;
  ck_assert_ok(load_text("u,i\n900000000000,70\n5,3000000000\n5,70\n", o, &ds));
  ck_assert_int_eq(vbpr_dataset_num_users(ds), 2);
  ck_assert_int_eq(vbpr_dataset_num_items(ds), 2);
  const int64_t *ru, *ri;
  ck_assert_ok(vbpr_dataset_raw_user_ids(ds, &ru));
  ck_assert_ok(vbpr_dataset_raw_item_ids(ds, &ri));
  ck_assert(ru[0] == 5 && ru[1] == 900000000000LL);
  ck_assert(ri[0] == 70 && ri[1] == 3000000000LL);
  int32_t id;
  ck_assert_ok(vbpr_dataset_find_user(ds, 900000000000LL, &id));
  ck_assert_int_eq(id, 1);
  ck_assert_ok(vbpr_dataset_find_item(ds, 3000000000LL, &id));
  ck_assert_int_eq(id, 1);
  ck_assert_status(vbpr_dataset_find_item(ds, 71, &id), VBPR_ERR_OUT_OF_RANGE);
  expect_items(ds, 0, (const int32_t[]){0, 1}, 2);
  expect_items(ds, 1, (const int32_t[]){0}, 1);
  /* a test file in the same id space: known ids keep theirs, new ones follow */
  ck_assert_ok(vbpr_dataset_options_set_reference(o, ds));
  vbpr_dataset *test;
  ck_assert_ok(load_text("u,i\n5,1\n900000000000,3000000000\n", o, &test));
  ck_assert_int_eq(vbpr_dataset_num_users(test), 2);
  ck_assert_int_eq(vbpr_dataset_num_items(test), 3);
  ck_assert_ok(vbpr_dataset_find_item(test, 1, &id));
  ck_assert_int_eq(id, 2);
  ck_assert_ok(vbpr_dataset_find_item(test, 70, &id));
  ck_assert_int_eq(id, 0);
  expect_items(test, 0, (const int32_t[]){2}, 1);
  expect_items(test, 1, (const int32_t[]){1}, 1);
  vbpr_dataset_destroy(test);
  vbpr_dataset_destroy(ds);
  vbpr_dataset_options_destroy(o);
}
END_TEST

START_TEST(remap_pair_and_identity_lookup)
{
  vbpr_dataset_options *o;
  ck_assert_ok(vbpr_dataset_options_create(&o));
  ck_assert_ok(vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_REMAP_IDS, 1));
  char a[64], b[64];
  strcpy(a, write_str("10 100 200\n"));
  strcpy(b, write_str("30 150\n10 100\n"));
  vbpr_dataset *train, *test;
  ck_assert_ok(vbpr_dataset_load_pair(a, b, o, &train, &test));
  unlink(a);
  unlink(b);
  ck_assert_int_eq(vbpr_dataset_num_users(train), 2);
  ck_assert_int_eq(vbpr_dataset_num_items(test), 3);
  int32_t id;
  ck_assert_ok(vbpr_dataset_find_item(train, 150, &id)); /* one mapping for both */
  ck_assert_int_eq(id, 1);
  ck_assert_int_eq(vbpr_dataset_contains(test, 1, 1), 1);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  vbpr_dataset_options_destroy(o);
  /* without remapping, lookups are the identity, range-checked */
  vbpr_dataset *ds;
  ck_assert_ok(load_text("0 3\n", NULL, &ds));
  const int64_t *raw;
  ck_assert_ok(vbpr_dataset_raw_user_ids(ds, &raw));
  ck_assert_ptr_null(raw);
  ck_assert_ok(vbpr_dataset_find_item(ds, 3, &id));
  ck_assert_int_eq(id, 3);
  ck_assert_status(vbpr_dataset_find_item(ds, 4, &id), VBPR_ERR_OUT_OF_RANGE);
  ck_assert_status(vbpr_dataset_find_user(ds, -1, &id), VBPR_ERR_OUT_OF_RANGE);
  vbpr_dataset_destroy(ds);
}
END_TEST

/* ---- splitting --------------------------------------------------------- */

static vbpr_dataset *rated_dataset(void)
{
  enum { U = 50, I = 40 };
  static int32_t users[U * I], items[U * I];
  static float ratings[U * I];
  size_t n = 0;
  for (int u = 0; u < U; u++)
    for (int i = 0; i < I; i++)
      if ((u * 7 + i * 3) % 5 < 3) {
        users[n] = u;
        items[n] = i;
        ratings[n++] = (float)(1 + (u + i) % 5);
      }
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(U, I + 2, n, users, items, ratings, NULL, &ds));
  return ds;
}

START_TEST(split_by_threshold_is_reproducible)
{
  vbpr_dataset *ds = rated_dataset();
  vbpr_dataset *tr, *te, *tr2, *te2, *tr3, *te3;
  ck_assert_ok(vbpr_dataset_split(ds, 0.5, 4.0, 42, &tr, &te));
  ck_assert_ok(vbpr_dataset_split(ds, 0.5, 4.0, 42, &tr2, &te2));
  ck_assert_ok(vbpr_dataset_split(ds, 0.5, 4.0, 43, &tr3, &te3));
  ck_assert_int_eq(vbpr_dataset_num_users(te), 50);
  ck_assert_int_eq(vbpr_dataset_num_items(tr), 42);
  ck_assert_int_eq(vbpr_dataset_num_interactions(tr) + vbpr_dataset_num_interactions(te),
                   vbpr_dataset_num_interactions(ds));
  int differs = 0;
  for (int32_t u = 0; u < 50; u++) {
    const int32_t *all;
    size_t n;
    ck_assert_ok(vbpr_dataset_user_items(ds, u, &all, &n));
    int64_t high = 0, in_test = 0;
    for (size_t k = 0; k < n; k++) {
      int32_t i = all[k];
      float r = (float)(1 + (u + i) % 5);
      high += r >= 4;
      int a = vbpr_dataset_contains(tr, u, i), b = vbpr_dataset_contains(te, u, i);
      ck_assert_int_eq(a + b, 1);           /* a partition */
      if (b) ck_assert(r >= 4);              /* only rated >= 4 go to test */
      in_test += b;
      ck_assert_int_eq(b, vbpr_dataset_contains(te2, u, i)); /* same seed, same split */
      differs += b != vbpr_dataset_contains(te3, u, i);
    }
    ck_assert_int_eq(in_test, (int64_t)floor(0.5 * (double)high + 0.5));
  }
  ck_assert_int_gt(differs, 0); /* another seed, another split */
  const float *r;
  ck_assert_ok(vbpr_dataset_csr(te, NULL, NULL, &r));
  ck_assert_ptr_nonnull(r);
  vbpr_dataset *x = NULL, *y = NULL;
  ck_assert_status(vbpr_dataset_split(ds, 1.5, -INFINITY, 1, &x, &y), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_dataset_split(ds, 0.5, NAN, 1, &x, &y), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert(x == NULL && y == NULL);
  vbpr_dataset *objs[] = {ds, tr, te, tr2, te2, tr3, te3};
  for (int k = 0; k < 7; k++) vbpr_dataset_destroy(objs[k]);
}
END_TEST

START_TEST(split_without_ratings)
{
  vbpr_dataset *ds, *tr, *te;
  ck_assert_ok(load_text("0 1 2 3 4 5 6 7 8 9 10\n1 3\n", NULL, &ds));
  ck_assert_status(vbpr_dataset_split(ds, 0.2, 4.0, 1, &tr, &te), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_dataset_split(ds, 0.2, -INFINITY, 1, &tr, &te));
  ck_assert_int_eq(vbpr_dataset_num_interactions(te), 2 + 0); /* round(2.0), round(0.2) */
  ck_assert_int_eq(vbpr_dataset_num_interactions(tr), 9);
  vbpr_dataset_destroy(tr);
  vbpr_dataset_destroy(te);
  vbpr_dataset_destroy(ds);
}
END_TEST

/* ---- allocation failures ----------------------------------------------- */

/* Fails each allocation of op in turn: every failure must be clean (status
 * OUT_OF_MEMORY, no output, no leak under the sanitizer). */
typedef vbpr_status (*op_fn)(void *ctx, vbpr_dataset **a, vbpr_dataset **b);

static void fail_each_allocation(op_fn op, void *ctx)
{
  int succeeded = 0;
  for (long n = 1; n < 200 && !succeeded; n++) {
    vbpr_dataset *a = NULL, *b = NULL;
    vbpr__fault_arm(n);
    vbpr_status st = op(ctx, &a, &b);
    vbpr__fault_arm(0);
    if (st == VBPR_OK) {
      succeeded = 1;
    } else {
      ck_assert_msg(st == VBPR_ERR_OUT_OF_MEMORY, "allocation %ld: status %d (%s)", n, st,
                    vbpr_last_error());
      ck_assert(a == NULL && b == NULL);
    }
    vbpr_dataset_destroy(a);
    vbpr_dataset_destroy(b);
  }
  ck_assert(succeeded);
}

static vbpr_status op_create(void *ctx, vbpr_dataset **a, vbpr_dataset **b)
{
  (void)ctx;
  (void)b;
  const int32_t users[] = {1, 0, 1, 1}, items[] = {2, 1, 0, 2};
  const float r[] = {1, 2, 3, 4};
  return vbpr_dataset_create(VBPR_DATASET_INFER, VBPR_DATASET_INFER, 4, users, items, r, NULL, a);
}

static vbpr_status op_load_pair(void *ctx, vbpr_dataset **a, vbpr_dataset **b)
{
  const char **paths = ctx;
  return vbpr_dataset_load_pair(paths[0], paths[1], NULL, a, b);
}

static vbpr_status op_load_remap(void *ctx, vbpr_dataset **a, vbpr_dataset **b)
{
  const char **paths = ctx;
  vbpr_dataset_options *o = NULL;
  vbpr_status st = vbpr_dataset_options_create(&o);
  if (st == VBPR_OK) st = vbpr_dataset_options_set(o, VBPR_DATASET_OPTIONS_REMAP_IDS, 1);
  if (st == VBPR_OK) st = vbpr_dataset_load_pair(paths[0], paths[1], o, a, b);
  vbpr_dataset_options_destroy(o);
  return st;
}

static vbpr_status op_split(void *ctx, vbpr_dataset **a, vbpr_dataset **b)
{
  return vbpr_dataset_split(ctx, 0.5, 2.0, 7, a, b);
}

START_TEST(allocation_failures_are_clean)
{
  fail_each_allocation(op_create, NULL);
  char a[64], b[64];
  strcpy(a, write_str("u\ti\tr\n3\t1\t5\n0\t2\t3\n3\t0\t1\n"));
  strcpy(b, write_str("0 9 8 7\n4 0\n"));
  const char *paths[] = {a, b};
  fail_each_allocation(op_load_pair, paths);
  fail_each_allocation(op_load_remap, paths);
  unlink(a);
  unlink(b);
  vbpr_dataset *ds = rated_dataset();
  fail_each_allocation(op_split, ds);
  vbpr_dataset_destroy(ds);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("dataset");
  TCase *mem = tcase_create("memory");
  tcase_add_test(mem, create_builds_sorted_csr);
  tcase_add_test(mem, null_dataset_getters_are_zero);
  tcase_add_test(mem, duplicate_policies);
  tcase_add_test(mem, last_policy_follows_input_order_across_many_items);
  tcase_add_test(mem, create_rejects_bad_input);
  tcase_add_test(mem, create_sizes_infer_min_and_empty);
  tcase_add_test(mem, options_validate);
  suite_add_tcase(s, mem);
  TCase *good = tcase_create("files");
  tcase_add_test(good, load_table_with_header_tabs);
  tcase_add_test(good, load_table_variants);
  tcase_add_test(good, load_header_option);
  tcase_add_test(good, load_user_lists);
  tcase_add_test(good, load_forced_format);
  tcase_add_test(good, long_lines_cross_the_buffer);
  suite_add_tcase(s, good);
  TCase *bad = tcase_create("bad input");
  tcase_add_test(bad, bad_non_numeric_field);
  tcase_add_test(bad, bad_missing_or_empty_column);
  tcase_add_test(bad, bad_ids_out_of_range);
  tcase_add_test(bad, bad_exact_universe);
  tcase_add_test(bad, bad_ratings_not_finite);
  tcase_add_test(bad, bad_empty_and_binary_files);
  tcase_add_test(bad, bad_paths);
  suite_add_tcase(s, bad);
  TCase *uni = tcase_create("universe");
  tcase_add_test(uni, load_pair_shares_universe);
  tcase_add_test(uni, reference_sets_minimum_universe);
  tcase_add_test(uni, remap_sparse_ids);
  tcase_add_test(uni, remap_pair_and_identity_lookup);
  suite_add_tcase(s, uni);
  TCase *sp = tcase_create("split");
  tcase_add_test(sp, split_by_threshold_is_reproducible);
  tcase_add_test(sp, split_without_ratings);
  suite_add_tcase(s, sp);
  TCase *oom = tcase_create("allocation failures");
  tcase_add_test(oom, allocation_failures_are_clean);
  suite_add_tcase(s, oom);
  return test_run_suite(s);
}
