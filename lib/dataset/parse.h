/* Reading interaction files into raw pairs (internal). */
#ifndef VBPR_LIB_DATASET_PARSE_H
#define VBPR_LIB_DATASET_PARSE_H

#include "dataset/dataset_internal.h"

/* A file as read: runs of one user's pairs, ids still raw (int64 when
 * remapping, else int32 already checked against the limits). */
typedef struct vbpr__parsed {
  int remap;
  int64_t *run_user; /* raw user of each run */
  int64_t *run_begin;
  int64_t nruns, cap_runs;
  void *items;       /* int64_t[n] when remap, else int32_t[n] */
  float *ratings;    /* [n] or NULL */
  int64_t n, cap;
  int64_t max_user, max_item; /* -1 when none */
} vbpr__parsed;

/* Limits for ids when not remapping: exclusive upper bounds. */
typedef struct vbpr__id_limits {
  int64_t users, items;
} vbpr__id_limits;

vbpr_status vbpr__parse_file(const char *path, const vbpr_dataset_options *o,
                             vbpr__id_limits lim, const char *func, vbpr__parsed *out);
void vbpr__parsed_free(vbpr__parsed *p);

#endif
