/* The checkpoint container of core/ckpt.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ckpt.h"
#include "core/core.h"
#include "vbpr/error.h"

#define MAGIC "VBPRCKPT"
#define BOM 0x01020304u
#define HEADER_SIZE 32
#define SECTION_HEADER 24
#define TRAILER_SIZE 8

/* ---- writing ------------------------------------------------------------- */

static void put(vbpr__ckpt_writer *w, const void *data, size_t n)
{
  if (w->st != VBPR_OK) return;
  if (w->counting) w->count += n;
  else w->st = vbpr__file_put(&w->file, data, n);
}

void vbpr__ckpt_put_u32(vbpr__ckpt_writer *w, uint32_t v)
{
  unsigned char b[4];
  vbpr__put_u32(b, v);
  put(w, b, sizeof b);
}

void vbpr__ckpt_put_u64(vbpr__ckpt_writer *w, uint64_t v)
{
  unsigned char b[8];
  vbpr__put_u64(b, v);
  put(w, b, sizeof b);
}

void vbpr__ckpt_put_f64(vbpr__ckpt_writer *w, double v)
{
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  vbpr__ckpt_put_u64(w, bits);
}

void vbpr__ckpt_put_floats(vbpr__ckpt_writer *w, size_t n, const float *v)
{
  if (w->st != VBPR_OK) return;
  if (w->counting) w->count += (uint64_t)n * 4u;
  else w->st = vbpr__file_put_floats(&w->file, v, n);
}

void vbpr__ckpt_put_u32s(vbpr__ckpt_writer *w, size_t n, const uint32_t *v)
{
  /* same bytes as floats: 4-byte little-endian elements */
  vbpr__ckpt_put_floats(w, n, (const float *)(const void *)v);
}

vbpr_status vbpr__ckpt_begin(vbpr__ckpt_writer *w, const char *path, uint32_t nsections,
                             const char *func)
{
  memset(w, 0, sizeof *w);
  w->st = vbpr__file_open(&w->file, path, func);
  if (w->st != VBPR_OK) return w->st;
  unsigned char h[HEADER_SIZE] = {0};
  memcpy(h, MAGIC, 8);
  vbpr__put_u32(h + 8, VBPR__CKPT_VERSION);
  vbpr__put_u32(h + 12, BOM);
  vbpr__put_u32(h + 16, nsections);
  vbpr__put_u64(h + 24, vbpr__fnv1a(VBPR__FNV_OFFSET, h, 24));
  put(w, h, sizeof h);
  return w->st;
}

void vbpr__ckpt_section(vbpr__ckpt_writer *w, const char *tag, uint32_t version,
                        vbpr__ckpt_write_fn fn, const void *obj)
{
  if (w->st != VBPR_OK) return;
  w->counting = true;
  w->count = 0;
  fn(obj, w);
  w->counting = false;
  unsigned char h[SECTION_HEADER] = {0};
  memcpy(h, tag, strnlen(tag, 8));
  vbpr__put_u32(h + 8, version);
  vbpr__put_u64(h + 16, w->count);
  put(w, h, sizeof h);
  fn(obj, w);
  w->sections++;
}

vbpr_status vbpr__ckpt_commit(vbpr__ckpt_writer *w)
{
  if (w->st == VBPR_OK) {
    unsigned char t[TRAILER_SIZE];
    vbpr__put_u64(t, w->file.hash);
    put(w, t, sizeof t);
  }
  if (w->st != VBPR_OK) {
    vbpr__file_abort(&w->file);
    return w->st;
  }
  return vbpr__file_commit(&w->file);
}

/* ---- reading ------------------------------------------------------------- */

static vbpr_status bad_file(const char *path, const char *func, const char *what)
{
  return vbpr__error(VBPR_ERR_PARSE, func, "'%s': %s", path, what);
}

