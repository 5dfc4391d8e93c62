/* Where the negative attention goes: statistics of Variational BPR's
 * attention over uniformly drawn negatives, for a trained model.
 *
 *   attention_stats TRAIN TEST MODEL [options]
 *     --dim D            embedding dimension of MODEL (default 128)
 *     --layers K         MODEL is a K-layer LightGCN (default: MF)
 *     --num-items N      item universe (ml-100k: 1682)
 *     --users U          users analysed (default 3000, drawn at random)
 *     --rows R           tuples per user (default 8)
 *     --n 4,16,64        numbers of negatives
 *     --c-neg 0.1,1,8    negative temperatures
 *     --c-pos C          positive temperature (default 10), M = 2
 *     --estimator E      prototype (default, the paper's), detached or elbo
 *     --seed S
 *
 * For every (N, attention sign, c_neg) it runs the library's loss
 * (vbpr_loss_forward_backward_scores; N = 1 is BPR) on the same tuples and
 * prints:
 *   ess      mean effective number of negatives, 1 / sum_n beta_n^2
 *   test%    share of drawn negatives that are test items of their user
 *            (the proxy for false negatives: items the user does like)
 *   beta@test  attention mass on those items per row, and its lift over
 *            the uniform share (1 = no preference)
 *   top%     share of drawn negatives that the model ranks in the user's
 *            top 20 (among items not in training): what it would recommend
 *   beta@top  attention mass on those, and lift
 *   rank     mean rank percentile (0 = the user's best-scored unseen
 *            item) of the negative with the largest attention
 *   up%      share of the negative-side gradient (sum of |dL/ds-|) that
 *            pushes a negative's score up (dL/ds- < 0): the prototype
 *            estimator's gradient through the attention reverses the push
 *            on negatives scored well below the prototype when c is small
 *   pos-down%  likewise on the positive side: share of |dL/ds+| that
 *            pushes a positive's score down
 *   signal   the learning signal per row: mean over rows of
 *            sum_n |dL_b/ds-_n| (for BPR: sigmoid(s- - s+)); small when
 *            the loss has saturated on these tuples.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbpr/vbpr.h"

#define MAX_LIST 16
#define TOP_K 20
#define M_POS 2

static void die(const char *what)
{
  fprintf(stderr, "attention_stats: %s: %s\n", what, vbpr_last_error());
  exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size);
  if (!p) {
    fprintf(stderr, "attention_stats: out of memory\n");
    exit(1);
  }
  return p;
}

typedef struct options {
  const char *train, *test, *model;
  size_t dim, layers, num_items, users, rows;
  size_t ns[MAX_LIST], nns;
  double cs[MAX_LIST], c_pos;
  size_t ncs;
  uint64_t seed;
  double estimator;
} options;

static size_t parse_list(const char *s, double *out)
{
  size_t n = 0;
  char *end;
  while (*s && n < MAX_LIST) {
    out[n++] = strtod(s, &end);
    if (end == s) break;
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

static void parse(int argc, char **argv, options *o)
{
  *o = (options){.dim = 128, .users = 3000, .rows = 8, .c_pos = 10, .seed = 1,
                 .estimator = VBPR_ESTIMATOR_PROTOTYPE};
  double ns[MAX_LIST] = {4, 16, 64};
  o->nns = 3;
  o->cs[0] = 0.1, o->cs[1] = 1, o->cs[2] = 8, o->ncs = 3;
  if (argc < 4) {
    fprintf(stderr, "usage: attention_stats TRAIN TEST MODEL [options] (see the source)\n");
    exit(2);
  }
  o->train = argv[1], o->test = argv[2], o->model = argv[3];
  for (int i = 4; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--dim")) o->dim = strtoul(v, NULL, 10);
    else if (!strcmp(k, "--layers")) o->layers = strtoul(v, NULL, 10);
    else if (!strcmp(k, "--num-items")) o->num_items = strtoul(v, NULL, 10);
    else if (!strcmp(k, "--users")) o->users = strtoul(v, NULL, 10);
    else if (!strcmp(k, "--rows")) o->rows = strtoul(v, NULL, 10);
    else if (!strcmp(k, "--n")) o->nns = parse_list(v, ns);
    else if (!strcmp(k, "--c-neg")) o->ncs = parse_list(v, o->cs);
    else if (!strcmp(k, "--c-pos")) o->c_pos = strtod(v, NULL);
    else if (!strcmp(k, "--seed")) o->seed = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--estimator")) {
      if (vbpr_loss_param_parse(VBPR_LOSS_ESTIMATOR, v, &o->estimator) != VBPR_OK)
        die("--estimator");
    }
    else {
      fprintf(stderr, "attention_stats: unknown option %s\n", k);
      exit(2);
    }
  }
  for (size_t i = 0; i < o->nns; i++) o->ns[i] = (size_t)ns[i];
}

/* splitmix64: the analysis's own draws (users, tuples). */
static uint64_t next_u64(uint64_t *s)
{
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static size_t draw(uint64_t *s, size_t n) { return (size_t)(next_u64(s) % n); }

typedef struct data {
  vbpr_dataset *train, *test;
  const float *ue, *ie;
  size_t nu, ni, dim;
  vbpr_encoder *enc;
} data;

static void load(const options *o, data *d)
{
  vbpr_dataset_options *opts;
  if (vbpr_dataset_options_create(&opts) != VBPR_OK) die("options");
  if (o->num_items &&
      vbpr_dataset_options_set(opts, VBPR_DATASET_OPTIONS_MIN_ITEMS, (double)o->num_items))
    die("--num-items");
  if (vbpr_dataset_load_pair(o->train, o->test, opts, &d->train, &d->test) != VBPR_OK)
    die("data");
  vbpr_dataset_options_destroy(opts);
  d->nu = vbpr_dataset_num_users(d->train), d->ni = vbpr_dataset_num_items(d->train);
  d->dim = o->dim;
  vbpr_status st = o->layers
                     ? vbpr_encoder_create_lightgcn(d->train, o->dim, o->layers, 0, &d->enc)
                     : vbpr_encoder_create_mf(d->nu, d->ni, o->dim, 0, &d->enc);
  if (st != VBPR_OK) die("encoder");
  if (vbpr_encoder_load(d->enc, o->model) != VBPR_OK) die("model");
  if (vbpr_encoder_embeddings(d->enc, &d->ue, &d->ie) != VBPR_OK) die("embeddings");
}

static float dot(const float *a, const float *b, size_t d)
{
  float s = 0;
  for (size_t k = 0; k < d; k++) s += a[k] * b[k];
  return s;
}

static int cmp_desc(const void *a, const void *b)
{
  float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

/* Per analysed user: all item scores, the top-20 threshold among items not
 * in training, and how many such items there are (for rank percentiles). */
typedef struct user_view {
  float *scores, *sorted;
  size_t nfree;
  float top;
} user_view;

static void view_user(const data *d, int32_t u, user_view *v)
{
  const float *ue = d->ue + (size_t)u * d->dim;
  v->nfree = 0;
  for (size_t i = 0; i < d->ni; i++) {
    v->scores[i] = dot(ue, d->ie + i * d->dim, d->dim);
    if (!vbpr_dataset_contains(d->train, u, (int32_t)i)) v->sorted[v->nfree++] = v->scores[i];
  }
  qsort(v->sorted, v->nfree, sizeof *v->sorted, cmp_desc);
  v->top = v->sorted[v->nfree < TOP_K ? v->nfree - 1 : TOP_K - 1];
}

/* Rank of score s among the user's unseen items, as a fraction in [0, 1). */
static double rank_of(const user_view *v, float s)
{
  size_t lo = 0, hi = v->nfree;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v->sorted[mid] > s) lo = mid + 1;
    else hi = mid;
  }
  return (double)lo / (double)v->nfree;
}

