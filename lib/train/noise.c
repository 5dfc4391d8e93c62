/* Noise diagnosis: per training interaction, running averages of its
 * relative positive attention and of its rows' loss, a ranking of the most
 * suspicious interactions and a text report (train.h, "Noise diagnosis").
 * The statistics are fed by the batched path (epoch.c, train_batch). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/file.h"
#include "train/train_internal.h"

void vbpr__trainer_noise_free(vbpr__noise_stats *ns)
{
  void *bufs[] = {ns->weight, ns->loss, ns->visits, ns->alpha, ns->row_loss};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vbpr__free(bufs[i]);
  memset(ns, 0, sizeof *ns);
}

static bool tracking(const vbpr_trainer *tr) { return tr->param[VBPR_TRAINER_NOISE_TRACK] != 0; }

vbpr_status vbpr__trainer_noise_sync(vbpr_trainer *tr, size_t rows, size_t m, const char *func)
{
  vbpr__noise_stats *ns = &tr->noise;
  if (!tracking(tr)) return VBPR_OK;
  if (ns->weight == NULL) {
    size_t n = vbpr_dataset_num_interactions(tr->train);
    float *w = vbpr__calloc(n, sizeof(float)), *l = vbpr__calloc(n, sizeof(float));
    uint32_t *v = vbpr__calloc(n, sizeof(uint32_t));
    if (w == NULL || l == NULL || v == NULL) {
      vbpr__free(w), vbpr__free(l), vbpr__free(v);
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                         "cannot allocate noise statistics for %zu interactions", n);
    }
    ns->weight = w, ns->loss = l, ns->visits = v, ns->n = n;
  }
  size_t rm;
  if (!vbpr__mul_ok(rows, m, &rm))
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "batch %zu x M %zu overflows", rows, m);
  vbpr_status st = vbpr__reserve((void **)&ns->alpha, &ns->alpha_cap, rm, sizeof(float), func);
  if (st == VBPR_OK)
    st = vbpr__reserve((void **)&ns->row_loss, &ns->row_cap, rows, sizeof(float), func);
  return st;
}

/* The CSR index of (u, item), which the sampler drew from u's items. */
static size_t interaction_of(const int64_t *off, const int32_t *items, int32_t u, int32_t item)
{
  int64_t lo = off[u], hi = off[u + 1];
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (items[mid] < item) lo = mid + 1;
    else hi = mid;
  }
  return (size_t)lo;
}

static void update(vbpr__noise_stats *ns, size_t e, float w, float l, float mom)
{
  if (ns->visits[e] == 0) {
    ns->weight[e] = w;
    ns->loss[e] = l;
  } else {
    ns->weight[e] = mom * ns->weight[e] + (1.0f - mom) * w;
    ns->loss[e] = mom * ns->loss[e] + (1.0f - mom) * l;
  }
  if (ns->visits[e] < UINT32_MAX) ns->visits[e]++;
}

vbpr_status vbpr__trainer_noise_record(vbpr_trainer *tr, size_t rows, size_t m,
                                       const char *func)
{
  vbpr__noise_stats *ns = &tr->noise;
  if (!tracking(tr) || ns->weight == NULL || m == 0) return VBPR_OK;
  (void)func;
  /* M = 1: the attention is 1 by definition (BPR has none to ask for). */
  vbpr_status st = m > 1 ? vbpr_loss_attention(tr->loss, ns->alpha, NULL) : VBPR_OK;
  if (st == VBPR_OK) st = vbpr_loss_row_losses(tr->loss, ns->row_loss);
  if (st != VBPR_OK) return st;
  const int64_t *off;
  const int32_t *items;
  vbpr_dataset_csr(tr->train, &off, &items, NULL);
  float mom = (float)tr->param[VBPR_TRAINER_NOISE_MOMENTUM];
  for (size_t r = 0; r < rows; r++) {
    int32_t u = tr->buf.users[r];
    for (size_t j = 0; j < m; j++) {
      size_t e = interaction_of(off, items, u, tr->buf.pos[r * m + j]);
      float w = m > 1 ? (float)m * ns->alpha[r * m + j] : 1.0f;
      update(ns, e, w, ns->row_loss[r], mom);
    }
  }
  return VBPR_OK;
}

