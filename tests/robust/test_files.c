/* Crash safety of model files: a save killed at a random moment leaves the
 * old or the new model, never a partial one, and nothing that breaks later
 * saves; a file whose header claims more than its length is refused before
 * any allocation. White-box: vbpr__fault_count() counts allocations. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "testutil.h"
#include "vbpr/vbpr.h"

enum { BIG_USERS = 150000, BIG_ITEMS = 50000, BIG_DIM = 64, KILLS = 6 };

static char dir[256];

static void make_dir(void)
{
  snprintf(dir, sizeof dir, "%s/vbpr-files-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Removes every file of the test folder, then the folder; returns how many
 * names started with `prefix`. */
static int clean_dir(const char *prefix)
{
  int found = 0;
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  char path[512];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (prefix && strncmp(e->d_name, prefix, strlen(prefix)) == 0) found++;
    unlink(test_path(path, sizeof path, dir, e->d_name));
  }
  closedir(d);
  rmdir(dir);
  return found;
}

static int count_prefix(const char *prefix)
{
  int found = 0;
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) found++;
  closedir(d);
  return found;
}

static const float *table(vbpr_encoder *enc, vbpr_table t, size_t *n)
{
  float *p;
  const float *g;
  size_t rows, dim;
  ck_assert_ok(vbpr_encoder_table(enc, t, &p, &g, &rows, &dim));
  *n = (size_t)rows * (size_t)dim;
  return p;
}

static int same_tables(vbpr_encoder *a, vbpr_encoder *b)
{
  for (int t = 0; t < 2; t++) {
    size_t na, nb;
    const float *pa = table(a, (vbpr_table)t, &na), *pb = table(b, (vbpr_table)t, &nb);
    if (na != nb || memcmp(pa, pb, na * sizeof *pa) != 0) return 0;
  }
  return 1;
}

/* The child saves A and B in turn over the same path until killed. */
static void child_loop(vbpr_encoder *a, vbpr_encoder *b, const char *path)
{
  for (unsigned long i = 0;; i++)
    if (vbpr_encoder_save(i % 2 ? b : a, path) != VBPR_OK) _exit(3);
}

START_TEST(killed_saves_leave_old_or_new_model)
{
  make_dir();
  char path[512];
  test_path(path, sizeof path, dir, "m.vbpr");
  vbpr_encoder *a = NULL, *b = NULL, *got = NULL;
  ck_assert_ok(vbpr_encoder_create_mf(BIG_USERS, BIG_ITEMS, BIG_DIM, 1, &a));
  ck_assert_ok(vbpr_encoder_create_mf(BIG_USERS, BIG_ITEMS, BIG_DIM, 2, &b));
  ck_assert_ok(vbpr_encoder_create_mf(BIG_USERS, BIG_ITEMS, BIG_DIM, 3, &got));
  ck_assert(!same_tables(a, b));
  ck_assert_ok(vbpr_encoder_save(a, path));
  unsigned seed = (unsigned)time(NULL);
  fprintf(stderr, "kill delays seeded with %u\n", seed);
  int saw_a = 0, saw_b = 0;
  for (int k = 0; k < KILLS; k++) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) child_loop(a, b, path);
    long delay = 20000 + (long)(rand_r(&seed) % 400000); /* microseconds */
    struct timespec ts = {0, delay * 1000};
    nanosleep(&ts, NULL);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int wst = 0;
    ck_assert_int_eq(waitpid(pid, &wst, 0), pid);
    ck_assert_msg(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL,
                  "child ended before the kill (status %d)", wst);
    ck_assert_msg(vbpr_encoder_load(got, path) == VBPR_OK, "kill %d after %ld us: %s", k,
                  delay, vbpr_last_error());
    int is_a = same_tables(got, a), is_b = same_tables(got, b);
    ck_assert_msg(is_a || is_b, "kill %d: the model is neither the old nor the new one", k);
    saw_a += is_a;
    saw_b += is_b;
  }
  /* A killed save cannot remove its temporary file; a later save must
   * still work (its temporary name is unique) and replace the model. */
  int leftovers = count_prefix("m.vbpr.tmp");
  fprintf(stderr, "%d kills: old/new seen %d/%d, %d temporary files left behind\n", KILLS,
          saw_a, saw_b, leftovers);
  ck_assert_ok(vbpr_encoder_save(b, path));
  ck_assert_ok(vbpr_encoder_load(got, path));
  ck_assert(same_tables(got, b));
  ck_assert_int_eq(count_prefix("m.vbpr.tmp"), leftovers);
  /* Leftovers of a dead process whose pid is reused by this one: the
   * exclusive create skips the taken names. */
  char stale[600];
  for (unsigned k = 0; k < 32; k++) {
    snprintf(stale, sizeof stale, "%s.tmp.%ld.%u", path, (long)getpid(), k);
    FILE *f = fopen(stale, "wb");
    ck_assert_ptr_nonnull(f);
    fclose(f);
  }
  ck_assert_ok(vbpr_encoder_save(a, path));
  ck_assert_ok(vbpr_encoder_load(got, path));
  ck_assert(same_tables(got, a));
  vbpr_encoder_destroy(a);
  vbpr_encoder_destroy(b);
  vbpr_encoder_destroy(got);
  clean_dir(NULL);
}
END_TEST

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UINT64_C(0x100000001b3);
  return h;
}