/* The tuples: R rows per user, M positives from training, NMAX distinct
 * negatives not in training; flags per negative (test item, top 20) and
 * its rank percentile. Smaller N use each row's first N negatives. */
typedef struct tuples {
  size_t rows, nmax;
  float *pos_s, *neg_s, *neg_rank;
  unsigned char *neg_test, *neg_top;
} tuples;

static bool in_row(const int32_t *row, size_t n, int32_t j)
{
  for (size_t k = 0; k < n; k++)
    if (row[k] == j) return true;
  return false;
}

static void user_rows(const data *d, int32_t u, const user_view *v, size_t r0, size_t nrows,
                      uint64_t *rng, tuples *t)
{
  const int32_t *items;
  size_t deg;
  vbpr_dataset_user_items(d->train, u, &items, &deg);
  int32_t *row = xcalloc(t->nmax, sizeof *row);
  for (size_t r = r0; r < r0 + nrows; r++) {
    for (size_t m = 0; m < M_POS; m++) t->pos_s[r * M_POS + m] = v->scores[items[draw(rng, deg)]];
    for (size_t n = 0; n < t->nmax; n++) {
      int32_t j;
      do j = (int32_t)draw(rng, d->ni);
      while (vbpr_dataset_contains(d->train, u, j) || in_row(row, n, j));
      row[n] = j;
      size_t at = r * t->nmax + n;
      t->neg_s[at] = v->scores[j];
      t->neg_test[at] = (unsigned char)vbpr_dataset_contains(d->test, u, j);
      t->neg_top[at] = v->scores[j] >= v->top;
      t->neg_rank[at] = (float)rank_of(v, v->scores[j]);
    }
  }
  free(row);
}

