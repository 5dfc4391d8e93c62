/* Checkpoint files: a container of tagged sections, each written and read
 * by the object whose state it holds (loss/loss_state.c,
 * sampler/sampler_state.c, optim.c, encoder/encoder_state.c,
 * train/checkpoint.c), on the atomic writer and checksum of core/file.h.
 * The format is described in doc/checkpoint-format.md. Internal.
 *
 * Writing: vbpr__ckpt_begin(), then one vbpr__ckpt_section() per object:
 * its function is run twice, first to count the section's bytes (so that
 * the length precedes the payload and the file is written in one pass),
 * then to write them; the put functions keep the first error, so that a
 * section function is a plain sequence of puts. vbpr__ckpt_commit()
 * appends the checksum and renames the file into place.
 *
 * Reading: vbpr__ckpt_load() reads the whole file and checks it (magic,
 * version, byte order, checksums, section bounds) before anything looks
 * inside; vbpr__ckpt_find() opens one section; the get functions keep the
 * first error (a read past the section's end), and vbpr__ckpt_done()
 * reports it and refuses unread bytes. */
#ifndef VBPR_LIB_CORE_CKPT_H
#define VBPR_LIB_CORE_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "core/file.h"
#include "vbpr/common.h"

/* The container's format version; a section has its own. */
#define VBPR__CKPT_VERSION 1u

typedef struct vbpr__ckpt_writer {
  vbpr__file_writer file;
  bool counting;      /* measuring a section: count, do not write */
  uint64_t count;
  uint32_t sections;
  vbpr_status st;     /* the first error */
} vbpr__ckpt_writer;

typedef void (*vbpr__ckpt_write_fn)(const void *obj, vbpr__ckpt_writer *w);

vbpr_status vbpr__ckpt_begin(vbpr__ckpt_writer *w, const char *path, uint32_t nsections,
                             const char *func);
/* tag: up to 8 ASCII characters. */
void vbpr__ckpt_section(vbpr__ckpt_writer *w, const char *tag, uint32_t version,
                        vbpr__ckpt_write_fn fn, const void *obj);
/* Finishes the file, or removes it after an error; returns the first error. */
vbpr_status vbpr__ckpt_commit(vbpr__ckpt_writer *w);

void vbpr__ckpt_put_u32(vbpr__ckpt_writer *w, uint32_t v);
void vbpr__ckpt_put_u64(vbpr__ckpt_writer *w, uint64_t v);
void vbpr__ckpt_put_f64(vbpr__ckpt_writer *w, double v);
void vbpr__ckpt_put_floats(vbpr__ckpt_writer *w, size_t n, const float *v);
void vbpr__ckpt_put_u32s(vbpr__ckpt_writer *w, size_t n, const uint32_t *v);

typedef struct vbpr__ckpt_file {
  unsigned char *data;
  size_t size;
  uint32_t sections;
  const char *path;
} vbpr__ckpt_file;

typedef struct vbpr__ckpt_reader {
  const unsigned char *p;
  uint64_t len, at;
  uint32_t version;
  char tag[9];
  const char *path, *func;
  vbpr_status st;
} vbpr__ckpt_reader;

/* Reads and checks path. Errors: VBPR_ERR_IO (cannot open or read),
 * VBPR_ERR_PARSE (not a checkpoint, truncated, corrupted),
 * VBPR_ERR_UNSUPPORTED (a newer format, another byte order). */
vbpr_status vbpr__ckpt_load(const char *path, vbpr__ckpt_file *f, const char *func);
void vbpr__ckpt_close(vbpr__ckpt_file *f);

/* Opens section `tag`; *found (if not NULL) says whether it is there, else
 * a missing section is VBPR_ERR_PARSE. A section version above
 * max_version is VBPR_ERR_UNSUPPORTED naming the section. */
vbpr_status vbpr__ckpt_find(const vbpr__ckpt_file *f, const char *tag, uint32_t max_version,
                            vbpr__ckpt_reader *r, bool *found, const char *func);

uint32_t vbpr__ckpt_get_u32(vbpr__ckpt_reader *r);
uint64_t vbpr__ckpt_get_u64(vbpr__ckpt_reader *r);
double vbpr__ckpt_get_f64(vbpr__ckpt_reader *r);
/* n elements into dst; a count read from the file is checked against the
 * bytes left before anything is copied. */
void vbpr__ckpt_get_floats(vbpr__ckpt_reader *r, size_t n, float *dst);
void vbpr__ckpt_get_u32s(vbpr__ckpt_reader *r, size_t n, uint32_t *dst);
/* An object's parameters as saved: a u32 count, then (u32 parameter, f64
 * value) pairs, each given to the object's own setter (its checks apply; a
 * parameter appended since is simply absent). A refusal is malformed
 * content naming `what` ("loss", ...) and the setter's message. */
typedef vbpr_status (*vbpr__ckpt_param_setter)(void *obj, uint32_t p, double v);
vbpr_status vbpr__ckpt_get_params(vbpr__ckpt_reader *r, void *obj,
                                  vbpr__ckpt_param_setter set, const char *what);
/* Whether n more elements of `size` bytes are left (callers check counts
 * read from the file before allocating for them). */
bool vbpr__ckpt_has(const vbpr__ckpt_reader *r, uint64_t n, size_t size);
/* Records a malformed-content error for the section (first error kept). */
vbpr_status vbpr__ckpt_bad(vbpr__ckpt_reader *r, const char *fmt, ...) VBPR_PRINTF(2, 3);
/* The first error, or VBPR_ERR_PARSE when bytes are left unread. */
vbpr_status vbpr__ckpt_done(vbpr__ckpt_reader *r);

#endif
