/* Drawing one tuple (u, i_1..i_M, j_1..j_N). Each row has its own random
 * stream keyed by (seed, epoch, row), so rows can be filled in any order on
 * any number of threads with the same result. */
#include <math.h>
#include <string.h>

#include "sampler/sampler_internal.h"

#define EMPTY UINT32_MAX

typedef struct keyed { /* an item and its sampling key */
  double key;
  int32_t item;
} keyed;

/* ---- a set of drawn values: the row itself, or a hash set for large N -- */

typedef struct drawn {
  const uint32_t *row; /* values drawn so far */
  uint32_t *tab;       /* NULL: linear scan of row */
  uint32_t mask;
} drawn;

/* Adds v; 0 if it was already there. */
static int drawn_add(drawn *d, uint32_t v, int64_t k)
{
  if (d->tab == NULL) {
    for (int64_t i = 0; i < k; i++)
      if (d->row[i] == v) return 0;
    return 1;
  }
  uint32_t h = (v * UINT32_C(0x9e3779b1)) & d->mask;
  while (d->tab[h] != EMPTY) {
    if (d->tab[h] == v) return 0;
    h = (h + 1) & d->mask;
  }
  d->tab[h] = v;
  return 1;
}

static uint32_t hash_slots(int64_t n)
{
  uint32_t h = 64;
  while (h < 2 * (uint64_t)n) h *= 2;
  return h;
}

size_t vbpr__sampler_ws_bytes(const vbpr_sampler *s)
{
  size_t bytes = 0;
  if (s->num_neg > VBPR__SAMPLER_SMALL_N) bytes += hash_slots(s->num_neg) * sizeof(uint32_t);
  if (s->pop_exponent > 0) bytes += (size_t)s->num_neg * sizeof(keyed);
  return (bytes + 63) / 64 * 64;
}

static drawn drawn_init(const vbpr_sampler *s, void *ws, const int32_t *row)
{
  drawn d = {(const uint32_t *)row, NULL, 0};
  if (s->num_neg > VBPR__SAMPLER_SMALL_N) {
    uint32_t h = hash_slots(s->num_neg);
    d.tab = ws;
    d.mask = h - 1;
    memset(d.tab, 0xff, h * sizeof *d.tab);
  }
  return d;
}

/* ---- uniform negatives ------------------------------------------------- */

/* Windows of at most this many positives are counted, not searched. */
#define KTH_LINEAR 32

/* The k-th item (0-based) that is not in the sorted positives p[0..d):
 * k plus the number of j with p[j] - j <= k (a non-decreasing sequence,
 * since p is strictly increasing). The search is branch-free (a
 * conditional move per step): the branches of a plain binary search on
 * random keys mispredict about half the time. */
static int32_t kth_free(const int32_t *p, int64_t d, uint32_t k)
{
  if (d == 0) return (int32_t)k;
  const int32_t *base = p;
  int64_t len = d;
  while (len > KTH_LINEAR) {
    int64_t half = len / 2;
    int64_t j = (base - p) + half;
    base = (int64_t)base[half] - j <= (int64_t)k ? base + half : base;
    len -= half;
  }
  /* The last window (or a whole short list) is counted instead: a loop
   * without dependent loads, which vectorises. p[j] - j <= k is monotone in
   * j, so the count is the same as the search would find. */
  int64_t j0 = base - p;
  int32_t cnt = 0;
  for (int32_t i = 0; i < (int32_t)len; i++)
    cnt += base[i] - (int32_t)(j0 + i) <= (int32_t)k;
  return (int32_t)((int64_t)k + j0 + cnt);
}

/* N distinct ranks in [0, c) into out, in uniformly random order. */
static void distinct_ranks(vbpr__rng *r, uint32_t c, int64_t n, uint32_t *out, drawn *d)
{
  if (4 * (uint64_t)n <= c) { /* sparse: rejection of repeats is cheap */
    for (int64_t k = 0; k < n; k++) {
      uint32_t t;
      do t = vbpr__rng_below(r, c);
      while (!drawn_add(d, t, k));
      out[k] = t;
    }
    return;
  }
  /* dense: Floyd's algorithm (no rejection), then a shuffle for the order */
  int64_t k = 0;
  for (uint32_t j = c - (uint32_t)n; j < c; j++) {
    uint32_t t = vbpr__rng_below(r, j + 1);
    if (!drawn_add(d, t, k)) {
      t = j;
      drawn_add(d, t, k);
    }
    out[k++] = t;
  }
  for (int64_t i = n - 1; i > 0; i--) {
    uint32_t x = vbpr__rng_below(r, (uint32_t)i + 1), tmp = out[i];
    out[i] = out[x];
    out[x] = tmp;
  }
}

