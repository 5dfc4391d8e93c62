/* Model files and .npy export, through the public API only: bit-exact
 * round trips, the documented layout, and every kind of damaged file. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "vbpr/vbpr.h"
#include "vbpr/dataset.h"
#include "vbpr/encoder.h"

static char dir[256];

static void make_dir(void)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/vbpr-model-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
  DIR *d = opendir(dir);
  if (d == NULL) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      unlink(test_path(p, sizeof p, dir, e->d_name));
  closedir(d);
  rmdir(dir);
}

static int count_files(void)
{
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

static unsigned char *read_all(const char *path, size_t *size)
{
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n + 1);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static void write_all(const char *path, const unsigned char *buf, size_t n)
{
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
  fclose(f);
}

/* FNV-1a 64, as doc/model-format.md defines it. */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t le64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static uint32_t le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Re-seals a file edited on purpose, so only the intended defect remains. */
static void reseal(unsigned char *buf, size_t n)
{
  put64(buf + 56, fnv1a(buf, 56));
  put64(buf + n - 8, fnv1a(buf, n - 8));
}

static vbpr_dataset *small_dataset(void)
{
  const int32_t u[] = {0, 0, 1, 2, 2, 3, 5, 6, 6, 6};
  const int32_t i[] = {0, 4, 1, 2, 3, 3, 0, 1, 7, 8};
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(8, 10, 10, u, i, NULL, NULL, &ds));
  return ds;
}

/* An encoder of the kind, or NULL when its module is not built. */
static vbpr_encoder *make(int kind, int32_t dim, uint64_t seed)
{
  vbpr_encoder *enc = NULL;
  if (kind == VBPR_ENCODER_MF) {
    if (!vbpr_has_module(VBPR_MODULE_MF)) {
      ck_assert_status(vbpr_encoder_create_mf(8, 10, dim, seed, &enc), VBPR_ERR_UNSUPPORTED);
      return NULL;
    }
    ck_assert_ok(vbpr_encoder_create_mf(8, 10, dim, seed, &enc));
  } else {
    vbpr_dataset *ds = small_dataset();
    vbpr_status st = vbpr_encoder_create_lightgcn(ds, dim, 2, seed, &enc);
    vbpr_dataset_destroy(ds);
    if (!vbpr_has_module(VBPR_MODULE_LIGHTGCN)) {
      ck_assert_int_eq(st, VBPR_ERR_UNSUPPORTED);
      return NULL;
    }
    ck_assert_ok(st);
  }
  return enc;
}

static float *params_copy(vbpr_encoder *enc, size_t *n)
{
  float *pu;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &pu, NULL, NULL, NULL));
  *n = (size_t)(vbpr_encoder_num_users(enc) + vbpr_encoder_num_items(enc)) *
       (size_t)vbpr_encoder_dim(enc);
  float *c = malloc(*n * sizeof(float));
  memcpy(c, pu, *n * sizeof(float)); /* the two tables are one block */
  return c;
}

static void assert_params(vbpr_encoder *enc, const float *want, size_t n)
{
  size_t m;
  float *got = params_copy(enc, &m);
  ck_assert_uint_eq(m, n);
  ck_assert_msg(memcmp(got, want, n * sizeof(float)) == 0, "parameters changed");
  free(got);
}

static void round_trip(int kind)
{
  vbpr_encoder *a = make(kind, 5, 1), *b = make(kind, 5, 2);
  if (!a) return;
  make_dir();
  char path[512], path2[512];
  test_path(path, sizeof path, dir, "model.vbpr");
  test_path(path2, sizeof path2, dir, "again.vbpr");
  /* Awkward values must survive too. */
  float *pu;
  ck_assert_ok(vbpr_encoder_table(a, VBPR_TABLE_USERS, &pu, NULL, NULL, NULL));
  pu[0] = -0.0f;
  pu[1] = 1e-42f; /* subnormal */
  pu[2] = 3.4028235e38f;
  ck_assert_ok(vbpr_encoder_save(a, path));
  ck_assert_int_eq(count_files(), 1); /* no temporary file left behind */
  size_t n;
  float *want = params_copy(a, &n);
  ck_assert_ok(vbpr_encoder_load(b, path));
  assert_params(b, want, n);
  /* Saving the loaded encoder gives the same bytes. */
  ck_assert_ok(vbpr_encoder_save(b, path2));
  size_t s1, s2;
  unsigned char *f1 = read_all(path, &s1), *f2 = read_all(path2, &s2);
  ck_assert_uint_eq(s1, s2);
  ck_assert_int_eq(memcmp(f1, f2, s1), 0);
  /* Overwriting an existing file works and stays atomic (one file each). */
  ck_assert_ok(vbpr_encoder_save(a, path));
  ck_assert_int_eq(count_files(), 2);
  /* LightGCN: the loaded encoder also propagates to the same embeddings. */
  const float *ea, *eb;
  ck_assert_ok(vbpr_encoder_embeddings(a, &ea, NULL));
  float first = ea[7];
  ck_assert_ok(vbpr_encoder_embeddings(b, &eb, NULL));
  ck_assert_float_eq(first, eb[7]);
  free(f1);
  free(f2);
  free(want);
  vbpr_encoder_destroy(a);
  vbpr_encoder_destroy(b);
  remove_dir();
}

