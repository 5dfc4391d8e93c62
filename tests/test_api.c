/* Black-box tests of the core public API, linked against the shared library. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

static const vbpr_status all_status[] = {
  VBPR_OK, VBPR_ERR_INVALID_ARGUMENT, VBPR_ERR_OUT_OF_MEMORY, VBPR_ERR_IO,
  VBPR_ERR_PARSE, VBPR_ERR_OUT_OF_RANGE, VBPR_ERR_STATE, VBPR_ERR_UNSUPPORTED,
  VBPR_ERR_NUMERIC, VBPR_ERR_INTERRUPTED,
};
#define N_STATUS (sizeof all_status / sizeof all_status[0])

START_TEST(status_values_are_stable)
{
  /* The ABI promises these numbers; a renumbering must fail here. */
  ck_assert_int_eq(VBPR_OK, 0);
  ck_assert_int_eq(VBPR_ERR_INVALID_ARGUMENT, -1);
  ck_assert_int_eq(VBPR_ERR_OUT_OF_MEMORY, -2);
  ck_assert_int_eq(VBPR_ERR_IO, -3);
  ck_assert_int_eq(VBPR_ERR_PARSE, -4);
  ck_assert_int_eq(VBPR_ERR_OUT_OF_RANGE, -5);
  ck_assert_int_eq(VBPR_ERR_STATE, -6);
  ck_assert_int_eq(VBPR_ERR_UNSUPPORTED, -7);
  ck_assert_int_eq(VBPR_ERR_NUMERIC, -8);
  ck_assert_int_eq(VBPR_ERR_INTERRUPTED, -9);
  ck_assert_int_eq(VBPR_STATUS_MIN, -9);
  ck_assert_int_eq(VBPR_MODULE_MF, 1);
  ck_assert_int_eq(VBPR_MODULE_LIGHTGCN, 2);
  ck_assert_int_eq(VBPR_MODULE_XSIMGCL, 3);
}
END_TEST

START_TEST(status_strings_distinct)
{
  for (size_t i = 0; i < N_STATUS; i++) {
    const char *a = vbpr_status_string(all_status[i]);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_gt((int)strlen(a), 0);
    ck_assert_str_ne(a, "unknown status");
    for (size_t j = 0; j < i; j++)
      ck_assert_str_ne(a, vbpr_status_string(all_status[j]));
  }
  ck_assert_str_eq(vbpr_status_string((vbpr_status)-1000), "unknown status");
  ck_assert_str_eq(vbpr_status_string((vbpr_status)5), "unknown status");
}
END_TEST

START_TEST(version_matches)
{
  ck_assert_uint_eq(vbpr_version_number(), VBPR_VERSION_NUMBER);
  ck_assert_str_eq(vbpr_version_string(), VBPR_VERSION_STRING);
  char buf[64];
  snprintf(buf, sizeof buf, "%d.%d.%d", VBPR_VERSION_MAJOR, VBPR_VERSION_MINOR,
           VBPR_VERSION_PATCH);
  ck_assert_str_eq(buf, vbpr_version_string());
  ck_assert(VBPR_VERSION_CHECK(0, 0, 0));
  ck_assert(!VBPR_VERSION_CHECK(VBPR_VERSION_MAJOR + 1, 0, 0));
  /* the build passes the Meson project version */
  ck_assert_str_eq(vbpr_version_string(), EXPECTED_VERSION);
}
END_TEST

