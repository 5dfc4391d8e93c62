/* Model files (save/load of an encoder's tables) and .npy export.
 * The format is described in doc/model-format.md. Files are written
 * atomically (temporary file + fsync + rename) and read defensively: no
 * size read from a file is trusted before it is checked against the file's
 * length, and nothing reaches the encoder before the checksum matches. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "core/file.h"
#include "encoder/encoder_impl.h"

#define MODEL_MAGIC "VBPRMODL"
#define MODEL_VERSION 1u
#define MODEL_BOM 0x01020304u
#define MODEL_DTYPE_F32 1u
#define HEADER_SIZE 64
#define TRAILER_SIZE 8

/* ---- model files ------------------------------------------------------- */

typedef struct model_header {
  uint32_t version, bom, kind, dtype;
  int32_t dim, num_layers;
  int64_t num_users, num_items;
  uint64_t payload;
} model_header;

static void encode_header(const vbpr_encoder *e, unsigned char *h)
{
  memset(h, 0, HEADER_SIZE);
  memcpy(h, MODEL_MAGIC, 8);
  vbpr__put_u32(h + 8, MODEL_VERSION);
  vbpr__put_u32(h + 12, MODEL_BOM);
  vbpr__put_u32(h + 16, (uint32_t)e->ops->info->kind);
  vbpr__put_u32(h + 20, MODEL_DTYPE_F32);
  vbpr__put_u32(h + 24, (uint32_t)e->dim);
  vbpr__put_u32(h + 28, (uint32_t)e->num_layers);
  vbpr__put_u64(h + 32, (uint64_t)e->num_users);
  vbpr__put_u64(h + 40, (uint64_t)e->num_items);
  vbpr__put_u64(h + 48, (uint64_t)(e->n_elems * sizeof(float)));
  vbpr__put_u64(h + 56, vbpr__fnv1a(VBPR__FNV_OFFSET, h, 56));
}

vbpr_status vbpr_encoder_save(const vbpr_encoder *enc, const char *path)
{
  VBPR_CHECK_NULL(enc);
  VBPR_CHECK_NULL(path);
  if (*path == '\0') return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "path must not be empty");
  unsigned char h[HEADER_SIZE], t[TRAILER_SIZE];
  encode_header(enc, h);
  vbpr__file_writer w;
  vbpr_status st = vbpr__file_open(&w, path, __func__);
  if (st != VBPR_OK) return st;
  st = vbpr__file_put(&w, h, sizeof h);
  if (st == VBPR_OK) st = vbpr__file_put_floats(&w, enc->param, enc->n_elems);
  if (st == VBPR_OK) {
    vbpr__put_u64(t, w.hash);
    st = vbpr__file_put(&w, t, sizeof t);
  }
  if (st != VBPR_OK) {
    vbpr__file_abort(&w);
    return st;
  }
  return vbpr__file_commit(&w);
}

