/* Helpers shared by the Check suites. */
#ifndef VBPR_TESTUTIL_H
#define VBPR_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The real-data folder (../shared/data laid beside the project), from
 * VBPR_DATA_DIR. Returns NULL when absent, after saying why; in CI
 * (CI=true) its absence fails the calling test instead of skipping. */
static inline const char *test_data_dir(void)
{
  const char *d = getenv("VBPR_DATA_DIR");
  struct stat st;
  if (d != NULL && *d != '\0' && stat(d, &st) == 0 && S_ISDIR(st.st_mode))
    return d;
  const char *ci = getenv("CI");
  if (ci != NULL && strcmp(ci, "true") == 0)
    ck_abort_msg("real data not found: set VBPR_DATA_DIR (got '%s'); CI must have it",
                 d ? d : "(unset)");
  fprintf(stderr, "SKIP: real data not found (VBPR_DATA_DIR='%s')\n", d ? d : "");
  return NULL;
}

/* Joins dir and name into buf; aborts the test if it does not fit. */
static inline const char *test_path(char *buf, size_t size, const char *dir,
                                    const char *name)
{
  int n = snprintf(buf, size, "%s/%s", dir, name);
  ck_assert_msg(n > 0 && (size_t)n < size, "path too long");
  return buf;
}

/* Runs a suite and returns a process exit code; CK_FORK etc. are honoured. */
static inline int test_run_suite(Suite *s)
{
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}

#define ck_assert_status(expr, expected)                                        \
  do {                                                                          \
    int st_ = (int)(expr);                                                      \
    ck_assert_msg(st_ == (int)(expected), "%s returned %d, expected %d (%s)",   \
                  #expr, st_, (int)(expected), vbpr_last_error());              \
  } while (0)

#define ck_assert_ok(expr) ck_assert_status((expr), VBPR_OK)

#endif
