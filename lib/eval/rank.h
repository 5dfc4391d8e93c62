/*
 * Internal: blocked scoring (BLIS sgemm) and masked top-K selection shared
 * by the evaluator and vbpr_recommend. Not installed.
 */
#ifndef VBPR_LIB_EVAL_RANK_H
#define VBPR_LIB_EVAL_RANK_H

#include <stddef.h>
#include <stdint.h>

#include "vbpr/common.h"

/* Workers one ranking run may use: vbpr__rank_run caps its split at it, so
 * the per-thread workspaces (16 MiB of scores each) stay bounded. */
#define VBPR__RANK_MAX_THREADS 64

typedef struct vbpr__scored {
  float score;
  int32_t item;
} vbpr__scored;

/* Receives user users[idx]'s ranked list, best first, len <= k entries.
 * Called from worker threads, once per idx; must only touch idx's slot. */
typedef void (*vbpr__rank_emit)(void *ctx, size_t idx, int32_t user,
                                const vbpr__scored *top, int32_t len);

/* One ranking job: every user in users[0..n_users) against all items. */
typedef struct vbpr__ranker {
  const float *user_emb; /* [* x dim]; the rows in users[] are read */
  const float *item_emb; /* [num_items x dim] */
  size_t dim;
  int32_t num_items;
  /* Items to exclude per user (a CSR, rows sorted ascending); users at or
   * beyond mask_users have none. mask_offsets NULL: nothing excluded. */
  const int64_t *mask_offsets;
  const int32_t *mask_items;
  int32_t mask_users;
  const int32_t *users;
  size_t n_users;
  int32_t k;
  vbpr__rank_emit emit;
  void *emit_ctx;
} vbpr__ranker;

/* Per-thread workspaces, grown on demand and kept between runs. */
typedef struct vbpr__rank_ws {
  float *scores;
  size_t scores_cap;
  float *rows;
  size_t rows_cap;
  vbpr__scored *heap;
  size_t heap_cap;
} vbpr__rank_ws;

typedef struct vbpr__rank_pool {
  vbpr__rank_ws ws[VBPR__RANK_MAX_THREADS];
} vbpr__rank_pool;

/* Runs the job. Errors (reported as `func`): OUT_OF_MEMORY for workspaces,
 * NUMERIC for a NaN candidate score (the first one in user order). emit is
 * called for every user only when the whole run succeeds up to that user;
 * on error some users may have been emitted. */
vbpr_status vbpr__rank_run(const vbpr__ranker *r, vbpr__rank_pool *pool, const char *func);

void vbpr__rank_pool_free(vbpr__rank_pool *pool);

/* Top-k of one score row over items [0, n_items), skipping the sorted ids
 * excl[0..n_excl). Writes the list best first into heap[0..len) and returns
 * len (< k only when there are fewer candidates), or -1 with *nan_item set
 * when a candidate's score is NaN. heap has room for k entries. */
int32_t vbpr__topk_row(const float *scores, int32_t n_items, const int32_t *excl,
                       int64_t n_excl, int32_t k, vbpr__scored *heap, int32_t *nan_item);

/* NUMERIC (as `func`, naming `table`, row and column) when a value of the
 * listed rows (rows NULL: rows 0..n_rows-1) of table[* x dim] is not finite. */
vbpr_status vbpr__check_finite_rows(const float *table, const int32_t *rows, size_t n_rows,
                                    size_t dim, const char *table_name, const char *func);

#endif
