/* Files the library writes and reads back: model files, .npy exports and
 * checkpoints share one atomic writer, one checksum (FNV-1a 64) and one
 * little-endian encoding. Internal; not installed.
 *
 * A writer writes to a temporary file beside the target (created
 * exclusively, so nobody else's file is clobbered), keeps a running
 * checksum of every byte it wrote, and on commit flushes it to disk, renames
 * it over the target and syncs the directory: the target is always either
 * the old file or the complete new one. */
#ifndef VBPR_LIB_CORE_FILE_H
#define VBPR_LIB_CORE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vbpr/common.h"

#define VBPR__FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* FNV-1a 64 of n bytes, continuing from h (VBPR__FNV_OFFSET to start). */
uint64_t vbpr__fnv1a(uint64_t h, const void *data, size_t n);

static inline void vbpr__put_u32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline void vbpr__put_u64(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t vbpr__get_u32(const unsigned char *p)
{
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}

static inline uint64_t vbpr__get_u64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* 4-byte elements (floats, int32) to or from little-endian, in place: a
 * no-op on little-endian hosts. */
void vbpr__swap32_if_be(void *data, size_t n);

/* strerror_r into buf, never NULL. */
const char *vbpr__errstr(int err, char *buf, size_t size);

typedef struct vbpr__file_writer {
  const char *path;
  char tmp[4096];
  FILE *f;
  uint64_t hash; /* FNV-1a 64 of everything written so far */
  const char *func;
} vbpr__file_writer;

/* Creates the temporary file; errors name `func` and the path. */
vbpr_status vbpr__file_open(vbpr__file_writer *w, const char *path, const char *func);
/* Writes n bytes and adds them to the checksum. */
vbpr_status vbpr__file_put(vbpr__file_writer *w, const void *data, size_t n);
/* Writes n floats as little-endian, through a small conversion buffer. */
vbpr_status vbpr__file_put_floats(vbpr__file_writer *w, const float *src, size_t n);
/* Closes and removes the temporary file (after a failed put). */
void vbpr__file_abort(vbpr__file_writer *w);
/* Flushes, syncs, renames over the target, syncs the directory. On failure
 * the temporary file is removed and the target is unchanged. */
vbpr_status vbpr__file_commit(vbpr__file_writer *w);

/* Reads exactly n bytes: VBPR_ERR_IO on a read error, VBPR_ERR_PARSE when
 * the file ends first. */
vbpr_status vbpr__file_read_exact(FILE *f, void *buf, size_t n, const char *path,
                                  const char *func);

#endif