/* ---- queries ------------------------------------------------------------- */

static vbpr_status check_stats(const vbpr_trainer *tr, const char *func)
{
  if (tr == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "tr must not be NULL");
  if (tr->noise.weight == NULL)
    return vbpr__error(VBPR_ERR_STATE, func,
                       "no noise statistics: set noise_track to 1 before training");
  return VBPR_OK;
}

vbpr_status vbpr_trainer_noise_stats(const vbpr_trainer *tr, size_t len, float *weight,
                                     float *loss, uint32_t *visits)
{
  vbpr_status st = check_stats(tr, __func__);
  if (st != VBPR_OK) return st;
  const vbpr__noise_stats *ns = &tr->noise;
  if (len < ns->n)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "len must be at least the %zu training interactions, got %zu", ns->n, len);
  if (weight) memcpy(weight, ns->weight, ns->n * sizeof(float));
  if (loss) memcpy(loss, ns->loss, ns->n * sizeof(float));
  if (visits) memcpy(visits, ns->visits, ns->n * sizeof(uint32_t));
  return VBPR_OK;
}

/* Sort keys: ascending means more suspicious. */
typedef struct rank_key {
  uint32_t unvisited;
  float k1, k2;
  size_t index;
} rank_key;

static int cmp_keys(const void *pa, const void *pb)
{
  const rank_key *a = pa, *b = pb;
  if (a->unvisited != b->unvisited) return a->unvisited < b->unvisited ? -1 : 1;
  if (a->k1 != b->k1) return a->k1 < b->k1 ? -1 : 1;
  if (a->k2 != b->k2) return a->k2 < b->k2 ? -1 : 1;
  return a->index < b->index ? -1 : a->index > b->index;
}

static vbpr_noise_rank resolve(const vbpr_trainer *tr, vbpr_noise_rank by)
{
  if (by != VBPR_NOISE_RANK_AUTO) return by;
  double m = 1;
  if (tr->loss != NULL) vbpr_loss_get(tr->loss, VBPR_LOSS_NUM_POS, &m);
  return m >= 2 ? VBPR_NOISE_RANK_WEIGHT : VBPR_NOISE_RANK_LOSS;
}

/* Every interaction in ranked order into *out (the caller frees). */
static vbpr_status ranked(const vbpr_trainer *tr, vbpr_noise_rank by, rank_key **out,
                          const char *func)
{
  vbpr_status st = check_stats(tr, func);
  if (st != VBPR_OK) return st;
  if (by != VBPR_NOISE_RANK_WEIGHT && by != VBPR_NOISE_RANK_LOSS && by != VBPR_NOISE_RANK_AUTO)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "by must be VBPR_NOISE_RANK_WEIGHT (1), _LOSS (2) or _AUTO (3), got %d",
                       (int)by);
  const vbpr__noise_stats *ns = &tr->noise;
  rank_key *k = vbpr__malloc_array(ns->n, sizeof *k);
  if (k == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot rank %zu interactions", ns->n);
  bool weight_first = resolve(tr, by) == VBPR_NOISE_RANK_WEIGHT;
  for (size_t e = 0; e < ns->n; e++) {
    float w = ns->weight[e], nl = -ns->loss[e];
    k[e] = (rank_key){ns->visits[e] == 0, weight_first ? w : nl, weight_first ? nl : w, e};
  }
  qsort(k, ns->n, sizeof *k, cmp_keys);
  *out = k;
  return VBPR_OK;
}

vbpr_status vbpr_trainer_noise_ranking(const vbpr_trainer *tr, vbpr_noise_rank by, size_t n,
                                       size_t *interactions)
{
  if (n > 0) VBPR_CHECK_NULL(interactions);
  rank_key *k = NULL;
  vbpr_status st = ranked(tr, by, &k, __func__);
  if (st != VBPR_OK) return st;
  if (n > tr->noise.n) n = tr->noise.n;
  for (size_t i = 0; i < n; i++) interactions[i] = k[i].index;
  vbpr__free(k);
  return VBPR_OK;
}