/* Users with at least one training and one test item, in random order. */
static size_t pick_users(const data *d, size_t want, uint64_t *rng, int32_t *out)
{
  size_t n = 0;
  int32_t *all = xcalloc(d->nu, sizeof *all);
  for (size_t u = 0; u < d->nu; u++) {
    const int32_t *it;
    size_t a = 0, b = 0;
    vbpr_dataset_user_items(d->train, (int32_t)u, &it, &a);
    vbpr_dataset_user_items(d->test, (int32_t)u, &it, &b);
    if (a > 0 && b > 0) all[n++] = (int32_t)u;
  }
  for (size_t i = n; i > 1; i--) {
    size_t j = draw(rng, i);
    int32_t x = all[i - 1];
    all[i - 1] = all[j], all[j] = x;
  }
  size_t k = n < want ? n : want;
  memcpy(out, all, k * sizeof *out);
  free(all);
  return k;
}

static void build(const options *o, const data *d, tuples *t)
{
  uint64_t rng = o->seed;
  int32_t *users = xcalloc(o->users, sizeof *users);
  size_t nusers = pick_users(d, o->users, &rng, users);
  t->nmax = 0;
  for (size_t i = 0; i < o->nns; i++)
    if (o->ns[i] > t->nmax) t->nmax = o->ns[i];
  t->rows = nusers * o->rows;
  t->pos_s = xcalloc(t->rows * M_POS, sizeof *t->pos_s);
  t->neg_s = xcalloc(t->rows * t->nmax, sizeof *t->neg_s);
  t->neg_rank = xcalloc(t->rows * t->nmax, sizeof *t->neg_rank);
  t->neg_test = xcalloc(t->rows * t->nmax, 1);
  t->neg_top = xcalloc(t->rows * t->nmax, 1);
  user_view v = {xcalloc(d->ni, sizeof(float)), xcalloc(d->ni, sizeof(float)), 0, 0};
  for (size_t k = 0; k < nusers; k++) {
    view_user(d, users[k], &v);
    user_rows(d, users[k], &v, k * o->rows, o->rows, &rng, t);
  }
  free(v.scores), free(v.sorted), free(users);
}

typedef struct stats {
  double ess, p_test, m_test, p_top, m_top, rank, up, pos_down, signal;
} stats;

static vbpr_loss *make_loss(const options *o, size_t n, double sign, double c_neg)
{
  vbpr_loss *loss;
  if (n == 1) {
    if (vbpr_loss_create(VBPR_LOSS_BPR, &loss) != VBPR_OK) die("loss");
    return loss;
  }
  if (vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss) != VBPR_OK ||
      vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, M_POS) ||
      vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, (double)n) ||
      vbpr_loss_set(loss, VBPR_LOSS_C_POS, o->c_pos) ||
      vbpr_loss_set(loss, VBPR_LOSS_C_NEG, c_neg) ||
      vbpr_loss_set(loss, VBPR_LOSS_NEG_ATTENTION, sign) ||
      vbpr_loss_set(loss, VBPR_LOSS_ESTIMATOR, o->estimator))
    die("loss");
  return loss;
}

/* Loss forward+backward on the first n negatives of every row (BPR, n = 1,
 * uses each row's first positive). */