static void put_u64(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes the first `keep` bytes of `src` to `dst`, after `edit` on the header. */
static void write_variant(const char *src, const char *dst, size_t keep,
                          void (*edit)(unsigned char *h))
{
  FILE *f = fopen(src, "rb");
  ck_assert_ptr_nonnull(f);
  unsigned char *buf = malloc(keep);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, keep, f), keep);
  fclose(f);
  if (edit) {
    edit(buf);
    put_u64(buf + 56, fnv1a(buf, 56)); /* a valid header checksum */
  }
  f = fopen(dst, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(buf, 1, keep, f), keep);
  ck_assert_int_eq(fclose(f), 0);
  free(buf);
}

static void huge_users(unsigned char *h) { put_u64(h + 32, UINT64_C(1) << 40); }

static void huge_consistent(unsigned char *h)
{
  /* 2^30 users and items at dim 4096: consistent sizes, payload 2^45 bytes
   * (num_users + num_items < 2^31 is then violated too) */
  put_u64(h + 32, UINT64_C(1) << 30);
  put_u64(h + 40, (UINT64_C(1) << 30) - 1);
  h[24] = 0x00, h[25] = 0x10, h[26] = 0, h[27] = 0;
  put_u64(h + 48, ((UINT64_C(1) << 31) - 1) * 4096 * 4);
}

static void check_refused(vbpr_encoder *enc, const char *path, const char *what)
{
  vbpr__fault_arm(0);
  vbpr_status st = vbpr_encoder_load(enc, path);
  long allocs = vbpr__fault_count();
  ck_assert_msg(st == VBPR_ERR_PARSE || st == VBPR_ERR_IO, "%s: status %d (%s)", what, st,
                vbpr_last_error());
  ck_assert_msg(strstr(vbpr_last_error(), "vbpr_encoder_load") != NULL, "%s", vbpr_last_error());
  ck_assert_msg(allocs == 0, "%s: %ld allocations before refusing", what, allocs);
}

START_TEST(short_files_are_refused_without_allocating)
{
  make_dir();
  char path[512], bad[512];
  test_path(path, sizeof path, dir, "m.vbpr");
  test_path(bad, sizeof bad, dir, "bad.vbpr");
  vbpr_encoder *enc = NULL;
  ck_assert_ok(vbpr_encoder_create_mf(20000, 10000, 64, 1, &enc));
  ck_assert_ok(vbpr_encoder_save(enc, path));
  write_variant(path, bad, 64, NULL);
  check_refused(enc, bad, "header only");
  write_variant(path, bad, 64 + 4096, NULL);
  check_refused(enc, bad, "truncated payload");
  write_variant(path, bad, 40, NULL);
  check_refused(enc, bad, "truncated header");
  write_variant(path, bad, 64 + 4096, huge_users);
  check_refused(enc, bad, "2^40 users claimed");
  write_variant(path, bad, 64 + 4096, huge_consistent);
  check_refused(enc, bad, "2^45-byte payload claimed");
  /* the encoder is unchanged and still loads the real file */
  ck_assert_ok(vbpr_encoder_load(enc, path));
  vbpr_encoder_destroy(enc);
  clean_dir(NULL);
}
END_TEST

int main(void)
{
  if (!vbpr_has_module(VBPR_MODULE_MF)) {
    fprintf(stderr, "SKIP: the mf module is not built\n");
    return 77; /* Meson's skip code */
  }
  Suite *s = suite_create("robust_files");
  TCase *tc = tcase_create("files");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, killed_saves_leave_old_or_new_model);
  tcase_add_test(tc, short_files_are_refused_without_allocating);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
