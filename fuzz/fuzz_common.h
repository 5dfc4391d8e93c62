/* Helpers shared by the libFuzzer targets: the file loaders only take a
 * path, so each input is written to a per-process temporary file (in
 * /dev/shm when it exists, so that no disk is touched). */
#ifndef VBPR_FUZZ_COMMON_H
#define VBPR_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Aborts so that libFuzzer records the input as a crash: an invariant the
 * library promises does not hold. */
#define FUZZ_REQUIRE(cond)                                                  \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,  \
              #cond);                                                       \
      abort();                                                              \
    }                                                                       \
  } while (0)

static char fuzz_path[256];

/* A path unique to this process, removed at exit. */
static inline void fuzz_remove_temp(void) { unlink(fuzz_path); }

static inline const char *fuzz_temp_path(const char *tag)
{
  if (!fuzz_path[0]) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_path, sizeof fuzz_path, "%s/vbpr-fuzz-%s-%ld", dir, tag,
             (long)getpid());
    atexit(fuzz_remove_temp);
  }
  return fuzz_path;
}

/* Writes the input to the temporary file; 0 on success. */
static inline int fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t n = size ? fwrite(data, 1, size, f) : 0;
  int bad = fclose(f) != 0 || n != size;
  return bad ? -1 : 0;
}

#endif /* VBPR_FUZZ_COMMON_H */