START_TEST(last_error_initially_empty_and_clearable)
{
  ck_assert_ptr_nonnull(vbpr_last_error());
  ck_assert_status(vbpr_set_num_threads(VBPR_MAX_THREADS + 3), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(vbpr_last_status(), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(vbpr_last_error(), "vbpr_set_num_threads") != NULL,
                "message names the function: %s", vbpr_last_error());
  ck_assert_msg(strstr(vbpr_last_error(), "4099") != NULL,
                "message names the value: %s", vbpr_last_error());
  vbpr_error_clear();
  ck_assert_str_eq(vbpr_last_error(), "");
  ck_assert_int_eq(vbpr_last_status(), VBPR_OK);
}
END_TEST

typedef struct {
  size_t bad_value;
  char seen[256];
  pthread_barrier_t *barrier;
} thread_arg;

static void *fail_in_thread(void *p)
{
  thread_arg *a = p;
  vbpr_set_num_threads(a->bad_value);
  /* both threads have failed before either reads its message */
  pthread_barrier_wait(a->barrier);
  snprintf(a->seen, sizeof a->seen, "%s", vbpr_last_error());
  return NULL;
}

START_TEST(last_error_is_per_thread)
{
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, 2);
  thread_arg a = {5011, "", &barrier}, b = {999999, "", &barrier};
  pthread_t ta, tb;
  ck_assert_int_eq(pthread_create(&ta, NULL, fail_in_thread, &a), 0);
  ck_assert_int_eq(pthread_create(&tb, NULL, fail_in_thread, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  pthread_barrier_destroy(&barrier);
  ck_assert_msg(strstr(a.seen, "5011") && !strstr(a.seen, "999999"), "%s", a.seen);
  ck_assert_msg(strstr(b.seen, "999999") && !strstr(b.seen, "5011"), "%s", b.seen);
  /* this thread saw neither */
  vbpr_error_clear();
  ck_assert_str_eq(vbpr_last_error(), "");
}
END_TEST

START_TEST(num_threads_setting)
{
  ck_assert_ok(vbpr_set_num_threads(3));
  ck_assert_int_eq(vbpr_get_num_threads(), 3);
  ck_assert_ok(vbpr_set_num_threads(0));
  ck_assert_int_ge(vbpr_get_num_threads(), 1);
  ck_assert_status(vbpr_set_num_threads(5000), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_int_ge(vbpr_get_num_threads(), 1); /* unchanged by the failure */
  ck_assert_ok(vbpr_set_num_threads(1));
  ck_assert_int_eq(vbpr_get_num_threads(), 1);
}
END_TEST

START_TEST(num_threads_from_environment)
{
  /* runs in a forked child (CK_FORK) or first: the setting is read lazily */
  if (getenv("VBPR_NUM_THREADS") != NULL)
    ck_assert_int_eq(vbpr_get_num_threads(), atoi(getenv("VBPR_NUM_THREADS")));
}
END_TEST

START_TEST(modules_match_build)
{
  ck_assert_int_eq(vbpr_has_module(VBPR_MODULE_MF), EXPECTED_MF);
  ck_assert_int_eq(vbpr_has_module(VBPR_MODULE_LIGHTGCN), EXPECTED_LIGHTGCN);
  ck_assert_int_eq(vbpr_has_module(VBPR_MODULE_XSIMGCL), EXPECTED_XSIMGCL);
  ck_assert_int_eq(vbpr_has_module((vbpr_module)0), 0);
  ck_assert_int_eq(vbpr_has_module((vbpr_module)77), 0);
}
END_TEST

/* The whole of a text file under the source root into a malloc'd string. */
static char *read_source(const char *rel)
{
  const char *root = getenv("VBPR_SOURCE_ROOT");
  ck_assert_msg(root != NULL, "VBPR_SOURCE_ROOT is not set");
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char *buf = malloc(1 << 20);
  ck_assert_ptr_nonnull(buf);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* The error-message example of vbpr/error.h and doc/README.md is the
 * message the library really gives for that call. */
START_TEST(documented_error_example_is_the_real_message)
{
  vbpr_loss *loss = NULL;
  ck_assert_ok(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss));
  ck_assert_status(vbpr_loss_set(loss, VBPR_LOSS_C_POS, -1), VBPR_ERR_INVALID_ARGUMENT);
  const char *real = vbpr_last_error();
  const char *docs[] = {"include/vbpr/error.h", "doc/README.md"};
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    char *text = read_source(docs[i]);
    ck_assert_msg(strstr(text, real) != NULL, "%s does not quote the real message '%s'",
                  docs[i], real);
    free(text);
  }
  vbpr_loss_destroy(loss);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("api");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, status_values_are_stable);
  tcase_add_test(tc, status_strings_distinct);
  tcase_add_test(tc, version_matches);
  tcase_add_test(tc, last_error_initially_empty_and_clearable);
  tcase_add_test(tc, last_error_is_per_thread);
  tcase_add_test(tc, num_threads_from_environment);
  tcase_add_test(tc, num_threads_setting);
  tcase_add_test(tc, modules_match_build);
  tcase_add_test(tc, documented_error_example_is_the_real_message);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