START_TEST(round_trip_mf) { round_trip(VBPR_ENCODER_MF); }
END_TEST

START_TEST(round_trip_lightgcn) { round_trip(VBPR_ENCODER_LIGHTGCN); }
END_TEST

START_TEST(layout_is_as_documented)
{
  vbpr_encoder *a = make(VBPR_ENCODER_LIGHTGCN, 3, 4);
  if (!a) a = make(VBPR_ENCODER_MF, 3, 4);
  if (!a) return;
  int lgcn = vbpr_encoder_get_kind(a) == VBPR_ENCODER_LIGHTGCN;
  make_dir();
  char path[512];
  test_path(path, sizeof path, dir, "m");
  ck_assert_ok(vbpr_encoder_save(a, path));
  size_t size;
  unsigned char *buf = read_all(path, &size);
  size_t payload = (8 + 10) * 3 * 4;
  ck_assert_uint_eq(size, 64 + payload + 8);
  ck_assert_int_eq(memcmp(buf, "VBPRMODL", 8), 0);
  ck_assert_uint_eq(le32(buf + 8), 1);            /* format version */
  ck_assert_uint_eq(le32(buf + 12), 0x01020304u); /* byte-order mark */
  ck_assert_uint_eq(le32(buf + 16), (uint32_t)vbpr_encoder_get_kind(a));
  ck_assert_uint_eq(le32(buf + 20), 1);           /* float32 */
  ck_assert_uint_eq(le32(buf + 24), 3);           /* dim */
  ck_assert_uint_eq(le32(buf + 28), lgcn ? 2 : 0); /* layers */
  ck_assert_uint_eq(le64(buf + 32), 8);
  ck_assert_uint_eq(le64(buf + 40), 10);
  ck_assert_uint_eq(le64(buf + 48), payload);
  ck_assert_uint_eq(le64(buf + 56), fnv1a(buf, 56));
  ck_assert_uint_eq(le64(buf + size - 8), fnv1a(buf, size - 8));
  /* Payload: the user table then the item table, little-endian float32. */
  float *pi;
  ck_assert_ok(vbpr_encoder_table(a, VBPR_TABLE_ITEMS, &pi, NULL, NULL, NULL));
  uint32_t bits = le32(buf + 64 + 8 * 3 * 4 + 5 * 4);
  float v;
  memcpy(&v, &bits, 4);
  ck_assert_float_eq(v, pi[5]);
  /* The FNV-1a 64 reference vectors. */
  ck_assert_uint_eq(fnv1a((const unsigned char *)"", 0), 0xcbf29ce484222325ull);
  ck_assert_uint_eq(fnv1a((const unsigned char *)"a", 1), 0xaf63dc4c8601ec8cull);
  free(buf);
  vbpr_encoder_destroy(a);
  remove_dir();
}
END_TEST

/* Loads a damaged copy and checks the status, a message fragment, and that
 * the encoder did not change. */
static void expect_load_error(vbpr_encoder *enc, const char *path, const unsigned char *buf,
                              size_t n, vbpr_status status, const char *fragment)
{
  size_t m;
  float *before = params_copy(enc, &m);
  write_all(path, buf, n);
  ck_assert_status(vbpr_encoder_load(enc, path), status);
  ck_assert_msg(strstr(vbpr_last_error(), fragment) != NULL, "message '%s' lacks '%s'",
                vbpr_last_error(), fragment);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "vbpr_encoder_load: "));
  assert_params(enc, before, m);
  free(before);
}

