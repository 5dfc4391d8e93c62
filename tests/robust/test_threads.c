/* Concurrency: several host threads, each with its own sampler, encoder,
 * loss, optimizer and evaluator over one shared read-only dataset, must get
 * results bit-identical to the same work run one after the other, with and
 * without library worker threads inside each call. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

/* Large enough that the sampler, the loss, LightGCN propagation and the
 * evaluation each split their work across library threads. */
enum { WORKERS = 4, STEPS = 3, BATCH = 8192, DIM = 32, MPOS = 2, NNEG = 4 };

typedef struct work {
  const vbpr_dataset *train, *test;
  int kind;
  uint64_t seed;
  vbpr_status st;
  char err[256];
  float losses[STEPS];
  double ndcg;
  float *tables[2];
  size_t table_len[2];
} work;

typedef struct bufs {
  int32_t users[BATCH], pos[BATCH * MPOS], neg[BATCH * NNEG];
  float ue[BATCH * DIM], pe[BATCH * MPOS * DIM], ne[BATCH * NNEG * DIM];
  float gu[BATCH * DIM], gp[BATCH * MPOS * DIM], gn[BATCH * NNEG * DIM];
} bufs;

typedef struct handles {
  vbpr_sampler *s;
  vbpr_encoder *enc;
  vbpr_loss *loss;
  vbpr_optim *opt;
  vbpr_evaluator *ev;
} handles;

#define TRY(call)                                                               \
  do {                                                                          \
    vbpr_status st_ = (call);                                                   \
    if (st_ != VBPR_OK) {                                                       \
      w->st = st_;                                                              \
      snprintf(w->err, sizeof w->err, "%s: %s", #call, vbpr_last_error());      \
      return;                                                                   \
    }                                                                           \
  } while (0)

static void setup(work *w, handles *h)
{
  TRY(vbpr_sampler_create(w->train, &h->s));
  TRY(vbpr_sampler_set(h->s, VBPR_SAMPLER_BATCH_SIZE, BATCH));
  TRY(vbpr_sampler_set(h->s, VBPR_SAMPLER_NUM_POS, MPOS));
  TRY(vbpr_sampler_set(h->s, VBPR_SAMPLER_NUM_NEG, NNEG));
  TRY(vbpr_sampler_set(h->s, VBPR_SAMPLER_SEED, (double)w->seed));
  if (w->kind == VBPR_ENCODER_LIGHTGCN)
    TRY(vbpr_encoder_create_lightgcn(w->train, DIM, 2, w->seed, &h->enc));
  else
    TRY(vbpr_encoder_create_mf(vbpr_dataset_num_users(w->train),
                               vbpr_dataset_num_items(w->train), DIM, w->seed, &h->enc));
  TRY(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &h->loss));
  TRY(vbpr_loss_set(h->loss, VBPR_LOSS_NUM_POS, MPOS));
  TRY(vbpr_loss_set(h->loss, VBPR_LOSS_NUM_NEG, NNEG));
  TRY(vbpr_optim_create(VBPR_OPTIM_ADAM, &h->opt));
  TRY(vbpr_optim_set(h->opt, VBPR_OPTIM_LR, 0.01));
  TRY(vbpr_evaluator_create(w->train, w->test, &h->ev));
}

static void train_and_eval(work *w, handles *h, bufs *b)
{
  for (int step = 0; step < STEPS; step++) {
    size_t rows = 0;
    TRY(vbpr_sampler_next(h->s, b->users, b->pos, b->neg, &rows));
    if (rows == 0) TRY(vbpr_sampler_next(h->s, b->users, b->pos, b->neg, &rows));
    TRY(vbpr_encoder_zero_grad(h->enc));
    TRY(vbpr_encoder_forward(h->enc, rows, MPOS, NNEG, b->users, b->pos, b->neg, b->ue, b->pe,
                             b->ne));
    TRY(vbpr_loss_forward_backward(h->loss, rows, DIM, b->ue, b->pe, b->ne, NULL, NULL, 1.0f,
                                   &w->losses[step], b->gu, b->gp, b->gn));
    TRY(vbpr_encoder_backward(h->enc, b->gu, b->gp, b->gn));
    TRY(vbpr_optim_step_encoder(h->opt, h->enc));
  }
  const float *eu, *ei;
  TRY(vbpr_encoder_embeddings(h->enc, &eu, &ei));
  TRY(vbpr_evaluator_run(h->ev, vbpr_encoder_num_users(h->enc), vbpr_encoder_num_items(h->enc), DIM,
                    eu, ei));
  TRY(vbpr_evaluator_metric(h->ev, VBPR_METRIC_NDCG, 20, &w->ndcg));
  for (int t = 0; t < 2; t++) {
    float *param;
    const float *grad;
    size_t rows, dim;
    TRY(vbpr_encoder_table(h->enc, (vbpr_table)t, &param, &grad, &rows, &dim));
    w->table_len[t] = (size_t)rows * (size_t)dim;
    w->tables[t] = malloc(w->table_len[t] * sizeof(float));
    if (w->tables[t] == NULL) { w->st = VBPR_ERR_OUT_OF_MEMORY; return; }
    memcpy(w->tables[t], param, w->table_len[t] * sizeof(float));
  }
}