static vbpr_status read_all(const char *path, vbpr__ckpt_file *f, const char *func)
{
  char eb[128];
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return vbpr__error(VBPR_ERR_IO, func, "cannot open '%s': %s", path,
                       vbpr__errstr(errno, eb, sizeof eb));
  struct stat sb;
  vbpr_status st = VBPR_OK;
  if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode))
    st = vbpr__error(VBPR_ERR_IO, func, "'%s' is not a regular file", path);
  else if ((uint64_t)sb.st_size < HEADER_SIZE + TRAILER_SIZE)
    st = bad_file(path, func, "too short to be a libvbpr checkpoint");
  else if ((uint64_t)sb.st_size > SIZE_MAX)
    st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "'%s' is too large", path);
  if (st == VBPR_OK) {
    f->size = (size_t)sb.st_size;
    f->data = vbpr__malloc(f->size);
    st = f->data == NULL ? vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                                       "cannot allocate %zu bytes to read '%s'", f->size, path)
                         : vbpr__file_read_exact(fp, f->data, f->size, path, func);
  }
  fclose(fp);
  return st;
}

static vbpr_status check_header(const vbpr__ckpt_file *f, const char *func)
{
  const unsigned char *h = f->data;
  if (memcmp(h, MAGIC, 8) != 0)
    return bad_file(f->path, func, "not a libvbpr checkpoint (bad magic)");
  if (vbpr__get_u64(h + 24) != vbpr__fnv1a(VBPR__FNV_OFFSET, h, 24))
    return bad_file(f->path, func, "header checksum mismatch (corrupted)");
  uint32_t version = vbpr__get_u32(h + 8), bom = vbpr__get_u32(h + 12);
  if (version != VBPR__CKPT_VERSION)
    return vbpr__error(version > VBPR__CKPT_VERSION ? VBPR_ERR_UNSUPPORTED : VBPR_ERR_PARSE,
                       func, "'%s': checkpoint format version %u, this library reads "
                       "version %u", f->path, (unsigned)version, VBPR__CKPT_VERSION);
  if (bom != BOM)
    return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                       "'%s': byte-order mark 0x%08x, expected 0x%08x", f->path,
                       (unsigned)bom, BOM);
  if (vbpr__get_u64(f->data + f->size - TRAILER_SIZE) !=
      vbpr__fnv1a(VBPR__FNV_OFFSET, f->data, f->size - TRAILER_SIZE))
    return bad_file(f->path, func, "checksum mismatch (corrupted or truncated)");
  return VBPR_OK;
}

/* The sections must tile the space between header and trailer. */
static vbpr_status check_sections(vbpr__ckpt_file *f, const char *func)
{
  f->sections = vbpr__get_u32(f->data + 16);
  uint64_t at = HEADER_SIZE, end = f->size - TRAILER_SIZE;
  for (uint32_t i = 0; i < f->sections; i++) {
    if (end - at < SECTION_HEADER) return bad_file(f->path, func, "section table truncated");
    uint64_t len = vbpr__get_u64(f->data + at + 16);
    if (len > end - at - SECTION_HEADER)
      return bad_file(f->path, func, "a section runs past the end of the file");
    at += SECTION_HEADER + len;
  }
  if (at != end) return bad_file(f->path, func, "bytes after the last section");
  return VBPR_OK;
}

vbpr_status vbpr__ckpt_load(const char *path, vbpr__ckpt_file *f, const char *func)
{
  memset(f, 0, sizeof *f);
  f->path = path;
  vbpr_status st = read_all(path, f, func);
  if (st == VBPR_OK) st = check_header(f, func);
  if (st == VBPR_OK) st = check_sections(f, func);
  if (st != VBPR_OK) vbpr__ckpt_close(f);
  return st;
}

void vbpr__ckpt_close(vbpr__ckpt_file *f)
{
  vbpr__free(f->data);
  f->data = NULL;
  f->size = 0;
}