static void measure(const options *o, const tuples *t, size_t n, double sign, double c_neg,
                    stats *s)
{
  size_t R = t->rows;
  float *neg = xcalloc(R * n, sizeof *neg), *beta = xcalloc(R * n, sizeof *beta);
  float *gp = xcalloc(R * M_POS, sizeof *gp), *gn = xcalloc(R * n, sizeof *gn), l;
  size_t m = n == 1 ? 1 : M_POS;
  float *pos = xcalloc(R * m, sizeof *pos);
  for (size_t r = 0; r < R; r++) {
    memcpy(neg + r * n, t->neg_s + r * t->nmax, n * sizeof *neg);
    memcpy(pos + r * m, t->pos_s + r * M_POS, m * sizeof *pos);
  }
  vbpr_loss *loss = make_loss(o, n, sign, c_neg);
  /* grad_output R: the gradients of the summed loss, per-row sizes */
  if (vbpr_loss_forward_backward_scores(loss, R, pos, neg, NULL, NULL, (float)R, &l, gp, gn) ||
      vbpr_loss_attention(loss, NULL, beta))
    die("loss");
  *s = (stats){0};
  double up = 0, tot = 0, pdown = 0, ptot = 0;
  for (size_t r = 0; r < R; r++) {
    double sq = 0, bmax = -1;
    size_t arg = 0;
    for (size_t k = 0; k < n; k++) {
      size_t a = r * n + k, src = r * t->nmax + k;
      sq += (double)beta[a] * beta[a];
      s->p_test += t->neg_test[src], s->m_test += t->neg_test[src] ? beta[a] : 0;
      s->p_top += t->neg_top[src], s->m_top += t->neg_top[src] ? beta[a] : 0;
      if (beta[a] > bmax) bmax = beta[a], arg = src;
      tot += fabs(gn[a]), up += gn[a] < 0 ? -gn[a] : 0;
    }
    for (size_t k = 0; k < m; k++)
      ptot += fabs(gp[r * m + k]), pdown += gp[r * m + k] > 0 ? gp[r * m + k] : 0;
    s->ess += 1.0 / sq;
    s->rank += t->neg_rank[arg];
  }
  s->ess /= (double)R, s->rank /= (double)R;
  s->p_test /= (double)(R * n), s->m_test /= (double)R;
  s->p_top /= (double)(R * n), s->m_top /= (double)R;
  s->up = tot > 0 ? up / tot : 0, s->pos_down = ptot > 0 ? pdown / ptot : 0;
  s->signal = tot / (double)R;
  vbpr_loss_destroy(loss);
  free(pos), free(neg), free(beta), free(gp), free(gn);
}

static void report(const options *o, const tuples *t)
{
  printf("%4s %5s %6s %6s %7s %9s %6s %7s %8s %6s %6s %6s %9s %7s\n", "N", "attn", "c_neg",
         "ess", "test%", "beta@test", "lift", "top%", "beta@top", "lift", "rank", "up%",
         "pos-down%", "signal");
  for (size_t i = 0; i < o->nns; i++)
    for (int g = 1; g >= -1; g -= 2)
      for (size_t c = 0; c < o->ncs; c++) {
        if (o->ns[i] == 1 && (g < 0 || c > 0)) continue; /* BPR: one line */
        stats s;
        measure(o, t, o->ns[i], g, o->cs[c], &s);
        printf("%4zu %5s %6g %6.2f %7.3f %9.4f %6.2f %7.3f %8.4f %6.2f %6.3f %6.1f %9.1f %7.4f\n",
               o->ns[i], o->ns[i] == 1 ? "bpr" : g > 0 ? "hard" : "easy", o->cs[c], s.ess,
               100 * s.p_test, s.m_test, s.p_test > 0 ? s.m_test / s.p_test : 0,
               100 * s.p_top, s.m_top, s.p_top > 0 ? s.m_top / s.p_top : 0, s.rank,
               100 * s.up, 100 * s.pos_down, s.signal);
      }
}

int main(int argc, char **argv)
{
  options o;
  parse(argc, argv, &o);
  data d = {0};
  load(&o, &d);
  tuples t;
  build(&o, &d, &t);
  double est = o.estimator;
  const char *names[] = {"?", "prototype", "detached", "elbo"};
  printf("%s: %zu rows (%zu users x %zu), M %d, c_pos %g, %s estimator; uniform negatives\n",
         o.model, t.rows, t.rows / o.rows, o.rows, M_POS, o.c_pos,
         names[est >= 1 && est <= 3 ? (int)est : 0]);
  report(&o, &t);
  free(t.pos_s), free(t.neg_s), free(t.neg_rank), free(t.neg_test), free(t.neg_top);
  vbpr_encoder_destroy(d.enc);
  vbpr_dataset_destroy(d.train), vbpr_dataset_destroy(d.test);
  return 0;
}