/* Checks the header alone; sizes are then consistent with each other. */
static vbpr_status decode_header(const unsigned char *h, model_header *m, const char *path,
                                 const char *func)
{
  if (memcmp(h, MODEL_MAGIC, 8) != 0)
    return vbpr__error(VBPR_ERR_PARSE, func, "'%s' is not a libvbpr model file (bad magic)",
                       path);
  if (vbpr__get_u64(h + 56) != vbpr__fnv1a(VBPR__FNV_OFFSET, h, 56))
    return vbpr__error(VBPR_ERR_PARSE, func, "'%s': header checksum mismatch (corrupted)",
                       path);
  m->version = vbpr__get_u32(h + 8);
  m->bom = vbpr__get_u32(h + 12);
  m->kind = vbpr__get_u32(h + 16);
  m->dtype = vbpr__get_u32(h + 20);
  m->dim = (int32_t)vbpr__get_u32(h + 24);
  m->num_layers = (int32_t)vbpr__get_u32(h + 28);
  m->num_users = (int64_t)vbpr__get_u64(h + 32);
  m->num_items = (int64_t)vbpr__get_u64(h + 40);
  m->payload = vbpr__get_u64(h + 48);
  if (m->version != MODEL_VERSION)
    return vbpr__error(m->version > MODEL_VERSION ? VBPR_ERR_UNSUPPORTED : VBPR_ERR_PARSE,
                       func, "'%s': format version %u, this library reads version %u",
                       path, (unsigned)m->version, MODEL_VERSION);
  if (m->bom != MODEL_BOM)
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "'%s': byte-order mark 0x%08x, expected 0x%08x (little-endian)", path,
                       (unsigned)m->bom, MODEL_BOM);
  if (m->dtype != MODEL_DTYPE_F32)
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func, "'%s': element type %u, expected 1 (float32)",
                       path, (unsigned)m->dtype);
  /* Any registered kind, built or not, with layers in its range. */
  const vbpr__encoder_kind_info *k =
      m->kind <= INT32_MAX ? vbpr__encoder_kind_find((int)m->kind) : NULL;
  if (k == NULL || m->num_layers < k->min_layers || m->num_layers > k->max_layers ||
      m->dim < 1 || m->dim > VBPR_ENCODER_MAX_DIM || m->num_users < 1 || m->num_items < 1 ||
      m->num_users + m->num_items > INT32_MAX)
    return vbpr__error(VBPR_ERR_PARSE, func,
                       "'%s': invalid header (kind %u, dim %d, layers %d, %lld users, "
                       "%lld items)", path, (unsigned)m->kind, (int)m->dim,
                       (int)m->num_layers, (long long)m->num_users, (long long)m->num_items);
  /* Bounded above: at most 2^31 rows x 4096 x 4 bytes, no overflow. */
  uint64_t want = (uint64_t)(m->num_users + m->num_items) * (uint64_t)m->dim * 4u;
  if (m->payload != want)
    return vbpr__error(VBPR_ERR_PARSE, func,
                       "'%s': payload size %llu does not match the tables (%llu bytes)",
                       path, (unsigned long long)m->payload, (unsigned long long)want);
  return VBPR_OK;
}

static vbpr_status check_match(const vbpr_encoder *e, const model_header *m,
                               const char *path, const char *func)
{
  const vbpr__encoder_kind_info *k = e->ops->info;
  if (m->kind == (uint32_t)k->kind && m->dim == e->dim && m->num_users == e->num_users &&
      m->num_items == e->num_items && m->num_layers == e->num_layers)
    return VBPR_OK;
  return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                     "'%s' holds a %s model (%lld users, %lld items, dim %d, %d layers) "
                     "but the encoder is %s (%d users, %d items, dim %d, %d layers)",
                     path, vbpr__encoder_kind_name((int)m->kind), (long long)m->num_users,
                     (long long)m->num_items, (int)m->dim, (int)m->num_layers,
                     k->name, (int)e->num_users, (int)e->num_items,
                     (int)e->dim, (int)e->num_layers);
}

/* Reads and verifies the tables into a fresh buffer (*out, caller frees). */
static vbpr_status read_payload(FILE *f, const unsigned char *h, size_t n_floats,
                                float **out, const char *path, const char *func)
{
  float *buf = vbpr__aligned_array(n_floats, sizeof(float));
  if (buf == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %zu floats to load '%s'",
                       n_floats, path);
  uint64_t hash = vbpr__fnv1a(VBPR__FNV_OFFSET, h, HEADER_SIZE);
  unsigned char t[TRAILER_SIZE];
  vbpr_status st = vbpr__file_read_exact(f, buf, n_floats * sizeof(float), path, func);
  if (st == VBPR_OK) st = vbpr__file_read_exact(f, t, sizeof t, path, func);
  if (st == VBPR_OK) {
    hash = vbpr__fnv1a(hash, (const unsigned char *)buf, n_floats * sizeof(float));
    if (vbpr__get_u64(t) != hash)
      st = vbpr__error(VBPR_ERR_PARSE, func, "'%s': checksum mismatch (corrupted file)", path);
  }
  if (st == VBPR_OK) {
    vbpr__swap32_if_be(buf, n_floats);
    for (size_t i = 0; i < n_floats && st == VBPR_OK; i++)
      if (!isfinite(buf[i]))
        st = vbpr__error(VBPR_ERR_PARSE, func, "'%s': parameter %zu is not finite", path, i);
  }
  if (st != VBPR_OK) {
    vbpr__free(buf);
    return st;
  }
  *out = buf;
  return VBPR_OK;
}