static void uniform_negatives(const vbpr_sampler *s, vbpr__rng *r, const int32_t *p,
                              int64_t d, int32_t *neg, void *ws)
{
  uint32_t c = (uint32_t)(s->ds->num_items - d);
  drawn dr = drawn_init(s, ws, neg);
  uint32_t *ranks = (uint32_t *)neg; /* ranks first, items in place after */
  distinct_ranks(r, c, s->num_neg, ranks, &dr);
  for (int64_t k = 0; k < s->num_neg; k++) neg[k] = kth_free(p, d, ranks[k]);
}

/* ---- popularity-weighted negatives ------------------------------------- */

static void heap_down(keyed *h, int64_t n, int64_t i)
{
  for (;;) {
    int64_t l = 2 * i + 1, m = i;
    if (l < n && h[l].key < h[m].key) m = l;
    if (l + 1 < n && h[l + 1].key < h[m].key) m = l + 1;
    if (m == i) return;
    keyed t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

/* Exact weighted sampling without replacement over the whole complement
 * (Efraimidis-Spirakis keys log(u)/w, the N largest win); for users whose
 * positives hold much of the mass, where rejection would be slow. */
static void weighted_scan(const vbpr_sampler *s, vbpr__rng *r, const int32_t *p, int64_t d,
                          int32_t *neg, keyed *h)
{
  int64_t n = 0, N = s->num_neg, j = 0;
  for (int32_t i = 0; i < s->ds->num_items; i++) {
    if (j < d && p[j] == i) { j++; continue; }
    double key = log(1.0 - vbpr__rng_uniform(r)) / s->weights[i];
    if (n < N) {
      h[n++] = (keyed){key, i};
      if (n == N)
        for (int64_t k = N / 2; k-- > 0;) heap_down(h, N, k);
    } else if (key > h[0].key) {
      h[0] = (keyed){key, i};
      heap_down(h, N, 0);
    }
  }
  for (int64_t k = N - 1; k >= 0; k--) { /* largest key first */
    neg[k] = h[0].item;
    h[0] = h[k];
    heap_down(h, k, 0);
  }
}

static int32_t alias_draw(const vbpr_sampler *s, vbpr__rng *r)
{
  uint32_t i = vbpr__rng_below(r, (uint32_t)s->ds->num_items);
  return vbpr__rng_uniform(r) < s->alias_prob[i] ? (int32_t)i : s->alias_idx[i];
}

static void weighted_negatives(const vbpr_sampler *s, vbpr__rng *r, int32_t u, const int32_t *p,
                               int64_t d, int32_t *neg, void *ws)
{
  /* Rejection accepts each draw with probability >= 1/2 when the positives
   * and the N heaviest items together hold at most half the mass. */
  if (s->user_mass[u] + s->top_mass[s->num_neg - 1] > 0.5) {
    size_t off = s->num_neg > VBPR__SAMPLER_SMALL_N ? hash_slots(s->num_neg) * sizeof(uint32_t) : 0;
    weighted_scan(s, r, p, d, neg, (keyed *)((char *)ws + off));
    return;
  }
  drawn dr = drawn_init(s, ws, neg);
  for (int64_t k = 0; k < s->num_neg;) {
    int32_t j = alias_draw(s, r);
    if (vbpr__sorted_contains(p, d, j) || !drawn_add(&dr, (uint32_t)j, k)) continue;
    neg[k++] = j;
  }
}

/* ---- rows -------------------------------------------------------------- */

static uint32_t below64(vbpr__rng *r, int64_t n)
{
  return vbpr__rng_below(r, (uint32_t)n); /* n < 2^32 is checked at creation */
}

void vbpr__sampler_fill(void *job, size_t begin, size_t end, int tid)
{
  const vbpr__fill_job *jb = job;
  const vbpr_sampler *s = jb->s;
  const vbpr_dataset *ds = s->ds;
  int64_t M = s->num_pos, N = s->num_neg;
  void *ws = s->ws_stride ? (char *)s->ws + (size_t)tid * s->ws_stride : NULL;
  for (size_t b = begin; b < end; b++) {
    uint64_t row = (uint64_t)s->position + b;
    vbpr__rng r;
    vbpr__rng_init(&r, s->seed, (uint64_t)s->epoch, row);
    int32_t u, i1;
    if (s->mode == VBPR_SAMPLER_MODE_INTERACTIONS) {
      u = s->pairs[2 * row];
      i1 = s->pairs[2 * row + 1];
    } else {
      u = s->elig_users[below64(&r, s->n_elig)];
      int64_t deg = ds->offsets[u + 1] - ds->offsets[u];
      i1 = ds->items[ds->offsets[u] + below64(&r, deg)];
    }
    const int32_t *p = ds->items + ds->offsets[u];
    int64_t d = ds->offsets[u + 1] - ds->offsets[u];
    int32_t *pos = jb->pos + b * (size_t)M, *neg = jb->neg + b * (size_t)N;
    jb->users[b] = u;
    pos[0] = i1;
    for (int64_t k = 1; k < M; k++) pos[k] = p[below64(&r, d)];
    if (s->pop_exponent > 0) weighted_negatives(s, &r, u, p, d, neg, ws);
    else uniform_negatives(s, &r, p, d, neg, ws);
  }
}