vbpr_status vbpr__ckpt_find(const vbpr__ckpt_file *f, const char *tag, uint32_t max_version,
                            vbpr__ckpt_reader *r, bool *found, const char *func)
{
  memset(r, 0, sizeof *r);
  snprintf(r->tag, sizeof r->tag, "%s", tag);
  r->path = f->path;
  r->func = func;
  if (found) *found = false;
  uint64_t at = HEADER_SIZE;
  for (uint32_t i = 0; i < f->sections; i++) {
    const unsigned char *h = f->data + at;
    uint64_t len = vbpr__get_u64(h + 16);
    if (strncmp((const char *)h, r->tag, 8) == 0) {
      r->version = vbpr__get_u32(h + 8);
      if (r->version > max_version)
        return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                           "'%s': section %s has version %u, this library reads up to %u",
                           f->path, r->tag, (unsigned)r->version, (unsigned)max_version);
      r->p = h + SECTION_HEADER;
      r->len = len;
      if (found) *found = true;
      return VBPR_OK;
    }
    at += SECTION_HEADER + len;
  }
  if (found) return VBPR_OK;
  return vbpr__error(VBPR_ERR_PARSE, func, "'%s': no %s section", f->path, r->tag);
}

bool vbpr__ckpt_has(const vbpr__ckpt_reader *r, uint64_t n, size_t size)
{
  return r->st == VBPR_OK && (size == 0 || n <= (r->len - r->at) / size);
}

static const unsigned char *take(vbpr__ckpt_reader *r, uint64_t n, size_t size)
{
  if (!vbpr__ckpt_has(r, n, size)) {
    if (r->st == VBPR_OK)
      r->st = vbpr__error(VBPR_ERR_PARSE, r->func, "'%s': section %s is truncated", r->path,
                          r->tag);
    return NULL;
  }
  const unsigned char *p = r->p + r->at;
  r->at += n * size;
  return p;
}

uint32_t vbpr__ckpt_get_u32(vbpr__ckpt_reader *r)
{
  const unsigned char *p = take(r, 1, 4);
  return p ? vbpr__get_u32(p) : 0;
}

uint64_t vbpr__ckpt_get_u64(vbpr__ckpt_reader *r)
{
  const unsigned char *p = take(r, 1, 8);
  return p ? vbpr__get_u64(p) : 0;
}

double vbpr__ckpt_get_f64(vbpr__ckpt_reader *r)
{
  uint64_t bits = vbpr__ckpt_get_u64(r);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

void vbpr__ckpt_get_floats(vbpr__ckpt_reader *r, size_t n, float *dst)
{
  const unsigned char *p = take(r, n, 4);
  if (p == NULL) return;
  memcpy(dst, p, n * 4);
  vbpr__swap32_if_be(dst, n);
}

void vbpr__ckpt_get_u32s(vbpr__ckpt_reader *r, size_t n, uint32_t *dst)
{
  vbpr__ckpt_get_floats(r, n, (float *)(void *)dst);
}

vbpr_status vbpr__ckpt_bad(vbpr__ckpt_reader *r, const char *fmt, ...)
{
  if (r->st != VBPR_OK) return r->st;
  char what[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  r->st = vbpr__error(VBPR_ERR_PARSE, r->func, "'%s': section %s: %s", r->path, r->tag, what);
  return r->st;
}

vbpr_status vbpr__ckpt_get_params(vbpr__ckpt_reader *r, void *obj,
                                  vbpr__ckpt_param_setter set, const char *what)
{
  uint32_t n = vbpr__ckpt_get_u32(r);
  for (uint32_t i = 0; i < n && r->st == VBPR_OK; i++) {
    uint32_t p = vbpr__ckpt_get_u32(r);
    double v = vbpr__ckpt_get_f64(r);
    if (r->st == VBPR_OK && set(obj, p, v) != VBPR_OK)
      return vbpr__ckpt_bad(r, "%s parameter %u = %g refused (%s)", what, (unsigned)p, v,
                            vbpr_last_error());
  }
  return r->st;
}

vbpr_status vbpr__ckpt_done(vbpr__ckpt_reader *r)
{
  if (r->st == VBPR_OK && r->at != r->len)
    return vbpr__ckpt_bad(r, "%llu bytes left unread", (unsigned long long)(r->len - r->at));
  return r->st;
}