static vbpr_status load_from(vbpr_encoder *enc, FILE *f, const char *path, const char *func)
{
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
    return vbpr__error(VBPR_ERR_IO, func, "'%s' is not a regular file", path);
  uint64_t size = (uint64_t)sb.st_size;
  if (size < HEADER_SIZE + TRAILER_SIZE)
    return vbpr__error(VBPR_ERR_PARSE, func,
                       "'%s' is truncated: %llu bytes, a model file has at least %d", path,
                       (unsigned long long)size, HEADER_SIZE + TRAILER_SIZE);
  unsigned char h[HEADER_SIZE];
  model_header m = {0};
  vbpr_status st = vbpr__file_read_exact(f, h, sizeof h, path, func);
  if (st == VBPR_OK) st = decode_header(h, &m, path, func);
  if (st != VBPR_OK) return st;
  uint64_t want = HEADER_SIZE + m.payload + TRAILER_SIZE;
  if (size != want)
    return vbpr__error(VBPR_ERR_PARSE, func, "'%s' is %s: %llu bytes, the header says %llu",
                       path, size < want ? "truncated" : "followed by trailing bytes",
                       (unsigned long long)size, (unsigned long long)want);
  st = check_match(enc, &m, path, func);
  if (st != VBPR_OK) return st;
  float *buf = NULL;
  st = read_payload(f, h, enc->n_elems, &buf, path, func);
  if (st != VBPR_OK) return st;
  memcpy(enc->param, buf, enc->n_elems * sizeof(float));
  vbpr__free(buf);
  return VBPR_OK;
}

vbpr_status vbpr_encoder_load(vbpr_encoder *enc, const char *path)
{
  VBPR_CHECK_NULL(enc);
  VBPR_CHECK_NULL(path);
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    char eb[128];
    return VBPR_FAIL(VBPR_ERR_IO, "cannot open '%s': %s", path, vbpr__errstr(errno, eb, sizeof eb));
  }
  vbpr_status st = load_from(enc, f, path, __func__);
  fclose(f);
  return st;
}

/* ---- .npy export ------------------------------------------------------- */

/* NumPy format 1.0: magic, version, u16 header length, a Python dict
 * literal padded with spaces and ended by '\n' so the data starts at a
 * multiple of 64 bytes. */
static size_t npy_header(unsigned char *buf, size_t size, int64_t rows, int32_t dim)
{
  char dict[128];
  int n = snprintf(dict, sizeof dict,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %d), }",
                   (long long)rows, (int)dim);
  size_t total = 10 + (size_t)n + 1;
  total = (total + 63) / 64 * 64;
  if (total > size || n < 0) return 0;
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  size_t hlen = total - 10;
  buf[8] = (unsigned char)(hlen & 0xff);
  buf[9] = (unsigned char)(hlen >> 8);
  memset(buf + 10, ' ', hlen);
  memcpy(buf + 10, dict, (size_t)n);
  buf[total - 1] = '\n';
  return total;
}

vbpr_status vbpr_encoder_export_npy(vbpr_encoder *enc, vbpr_table table, const char *path)
{
  VBPR_CHECK_NULL(enc);
  VBPR_CHECK_NULL(path);
  if (*path == '\0') return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "path must not be empty");
  if (table != VBPR_TABLE_USERS && table != VBPR_TABLE_ITEMS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "table must be VBPR_TABLE_USERS (0) or VBPR_TABLE_ITEMS (1), got %d",
                     (int)table);
  const float *src = NULL; /* the final embeddings, as vbpr_encoder_embeddings */
  vbpr_status st = enc->ops->source(enc, VBPR__SOURCE_EVAL, &src, __func__);
  if (st != VBPR_OK) return st;
  int32_t rows = table == VBPR_TABLE_USERS ? enc->num_users : enc->num_items;
  if (table == VBPR_TABLE_ITEMS) src += (size_t)enc->num_users * (size_t)enc->dim;
  unsigned char h[128];
  size_t hn = npy_header(h, sizeof h, rows, enc->dim);
  vbpr__file_writer w;
  st = vbpr__file_open(&w, path, __func__);
  if (st != VBPR_OK) return st;
  st = vbpr__file_put(&w, h, hn);
  if (st == VBPR_OK) st = vbpr__file_put_floats(&w, src, (size_t)rows * (size_t)enc->dim);
  if (st != VBPR_OK) {
    vbpr__file_abort(&w);
    return st;
  }
  return vbpr__file_commit(&w);
}