/* ---- the report file ----------------------------------------------------- */

static vbpr_status put_text(vbpr__file_writer *w, const char *fmt, ...) VBPR_PRINTF(2, 3);

static vbpr_status put_text(vbpr__file_writer *w, const char *fmt, ...)
{
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  return vbpr__file_put(w, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* The header lines: what the columns mean, so that the file explains
 * itself. */
static vbpr_status put_header(vbpr__file_writer *w, const vbpr_trainer *tr, bool by_weight)
{
  size_t visited = 0;
  for (size_t e = 0; e < tr->noise.n; e++) visited += tr->noise.visits[e] > 0;
  vbpr_status st = put_text(w, "# libvbpr noise report: %zu training interactions, %zu "
                               "visited; most suspicious first, by %s\n",
                            tr->noise.n, visited, by_weight ? "lowest weight" : "highest loss");
  if (st == VBPR_OK)
    st = put_text(w, "# weight: running average of M * alpha, the interaction's share of "
                     "its row's positive attention (1 = even share, low = doubted)\n");
  if (st == VBPR_OK)
    st = put_text(w, "# loss: running average of the loss of its rows; visits: times it "
                     "was a sampled positive; rating: from the data (empty if none)\n");
  if (st == VBPR_OK) st = put_text(w, "rank\tuser\titem\trating\tweight\tloss\tvisits\n");
  return st;
}

static vbpr_status put_lines(vbpr__file_writer *w, const vbpr_trainer *tr, const rank_key *k,
                             size_t top)
{
  const int64_t *off, *raw_u, *raw_i;
  const int32_t *items;
  const float *ratings;
  vbpr_dataset_csr(tr->train, &off, &items, &ratings);
  vbpr_dataset_raw_user_ids(tr->train, &raw_u);
  vbpr_dataset_raw_item_ids(tr->train, &raw_i);
  const vbpr__noise_stats *ns = &tr->noise;
  vbpr_status st = VBPR_OK;
  for (size_t r = 0; r < top && st == VBPR_OK; r++) {
    size_t e = k[r].index;
    int64_t lo = 0, hi = (int64_t)vbpr_dataset_num_users(tr->train); /* the owner of e */
    while (hi - lo > 1) {
      int64_t mid = lo + (hi - lo) / 2;
      if (off[mid] <= (int64_t)e) lo = mid;
      else hi = mid;
    }
    long long u = raw_u ? (long long)raw_u[lo] : (long long)lo;
    long long i = raw_i ? (long long)raw_i[items[e]] : (long long)items[e];
    char rating[32] = "";
    if (ratings) snprintf(rating, sizeof rating, "%g", (double)ratings[e]);
    st = put_text(w, "%zu\t%lld\t%lld\t%s\t%.4f\t%.4f\t%u\n", r + 1, u, i, rating,
                  (double)ns->weight[e], (double)ns->loss[e], (unsigned)ns->visits[e]);
  }
  return st;
}

vbpr_status vbpr_trainer_noise_report(const vbpr_trainer *tr, vbpr_noise_rank by, size_t top,
                                      const char *path)
{
  VBPR_CHECK_NULL(path);
  if (*path == '\0') return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "path must not be empty");
  rank_key *k = NULL;
  vbpr_status st = ranked(tr, by, &k, __func__);
  if (st != VBPR_OK) return st;
  if (top == 0 || top > tr->noise.n) top = tr->noise.n;
  vbpr__file_writer w;
  st = vbpr__file_open(&w, path, __func__);
  if (st == VBPR_OK) {
    st = put_header(&w, tr, resolve(tr, by) == VBPR_NOISE_RANK_WEIGHT);
    if (st == VBPR_OK) st = put_lines(&w, tr, k, top);
    if (st == VBPR_OK) st = vbpr__file_commit(&w);
    else vbpr__file_abort(&w);
  }
  vbpr__free(k);
  return st;
}
