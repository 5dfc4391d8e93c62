/* The atomic writer, checksum and byte-order helpers of core/file.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/file.h"

#define FNV_PRIME UINT64_C(0x100000001b3)
#define CHUNK_FLOATS 4096

uint64_t vbpr__fnv1a(uint64_t h, const void *data, size_t n)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
  return h;
}

static bool host_is_le(void)
{
  const uint32_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

void vbpr__swap32_if_be(void *data, size_t n)
{
  if (host_is_le()) return;
  unsigned char *p = data;
  for (size_t i = 0; i < n; i++, p += 4) {
    unsigned char t = p[0];
    p[0] = p[3];
    p[3] = t;
    t = p[1];
    p[1] = p[2];
    p[2] = t;
  }
}

const char *vbpr__errstr(int err, char *buf, size_t size)
{
  if (strerror_r(err, buf, size) != 0) snprintf(buf, size, "error %d", err);
  return buf;
}

/* ---- atomic writer ----------------------------------------------------- */

static vbpr_status io_fail(vbpr__file_writer *w, const char *what, int err)
{
  char buf[128];
  return vbpr__error(VBPR_ERR_IO, w->func, "cannot %s '%s': %s", what, w->path,
                     vbpr__errstr(err, buf, sizeof buf));
}

vbpr_status vbpr__file_open(vbpr__file_writer *w, const char *path, const char *func)
{
  static atomic_uint counter;
  w->path = path;
  w->func = func;
  w->hash = VBPR__FNV_OFFSET;
  w->f = NULL;
  for (int attempt = 0; attempt < 100; attempt++) {
    int n = snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
                     atomic_fetch_add(&counter, 1u));
    if (n < 0 || (size_t)n >= sizeof w->tmp)
      return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "path is too long (%zu bytes)",
                         strlen(path));
    /* O_EXCL: never clobber someone else's file; 0666 respects the umask. */
    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) return io_fail(w, "create a temporary file beside", errno);
    w->f = fdopen(fd, "wb");
    if (w->f == NULL) {
      int err = errno;
      close(fd);
      unlink(w->tmp);
      return io_fail(w, "open a temporary file beside", err);
    }
    return VBPR_OK;
  }
  return vbpr__error(VBPR_ERR_IO, func, "cannot find a free temporary name beside '%s'", path);
}

vbpr_status vbpr__file_put(vbpr__file_writer *w, const void *data, size_t n)
{
  w->hash = vbpr__fnv1a(w->hash, data, n);
  if (fwrite(data, 1, n, w->f) != n) return io_fail(w, "write", errno);
  return VBPR_OK;
}

vbpr_status vbpr__file_put_floats(vbpr__file_writer *w, const float *src, size_t n)
{
  float buf[CHUNK_FLOATS];
  for (size_t i = 0; i < n; i += CHUNK_FLOATS) {
    size_t k = n - i < CHUNK_FLOATS ? n - i : CHUNK_FLOATS;
    memcpy(buf, src + i, k * sizeof(float));
    vbpr__swap32_if_be(buf, k);
    vbpr_status st = vbpr__file_put(w, buf, k * sizeof(float));
    if (st != VBPR_OK) return st;
  }
  return VBPR_OK;
}

void vbpr__file_abort(vbpr__file_writer *w)
{
  if (w->f) fclose(w->f);
  w->f = NULL;
  unlink(w->tmp);
}

/* The directory entry of the rename must reach the disk too. Some file
 * systems refuse fsync on a directory; the data itself is already safe. */
static void sync_dir(const char *path)
{
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    strcpy(dir, ".");
  } else {
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    if (len >= sizeof dir) return;
    memcpy(dir, path, len);
    dir[len] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)fsync(fd);
  close(fd);
}

vbpr_status vbpr__file_commit(vbpr__file_writer *w)
{
  int err = 0;
  if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) err = errno;
  if (fclose(w->f) != 0 && err == 0) err = errno;
  w->f = NULL;
  if (err == 0 && rename(w->tmp, w->path) != 0) err = errno;
  if (err != 0) {
    unlink(w->tmp);
    return io_fail(w, "write", err);
  }
  sync_dir(w->path);
  return VBPR_OK;
}

vbpr_status vbpr__file_read_exact(FILE *f, void *buf, size_t n, const char *path,
                                  const char *func)
{
  if (fread(buf, 1, n, f) == n) return VBPR_OK;
  if (ferror(f)) {
    char eb[128];
    return vbpr__error(VBPR_ERR_IO, func, "cannot read '%s': %s", path,
                       vbpr__errstr(errno, eb, sizeof eb));
  }
  return vbpr__error(VBPR_ERR_PARSE, func, "'%s' is truncated (it shrank while being read)",
                     path);
}