START_TEST(damaged_files_are_rejected)
{
  vbpr_encoder *a = make(VBPR_ENCODER_MF, 4, 1), *b = make(VBPR_ENCODER_MF, 4, 2);
  if (!a) {
    a = make(VBPR_ENCODER_LIGHTGCN, 4, 1);
    b = make(VBPR_ENCODER_LIGHTGCN, 4, 2);
  }
  if (!a) return;
  make_dir();
  char good[512], bad[512];
  test_path(good, sizeof good, dir, "good");
  test_path(bad, sizeof bad, dir, "bad");
  ck_assert_ok(vbpr_encoder_save(a, good));
  size_t n;
  unsigned char *orig = read_all(good, &n);
  unsigned char *buf = malloc(n + 16);

  /* Truncated anywhere: empty, inside the header, inside the payload, the
   * trailer cut short. */
  const size_t cuts[] = {0, 7, 63, 71, 64 + 10, n - 1};
  for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
    expect_load_error(b, bad, orig, cuts[c], VBPR_ERR_PARSE, "truncated");
  /* Trailing bytes. */
  memcpy(buf, orig, n);
  memset(buf + n, 0, 16);
  expect_load_error(b, bad, buf, n + 16, VBPR_ERR_PARSE, "trailing bytes");
  /* One flipped bit in the payload, in the trailer, in the header. */
  memcpy(buf, orig, n);
  buf[64 + 33] ^= 0x10;
  expect_load_error(b, bad, buf, n, VBPR_ERR_PARSE, "checksum mismatch");
  memcpy(buf, orig, n);
  buf[n - 3] ^= 0x01;
  expect_load_error(b, bad, buf, n, VBPR_ERR_PARSE, "checksum mismatch");
  memcpy(buf, orig, n);
  buf[25] ^= 0x01;
  expect_load_error(b, bad, buf, n, VBPR_ERR_PARSE, "header checksum");
  /* Not a model file at all. */
  memcpy(buf, orig, n);
  memcpy(buf, "PK\x03\x04xxxx", 8);
  expect_load_error(b, bad, buf, n, VBPR_ERR_PARSE, "not a libvbpr model file");
  /* A sealed header that lies about its sizes: the length check wins, and
   * nothing is allocated from the lie. */
  memcpy(buf, orig, n);
  put64(buf + 32, 2000000000ull);
  put64(buf + 48, (2000000000ull + 10) * 4 * 4);
  reseal(buf, n);
  expect_load_error(b, bad, buf, n, VBPR_ERR_PARSE, "truncated");
  memcpy(buf, orig, n);
  put64(buf + 48, 12);
  reseal(buf, n);
  expect_load_error(b, bad, buf, n, VBPR_ERR_PARSE, "payload size 12");
  memcpy(buf, orig, n);
  buf[24] = 0; /* dim 0 */
  reseal(buf, n);
  expect_load_error(b, bad, buf, n, VBPR_ERR_PARSE, "invalid header");
  /* A newer format version, or a foreign byte order. */
  memcpy(buf, orig, n);
  buf[8] = 2;
  reseal(buf, n);
  expect_load_error(b, bad, buf, n, VBPR_ERR_UNSUPPORTED, "format version 2");
  memcpy(buf, orig, n);
  buf[12] = 0x01, buf[13] = 0x02, buf[14] = 0x03, buf[15] = 0x04;
  reseal(buf, n);
  expect_load_error(b, bad, buf, n, VBPR_ERR_UNSUPPORTED, "byte-order mark");
  /* A NaN parameter, properly sealed. */
  memcpy(buf, orig, n);
  const unsigned char nan_le[4] = {0x00, 0x00, 0xc0, 0x7f};
  memcpy(buf + 64 + 4 * 9, nan_le, 4);
  reseal(buf, n);
  expect_load_error(b, bad, buf, n, VBPR_ERR_PARSE, "parameter 9 is not finite");
  /* After all that, the good file still loads. */
  ck_assert_ok(vbpr_encoder_load(b, good));
  free(orig);
  free(buf);
  vbpr_encoder_destroy(a);
  vbpr_encoder_destroy(b);
  remove_dir();
}
END_TEST

