/* A host training loop that owns its model and optimizer: matrix
 * factorisation on synthetic implicit feedback, trained with plain SGD.
 *
 * Built twice from this one file:
 *   example_loss_bpr   the loop's own, hand-written BPR loss;
 *   example_loss_vbpr  (-DUSE_VBPR) the same loop with libvbpr's Variational
 *                      BPR. Only the lines inside `#ifdef USE_VBPR` differ:
 *                      the number of positives/negatives per row and the
 *                      loss calls. Sampling, model and optimizer are shared.
 *
 * Prints the mean training loss per epoch and a held-out hit rate, and exits
 * non-zero if the loss did not fall. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef USE_VBPR
#include "vbpr/error.h"
#include "vbpr/loss.h"
#define NUM_POS 2 /* M: positives per row */
#define NUM_NEG 4 /* N: negatives per row */
#else
#define NUM_POS 1
#define NUM_NEG 1
#endif

enum { USERS = 300, ITEMS = 400, DIM = 16, LIKED = 24, BATCH = 256, EPOCHS = 12 };
static const float LEARNING_RATE = 0.05f, WEIGHT_DECAY = 1e-4f;

/* ---- synthetic data: each user likes the items closest to a hidden taste */

static unsigned rng = 12345u;
static float uniform(void)
{
  rng = rng * 1664525u + 1013904223u;
  return (float)(rng >> 8) / 16777216.0f;
}
static unsigned below(unsigned n) { return (unsigned)(uniform() * (float)n) % n; }

static float true_u[USERS][4], true_v[ITEMS][4];
static int liked[USERS][LIKED]; /* the first LIKED - 4 train, the last 4 test */
static unsigned char likes[USERS][ITEMS];

static float true_score(int u, int i)
{
  float s = 0;
  for (int k = 0; k < 4; k++) s += true_u[u][k] * true_v[i][k];
  return s;
}

static void make_data(void)
{
  for (int u = 0; u < USERS; u++)
    for (int k = 0; k < 4; k++) true_u[u][k] = uniform() - 0.5f;
  for (int i = 0; i < ITEMS; i++)
    for (int k = 0; k < 4; k++) true_v[i][k] = uniform() - 0.5f;
  for (int u = 0; u < USERS; u++) /* the LIKED best items, by selection */
    for (int n = 0; n < LIKED; n++) {
      int best = -1;
      for (int i = 0; i < ITEMS; i++)
        if (!likes[u][i] && (best < 0 || true_score(u, i) > true_score(u, best)))
          best = i;
      likes[u][best] = 1;
      liked[u][n] = best;
    }
  for (int u = 0; u < USERS; u++) /* shuffle, so the test items are random */
    for (int n = LIKED - 1; n > 0; n--) {
      int m = (int)below((unsigned)n + 1), t = liked[u][n];
      liked[u][n] = liked[u][m], liked[u][m] = t;
    }
}

/* ---- the model and its optimizer (the host's own) ------------------------ */

static float U[USERS][DIM], V[ITEMS][DIM];

static void sgd(float *w, const float *g)
{
  for (int k = 0; k < DIM; k++) w[k] -= LEARNING_RATE * (g[k] + WEIGHT_DECAY * w[k]);
}

/* ---- one batch: sample, gather, loss, scatter ---------------------------- */

static int bu[BATCH], bp[BATCH][NUM_POS], bn[BATCH][NUM_NEG];
static float user[BATCH * DIM], pos[BATCH * NUM_POS * DIM], neg[BATCH * NUM_NEG * DIM];
static float g_user[BATCH * DIM], g_pos[BATCH * NUM_POS * DIM],
    g_neg[BATCH * NUM_NEG * DIM];

static void sample_batch(void)
{
  for (int b = 0; b < BATCH; b++) {
    int u = (int)below(USERS);
    bu[b] = u;
    for (int m = 0; m < NUM_POS; m++) bp[b][m] = liked[u][below(LIKED - 4)];
    for (int n = 0; n < NUM_NEG; n++) {
      int j;
      do j = (int)below(ITEMS);
      while (likes[u][j]);
      bn[b][n] = j;
    }
    memcpy(user + b * DIM, U[u], sizeof U[u]);
    for (int m = 0; m < NUM_POS; m++)
      memcpy(pos + (b * NUM_POS + m) * DIM, V[bp[b][m]], sizeof V[0]);
    for (int n = 0; n < NUM_NEG; n++)
      memcpy(neg + (b * NUM_NEG + n) * DIM, V[bn[b][n]], sizeof V[0]);
  }
}

