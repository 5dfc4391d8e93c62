/* Data parallelism over the host's collectives (vbpr/collective.h):
 * what the trainer uses beyond the public functions. Internal. */
#ifndef VBPR_LIB_TRAIN_COLLECTIVE_INTERNAL_H
#define VBPR_LIB_TRAIN_COLLECTIVE_INTERNAL_H

#include <stdbool.h>

#include "vbpr/collective.h"

/* Buffers of the exchanges, grown on demand and kept between steps (a
 * public call without one uses a temporary). */
typedef struct vbpr__dp_ws {
  int32_t *send, *recv;
  size_t send_cap, recv_cap;
  uint8_t *mark; /* [rows] of the larger table, all 0 between calls */
  size_t mark_cap;
  int32_t *rows[VBPR_ENCODER_NUM_TABLES]; /* the union of touched rows */
  size_t rows_cap[VBPR_ENCODER_NUM_TABLES];
  float *buf;
  size_t buf_cap;
} vbpr__dp_ws;

void vbpr__dp_ws_free(vbpr__dp_ws *ws);

/* Checks a host's table and copies the fields of its version into *out. */
vbpr_status vbpr__collective_copy(const vbpr_collective *in, vbpr_collective *out,
                                  const char *func);

/* The ranks agree on a status: every rank gives its own (`local`, its
 * message in vbpr_last_error() when not VBPR_OK) and n extra ids; *all
 * gets size x (1 + n) ids, rank r's at r*(1+n): its status, then its ids
 * (valid until the next use of ws). Returns VBPR_OK when every rank is OK;
 * else, on every rank, the status of the lowest failing rank with the
 * message "rank R: <its message>"; VBPR_ERR_IO when a callback failed. */
vbpr_status vbpr__collective_agree(const vbpr_collective *c, vbpr__dp_ws *ws,
                                   vbpr_status local, size_t n, const int32_t *ids,
                                   const int32_t **all, const char *func);

/* vbpr_collective_reduce_encoder() with the caller's workspace. */
vbpr_status vbpr__collective_reduce(const vbpr_collective *c, vbpr__dp_ws *ws,
                                    vbpr_encoder *enc, vbpr_status local, size_t n,
                                    float *sums, const char *func);

/* vbpr_collective_evaluate() with the caller's workspace. */
vbpr_status vbpr__collective_evaluate(const vbpr_collective *c, vbpr__dp_ws *ws,
                                      vbpr_evaluator *ev, size_t num_users,
                                      size_t num_items, size_t dim, const float *user_emb,
                                      const float *item_emb, const char *func);

/* The trainer's data-parallel state (tr->dp; NULL when single-process). */
typedef struct vbpr__trainer_dp {
  vbpr_collective coll;
  vbpr__dp_ws ws;
} vbpr__trainer_dp;

#endif