START_TEST(mismatched_encoder_is_rejected)
{
  vbpr_encoder *a = make(VBPR_ENCODER_MF, 4, 1);
  vbpr_encoder *dim5 = make(VBPR_ENCODER_MF, 5, 1);
  vbpr_encoder *lg = make(VBPR_ENCODER_LIGHTGCN, 4, 1);
  make_dir();
  char path[512];
  test_path(path, sizeof path, dir, "m");
  if (a && dim5) {
    ck_assert_ok(vbpr_encoder_save(a, path));
    size_t n;
    float *before = params_copy(dim5, &n);
    ck_assert_status(vbpr_encoder_load(dim5, path), VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "dim 4"));
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "dim 5"));
    assert_params(dim5, before, n);
    free(before);
  }
  if (a && lg) { /* same sizes, different kind */
    size_t n;
    float *before = params_copy(lg, &n);
    ck_assert_status(vbpr_encoder_load(lg, path), VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "MF model"));
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "encoder is LightGCN"));
    assert_params(lg, before, n);
    free(before);
  }
  vbpr_encoder_destroy(a);
  vbpr_encoder_destroy(dim5);
  vbpr_encoder_destroy(lg);
  remove_dir();
}
END_TEST

START_TEST(io_errors_name_the_path)
{
  vbpr_encoder *a = make(VBPR_ENCODER_MF, 4, 1);
  if (!a) a = make(VBPR_ENCODER_LIGHTGCN, 4, 1);
  if (!a) return;
  make_dir();
  char path[512];
  test_path(path, sizeof path, dir, "no/such/dir/m");
  ck_assert_status(vbpr_encoder_save(a, path), VBPR_ERR_IO);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), path));
  ck_assert_status(vbpr_encoder_load(a, path), VBPR_ERR_IO);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "cannot open"));
  ck_assert_status(vbpr_encoder_load(a, dir), VBPR_ERR_IO); /* a directory */
  ck_assert_status(vbpr_encoder_export_npy(a, VBPR_TABLE_USERS, path), VBPR_ERR_IO);
  ck_assert_status(vbpr_encoder_save(a, ""), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_save(NULL, "x"), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_save(a, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_load(a, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_encoder_export_npy(a, (vbpr_table)5, "x"), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(count_files(), 0);
  vbpr_encoder_destroy(a);
  remove_dir();
}
END_TEST

static void check_npy(int kind)
{
  vbpr_encoder *a = make(kind, 6, 3);
  if (!a) return;
  make_dir();
  const float *eu, *ei;
  ck_assert_ok(vbpr_encoder_embeddings(a, &eu, &ei));
  for (int t = 0; t < 2; t++) {
    char path[512];
    test_path(path, sizeof path, dir, t ? "items.npy" : "users.npy");
    ck_assert_ok(vbpr_encoder_export_npy(a, (vbpr_table)t, path));
    size_t size;
    unsigned char *buf = read_all(path, &size);
    ck_assert_int_eq(memcmp(buf, "\x93NUMPY\x01\x00", 8), 0);
    size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    ck_assert_uint_eq((10 + hlen) % 64, 0);
    ck_assert_int_eq(buf[10 + hlen - 1], '\n');
    char header[256] = {0};
    memcpy(header, buf + 10, hlen < 255 ? hlen : 255);
    int rows = t ? 10 : 8;
    char shape[64];
    snprintf(shape, sizeof shape, "'shape': (%d, 6)", rows);
    ck_assert_ptr_nonnull(strstr(header, "'descr': '<f4'"));
    ck_assert_ptr_nonnull(strstr(header, "'fortran_order': False"));
    ck_assert_ptr_nonnull(strstr(header, shape));
    ck_assert_uint_eq(size, 10 + hlen + (size_t)rows * 6 * 4);
    /* the final embeddings (propagated for LightGCN), bit for bit */
    ck_assert_int_eq(memcmp(buf + 10 + hlen, t ? ei : eu, (size_t)rows * 6 * 4), 0);
    free(buf);
  }
  ck_assert_int_eq(count_files(), 2);
  vbpr_encoder_destroy(a);
  remove_dir();
}

START_TEST(npy_export_mf) { check_npy(VBPR_ENCODER_MF); }
END_TEST

START_TEST(npy_export_lightgcn) { check_npy(VBPR_ENCODER_LIGHTGCN); }
END_TEST

int main(void)
{
  Suite *s = suite_create("model_file");
  TCase *tc = tcase_create("model_file");
  tcase_add_test(tc, round_trip_mf);
  tcase_add_test(tc, round_trip_lightgcn);
  tcase_add_test(tc, layout_is_as_documented);
  tcase_add_test(tc, damaged_files_are_rejected);
  tcase_add_test(tc, mismatched_encoder_is_rejected);
  tcase_add_test(tc, io_errors_name_the_path);
  tcase_add_test(tc, npy_export_mf);
  tcase_add_test(tc, npy_export_lightgcn);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