static void apply_gradients(void)
{
  for (int b = 0; b < BATCH; b++) {
    sgd(U[bu[b]], g_user + b * DIM);
    for (int m = 0; m < NUM_POS; m++) sgd(V[bp[b][m]], g_pos + (b * NUM_POS + m) * DIM);
    for (int n = 0; n < NUM_NEG; n++) sgd(V[bn[b][n]], g_neg + (b * NUM_NEG + n) * DIM);
  }
}

#ifndef USE_VBPR
/* The host's hand-written BPR: mean over rows of softplus(-(<u,i> - <u,j>)),
 * and the gradients of grad_output times it. */
static float bpr_forward_backward(float grad_output)
{
  double total = 0;
  for (int b = 0; b < BATCH; b++) {
    const float *u = user + b * DIM, *i = pos + b * DIM, *j = neg + b * DIM;
    float x = 0;
    for (int k = 0; k < DIM; k++) x += u[k] * (i[k] - j[k]);
    total += x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
    float d = -grad_output / BATCH / (1.0f + expf(x)); /* d loss / d x */
    for (int k = 0; k < DIM; k++) {
      g_user[b * DIM + k] = d * (i[k] - j[k]);
      g_pos[b * DIM + k] = d * u[k];
      g_neg[b * DIM + k] = -d * u[k];
    }
  }
  return (float)(total / BATCH);
}
#endif

/* Share of held-out liked items ranked in a user's top 20 unseen items. */
static double hit_rate(void)
{
  int hits = 0;
  for (int u = 0; u < USERS; u++)
    for (int t = LIKED - 4; t < LIKED; t++) {
      int item = liked[u][t], better = 0;
      float s = 0;
      for (int k = 0; k < DIM; k++) s += U[u][k] * V[item][k];
      for (int i = 0; i < ITEMS && better < 20; i++) {
        int train = 0;
        for (int n = 0; n < LIKED - 4; n++) train |= liked[u][n] == i;
        float si = 0;
        for (int k = 0; k < DIM; k++) si += U[u][k] * V[i][k];
        better += !train && i != item && si > s;
      }
      hits += better < 20;
    }
  return (double)hits / (USERS * 4);
}

int main(void)
{
  make_data();
  for (int u = 0; u < USERS; u++)
    for (int k = 0; k < DIM; k++) U[u][k] = 0.1f * (uniform() - 0.5f);
  for (int i = 0; i < ITEMS; i++)
    for (int k = 0; k < DIM; k++) V[i][k] = 0.1f * (uniform() - 0.5f);

#ifdef USE_VBPR
  vbpr_loss *loss = NULL;
  if (vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss) != VBPR_OK ||
      vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, NUM_POS) != VBPR_OK ||
      vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, NUM_NEG) != VBPR_OK) {
    fprintf(stderr, "loss setup failed: %s\n", vbpr_last_error());
    return 1;
  }
  printf("Variational BPR (M = %d, N = %d), libvbpr\n", NUM_POS, NUM_NEG);
#else
  printf("BPR, hand-written\n");
#endif
  printf("hit rate@20 before training: %.3f\n", hit_rate());
  double first = 0, last = 0;
  for (int epoch = 1; epoch <= EPOCHS; epoch++) {
    double sum = 0;
    int batches = USERS * (LIKED - 4) / BATCH;
    for (int t = 0; t < batches; t++) {
      sample_batch();
      float l;
#ifdef USE_VBPR
      /* grad_output = BATCH: gradients of the summed loss, as the SGD step
       * above expects per-row gradients */
      if (vbpr_loss_forward_backward(loss, BATCH, DIM, user, pos, neg, NULL, NULL,
                                     (float)BATCH, &l, g_user, g_pos, g_neg) != VBPR_OK) {
        fprintf(stderr, "loss failed: %s\n", vbpr_last_error());
        return 1;
      }
#else
      l = bpr_forward_backward((float)BATCH);
#endif
      apply_gradients();
      sum += l;
    }
    last = sum / batches;
    if (epoch == 1) first = last;
    printf("epoch %2d  loss %.4f\n", epoch, last);
  }
  printf("hit rate@20 after training: %.3f\n", hit_rate());
#ifdef USE_VBPR
  vbpr_loss_destroy(loss);
#endif
  if (!(last < 0.9 * first)) {
    fprintf(stderr, "the loss did not fall: %.4f -> %.4f\n", first, last);
    return 1;
  }
  return 0;
}
