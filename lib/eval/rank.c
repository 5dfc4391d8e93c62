#include "eval/rank.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/blas.h"
#include "core/core.h"

/* Score buffer budget per thread, in floats (16 MiB): large enough for
 * sgemm to run near peak, small enough that a few threads stay modest. */
#define SCORE_BUDGET ((size_t)1 << 22)
#define MAX_BLOCK_ROWS 256
#define MIN_BLOCK_ROWS 8
/* Aim for at least this many blocks so that small jobs still spread over
 * threads. Depends only on the job, never on the thread count, so that the
 * sgemm calls (and their rounding) are the same for any thread count. */
#define MIN_BLOCKS 16

/* ---- selection --------------------------------------------------------- */

/* Rank order: a is worse than b if it scores lower, or equal and has the
 * larger id. The heap keeps its worst entry at the top. */
static inline bool worse(vbpr__scored a, vbpr__scored b)
{
  return a.score < b.score || (a.score == b.score && a.item > b.item);
}

static void sift_down(vbpr__scored *h, int32_t n, int32_t i)
{
  vbpr__scored x = h[i];
  for (;;) {
    int32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && worse(h[c + 1], h[c])) c++;
    if (!worse(h[c], x)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

static void sift_up(vbpr__scored *h, int32_t i)
{
  vbpr__scored x = h[i];
  while (i > 0) {
    int32_t p = (i - 1) / 2;
    if (!worse(x, h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

/* Heap (worst on top) to a list sorted best first. */
static void heap_to_list(vbpr__scored *h, int32_t n)
{
  for (int32_t m = n; m > 1; m--) {
    vbpr__scored t = h[0];
    h[0] = h[m - 1];
    h[m - 1] = t;
    sift_down(h, m - 1, 0);
  }
}

/* Scans s[i0..i1) once the heap is full. Items come in increasing id order,
 * so an item tying the worst kept entry ranks after it: only a strictly
 * higher score enters. `!(x <= thr)` also catches NaN in the same test. */
static int32_t scan_full(const float *s, int32_t i0, int32_t i1, vbpr__scored *h,
                         int32_t k)
{
  float thr = h[0].score;
  for (int32_t i = i0; i < i1; i++) {
    float x = s[i];
    if (VBPR_LIKELY(x <= thr)) continue;
    if (isnan(x)) return i;
    h[0] = (vbpr__scored){x, i};
    sift_down(h, k, 0);
    thr = h[0].score;
  }
  return -1;
}

int32_t vbpr__topk_row(const float *s, int32_t n_items, const int32_t *excl,
                       int64_t n_excl, int32_t k, vbpr__scored *heap, int32_t *nan_item)
{
  int32_t len = 0, i = 0;
  int64_t e = 0;
  while (i < n_items) {
    while (e < n_excl && excl[e] < i) e++;
    int32_t end = (e < n_excl && excl[e] < n_items) ? excl[e] : n_items;
    /* Fill the heap from the first candidates, then switch to the cheap
     * threshold scan for the rest of the segment. */
    for (; i < end && len < k; i++) {
      if (isnan(s[i])) {
        *nan_item = i;
        return -1;
      }
      heap[len] = (vbpr__scored){s[i], i};
      sift_up(heap, len++);
    }
    if (i < end) {
      int32_t bad = scan_full(s, i, end, heap, k);
      if (bad >= 0) {
        *nan_item = bad;
        return -1;
      }
    }
    if (end == n_items) break;
    i = end + 1; /* past the excluded item */
  }
  heap_to_list(heap, len);
  return len;
}

/* ---- finite checks ----------------------------------------------------- */

vbpr_status vbpr__check_finite_rows(const float *table, const int32_t *rows, size_t n_rows,
                                    size_t dim, const char *table_name, const char *func)
{
  for (size_t r = 0; r < n_rows; r++) {
    size_t row = rows ? (size_t)rows[r] : r;
    const float *x = table + row * dim;
    size_t c = vbpr__find_nonfinite(x, dim);
    if (VBPR_LIKELY(c == dim)) continue;
    return vbpr__error(VBPR_ERR_NUMERIC, func,
                       "%s[%zu * dim + %zu] (row %zu, column %zu) is not finite: %g",
                       table_name, row, c, row, c, (double)x[c]);
  }
  return VBPR_OK;
}

/* ---- blocked scoring ---------------------------------------------------- */

typedef struct run_ctx {
  const vbpr__ranker *r;
  vbpr__rank_pool *pool;
  size_t rows; /* users per block */
  /* first NaN per worker, as (index in users[], item); SIZE_MAX = none */
  size_t bad_idx[VBPR__RANK_MAX_THREADS];
  int32_t bad_item[VBPR__RANK_MAX_THREADS];
} run_ctx;

static size_t block_rows(size_t n_users, int32_t num_items)
{
  size_t rows = SCORE_BUDGET / (size_t)num_items;
  if (rows > MAX_BLOCK_ROWS) rows = MAX_BLOCK_ROWS;
  size_t spread = (n_users + MIN_BLOCKS - 1) / MIN_BLOCKS;
  if (spread < MIN_BLOCK_ROWS) spread = MIN_BLOCK_ROWS;
  if (rows > spread) rows = spread;
  if (rows > n_users) rows = n_users;
  return rows < 1 ? 1 : rows;
}

/* Ranks users[u0 .. u0+m) from their score rows; false on a NaN. */
static bool select_block(run_ctx *c, vbpr__rank_ws *ws, size_t u0, size_t m, int tid)
{
  const vbpr__ranker *r = c->r;
  for (size_t i = 0; i < m; i++) {
    int32_t user = r->users[u0 + i];
    const int32_t *ex = NULL;
    int64_t n_ex = 0;
    if (r->mask_offsets != NULL && user < r->mask_users) {
      ex = r->mask_items + r->mask_offsets[user];
      n_ex = r->mask_offsets[user + 1] - r->mask_offsets[user];
    }
    int32_t nan_item = -1;
    int32_t len = vbpr__topk_row(ws->scores + i * (size_t)r->num_items, r->num_items, ex,
                                 n_ex, r->k, ws->heap, &nan_item);
    if (len < 0) {
      c->bad_idx[tid] = u0 + i;
      c->bad_item[tid] = nan_item;
      return false;
    }
    r->emit(r->emit_ctx, u0 + i, user, ws->heap, len);
  }
  return true;
}

static void run_blocks(void *vctx, size_t b0, size_t b1, int tid)
{
  run_ctx *c = vctx;
  const vbpr__ranker *r = c->r;
  vbpr__rank_ws *ws = &c->pool->ws[tid];
  size_t dim = r->dim, n_items = (size_t)r->num_items;
  for (size_t b = b0; b < b1; b++) {
    size_t u0 = b * c->rows;
    size_t m = r->n_users - u0 < c->rows ? r->n_users - u0 : c->rows;
    for (size_t i = 0; i < m; i++)
      memcpy(ws->rows + i * dim, r->user_emb + (size_t)r->users[u0 + i] * dim,
             dim * sizeof(float));
    /* One BLIS thread per call: parallelism comes from the blocks, and the
     * same call per block whatever the thread count keeps scores equal. */
    vbpr__sgemm_nt(m, n_items, dim, 1.0f, ws->rows, dim, r->item_emb, dim, 0.0f,
                   ws->scores, n_items, 1);
    if (!select_block(c, ws, u0, m, tid)) return;
  }
}

static vbpr_status reserve_ws(vbpr__rank_ws *ws, size_t rows, const vbpr__ranker *r,
                              const char *func)
{
  size_t n_scores, n_rows;
  if (!vbpr__mul_ok(rows, (size_t)r->num_items, &n_scores) ||
      !vbpr__mul_ok(rows, r->dim, &n_rows))
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "workspace size overflows");
  vbpr_status st = vbpr__reserve((void **)&ws->scores, &ws->scores_cap, n_scores,
                                 sizeof(float), func);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&ws->rows, &ws->rows_cap, n_rows, sizeof(float), func);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&ws->heap, &ws->heap_cap, (size_t)r->k,
                       sizeof(vbpr__scored), func);
  return st;
}

vbpr_status vbpr__rank_run(const vbpr__ranker *r, vbpr__rank_pool *pool, const char *func)
{
  if (r->n_users == 0) return VBPR_OK;
  run_ctx c = {.r = r, .pool = pool, .rows = block_rows(r->n_users, r->num_items)};
  size_t n_blocks = (r->n_users + c.rows - 1) / c.rows;
  int nt = vbpr__threads_for(n_blocks, 1);
  if (nt > VBPR__RANK_MAX_THREADS) nt = VBPR__RANK_MAX_THREADS;
  for (int t = 0; t < nt; t++) {
    vbpr_status st = reserve_ws(&pool->ws[t], c.rows, r, func);
    if (st != VBPR_OK) return st;
    c.bad_idx[t] = SIZE_MAX;
  }
  vbpr__parallel_for(n_blocks, nt, run_blocks, &c);
  /* Workers own contiguous ranges in order, so the smallest failing index
   * is the first NaN in user order, whatever the thread count. */
  size_t bad = SIZE_MAX;
  int32_t item = -1;
  for (int t = 0; t < nt; t++)
    if (c.bad_idx[t] < bad) {
      bad = c.bad_idx[t];
      item = c.bad_item[t];
    }
  if (bad != SIZE_MAX)
    return vbpr__error(VBPR_ERR_NUMERIC, func,
                       "score of user %d for item %d is NaN (products overflow)",
                       (int)r->users[bad], (int)item);
  return VBPR_OK;
}

void vbpr__rank_pool_free(vbpr__rank_pool *pool)
{
  for (int t = 0; t < VBPR__RANK_MAX_THREADS; t++) {
    vbpr__free(pool->ws[t].scores);
    vbpr__free(pool->ws[t].rows);
    vbpr__free(pool->ws[t].heap);
    pool->ws[t] = (vbpr__rank_ws){0};
  }
}