static void *run_work(void *arg)
{
  work *w = arg;
  handles h = {0};
  bufs *b = malloc(sizeof *b);
  w->st = VBPR_OK;
  if (b == NULL) { w->st = VBPR_ERR_OUT_OF_MEMORY; return NULL; }
  setup(w, &h);
  if (w->st == VBPR_OK) train_and_eval(w, &h, b);
  vbpr_evaluator_destroy(h.ev);
  vbpr_optim_destroy(h.opt);
  vbpr_loss_destroy(h.loss);
  vbpr_encoder_destroy(h.enc);
  vbpr_sampler_destroy(h.s);
  free(b);
  return NULL;
}

static void make_data(vbpr_dataset **train, vbpr_dataset **test)
{
  vbpr_synthetic *g = NULL;
  ck_assert_ok(vbpr_synthetic_create(&g));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_USERS, 800));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_NUM_ITEMS, 600));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_MEAN_PREFERENCES, 20));
  ck_assert_ok(vbpr_synthetic_set(g, VBPR_SYNTHETIC_SEED, 5));
  ck_assert_ok(vbpr_synthetic_generate(g, train, test));
  vbpr_synthetic_destroy(g);
}

static void init_works(work *ws, const vbpr_dataset *train, const vbpr_dataset *test)
{
  memset(ws, 0, WORKERS * sizeof *ws);
  for (int i = 0; i < WORKERS; i++) {
    ws[i].train = train;
    ws[i].test = test;
    ws[i].seed = 100 + (uint64_t)i;
    ws[i].kind = (i % 2 == 1 && vbpr_has_module(VBPR_MODULE_LIGHTGCN)) ? VBPR_ENCODER_LIGHTGCN
                                                                       : VBPR_ENCODER_MF;
  }
}

static void free_works(work *ws)
{
  for (int i = 0; i < WORKERS; i++) {
    free(ws[i].tables[0]);
    free(ws[i].tables[1]);
  }
}

static void assert_same(const work *ref, const work *got, const char *what)
{
  for (int i = 0; i < WORKERS; i++) {
    ck_assert_msg(got[i].st == VBPR_OK, "%s worker %d: %s", what, i, got[i].err);
    ck_assert_msg(memcmp(ref[i].losses, got[i].losses, sizeof ref[i].losses) == 0,
                  "%s worker %d: losses differ (%.9g vs %.9g)", what, i, ref[i].losses[0],
                  got[i].losses[0]);
    ck_assert_msg(ref[i].ndcg == got[i].ndcg, "%s worker %d: ndcg %.17g vs %.17g", what, i,
                  ref[i].ndcg, got[i].ndcg);
    for (int t = 0; t < 2; t++) {
      ck_assert_uint_eq(ref[i].table_len[t], got[i].table_len[t]);
      ck_assert_msg(memcmp(ref[i].tables[t], got[i].tables[t],
                           ref[i].table_len[t] * sizeof(float)) == 0,
                    "%s worker %d: table %d differs", what, i, t);
    }
  }
}

static void run_concurrently(work *ws)
{
  pthread_t th[WORKERS];
  for (int i = 0; i < WORKERS; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, run_work, &ws[i]), 0);
  for (int i = 0; i < WORKERS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
}

START_TEST(threads_share_a_dataset_bit_identically)
{
  vbpr_dataset *train, *test;
  make_data(&train, &test);
  static work ref[WORKERS], got[WORKERS];

  ck_assert_ok(vbpr_set_num_threads(1));
  init_works(ref, train, test);
  for (int i = 0; i < WORKERS; i++) {
    run_work(&ref[i]);
    ck_assert_msg(ref[i].st == VBPR_OK, "reference %d: %s", i, ref[i].err);
    for (int s = 0; s < STEPS; s++) ck_assert(isfinite(ref[i].losses[s]));
  }
  /* The workers really differ (else the comparison proves little). */
  ck_assert(memcmp(ref[0].losses, ref[2].losses, sizeof ref[0].losses) != 0);

  for (int nt = 1; nt <= 2; nt++) {
    ck_assert_ok(vbpr_set_num_threads(nt));
    init_works(got, train, test);
    run_concurrently(got);
    assert_same(ref, got, nt == 1 ? "1 library thread" : "2 library threads");
    free_works(got);
  }
  free_works(ref);
  ck_assert_ok(vbpr_set_num_threads(0));
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
}
END_TEST

int main(void)
{
  if (!vbpr_has_module(VBPR_MODULE_MF)) {
    fprintf(stderr, "SKIP: the mf module is not built\n");
    return 77; /* Meson's skip code */
  }
  Suite *s = suite_create("robust_threads");
  TCase *tc = tcase_create("threads");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, threads_share_a_dataset_bit_identically);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
