/* Data parallelism without MPI: W ranks are W threads of this process,
 * joined by collectives made of barriers (what any engine provides), so
 * that the library's side (sharded sampling, the gradient exchange,
 * agreement on failures, sharded evaluation) is checked on every build.
 * The same training under mpirun is tests/dist/mpi.sh. */
#include <math.h>
#include <pthread.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

#define MAX_W 5

/* ---- collectives over threads -------------------------------------------- */

typedef struct group {
  size_t w;
  pthread_barrier_t bar;
  const void *in[MAX_W];
  int fail_gather; /* callbacks of a one-rank group fail when set */
  int aborted;
  char abort_msg[512];
} group;

typedef struct rank_ctx {
  group *g;
  size_t rank;
} rank_ctx;

static int fake_reduce(void *ctx, size_t n, float *buf)
{
  rank_ctx *c = ctx;
  group *g = c->g;
  float *sum = malloc(n * sizeof *sum);
  if (sum == NULL) return -1;
  g->in[c->rank] = buf;
  pthread_barrier_wait(&g->bar);
  for (size_t i = 0; i < n; i++) {
    float s = 0;
    for (size_t r = 0; r < g->w; r++) s += ((const float *)g->in[r])[i];
    sum[i] = s;
  }
  pthread_barrier_wait(&g->bar); /* every rank has read every buffer */
  memcpy(buf, sum, n * sizeof *sum);
  free(sum);
  return 0;
}

static int fake_gather(void *ctx, size_t n, const int32_t *send, int32_t *recv)
{
  rank_ctx *c = ctx;
  group *g = c->g;
  if (g->fail_gather) return 7;
  g->in[c->rank] = send;
  pthread_barrier_wait(&g->bar);
  for (size_t r = 0; r < g->w; r++) memcpy(recv + r * n, g->in[r], n * sizeof *recv);
  pthread_barrier_wait(&g->bar);
  return 0;
}

static void fake_abort(void *ctx, vbpr_status st, const char *msg)
{
  rank_ctx *c = ctx;
  c->g->aborted = (int)st;
  snprintf(c->g->abort_msg, sizeof c->g->abort_msg, "%s", msg);
}

static vbpr_collective collective_of(rank_ctx *c)
{
  vbpr_collective coll;
  ck_assert_ok(vbpr_collective_init(&coll, VBPR_COLLECTIVE_VERSION));
  coll.rank = c->rank;
  coll.size = c->g->w;
  coll.ctx = c;
  coll.all_reduce_sum = fake_reduce;
  coll.all_gather_ids = fake_gather;
  coll.abort_job = fake_abort;
  return coll;
}

/* Runs fn(rank) on w threads sharing one group. */
typedef struct job {
  rank_ctx ctx;
  void *arg;
  void (*fn)(struct job *);
} job;

static void *job_main(void *p)
{
  job *j = p;
  j->fn(j);
  return NULL;
}

static void run_ranks(size_t w, void (*fn)(job *), void *args, size_t arg_size)
{
  group g;
  memset(&g, 0, sizeof g);
  g.w = w;
  pthread_barrier_init(&g.bar, NULL, (unsigned)w);
  job jobs[MAX_W];
  pthread_t th[MAX_W];
  for (size_t r = 0; r < w; r++) {
    jobs[r] = (job){{&g, r}, (char *)args + r * arg_size, fn};
    pthread_create(&th[r], NULL, job_main, &jobs[r]);
  }
  for (size_t r = 0; r < w; r++) pthread_join(th[r], NULL);
  pthread_barrier_destroy(&g.bar);
}

/* ---- data ---------------------------------------------------------------- */

static vbpr_dataset *train_ds, *test_ds;

static void setup(void)
{
  vbpr_set_num_threads(1);
  vbpr_synthetic *cfg;
  ck_assert_ok(vbpr_synthetic_create(&cfg));
  ck_assert_ok(vbpr_synthetic_set(cfg, VBPR_SYNTHETIC_NUM_USERS, 300));
  ck_assert_ok(vbpr_synthetic_set(cfg, VBPR_SYNTHETIC_NUM_ITEMS, 400));
  ck_assert_ok(vbpr_synthetic_set(cfg, VBPR_SYNTHETIC_MEAN_PREFERENCES, 20));
  ck_assert_ok(vbpr_synthetic_set(cfg, VBPR_SYNTHETIC_SEED, 3));
  ck_assert_ok(vbpr_synthetic_generate(cfg, &train_ds, &test_ds));
  vbpr_synthetic_destroy(cfg);
}

static void teardown(void)
{
  vbpr_dataset_destroy(train_ds);
  vbpr_dataset_destroy(test_ds);
}

/* ---- sharded sampling ---------------------------------------------------- */

START_TEST(test_shards_union_is_the_batch)
{
  const size_t B = 64, M = 2, N = 3;
  vbpr_sampler *one;
  ck_assert_ok(vbpr_sampler_create(train_ds, &one));
  vbpr_sampler *shard[MAX_W];
  size_t ws[] = {2, 3, 5};
  for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
    size_t w = ws[k];
    vbpr_sampler *all[MAX_W + 1];
    for (size_t r = 0; r <= w; r++) {
      vbpr_sampler *s;
      ck_assert_ok(vbpr_sampler_create(train_ds, &s));
      ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_BATCH_SIZE, (double)B));
      ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_POS, (double)M));
      ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_NUM_NEG, (double)N));
      ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_SEED, 11));
      ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_EPOCH, 2));
      if (r < w) {
        ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_WORLD_SIZE, (double)w));
        ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_RANK, (double)r));
        shard[r] = s;
      }
      all[r] = s;
    }
    int32_t u1[64], p1[128], n1[192], u[64], p[128], n[192];
    size_t batches = 0;
    for (;;) {
      size_t rows1 = 0, at = 0;
      ck_assert_ok(vbpr_sampler_next(all[w], u1, p1, n1, &rows1));
      for (size_t r = 0; r < w; r++) {
        size_t rows = 99, global = 99;
        ck_assert_ok(vbpr_sampler_next_shard(shard[r], u, p, n, &rows, &global));
        ck_assert_uint_eq(global, rows1);
        ck_assert_uint_eq(rows, (r + 1) * global / w - r * global / w);
        ck_assert_int_eq(memcmp(u, u1 + at, rows * sizeof *u), 0);
        ck_assert_int_eq(memcmp(p, p1 + at * M, rows * M * sizeof *p), 0);
        ck_assert_int_eq(memcmp(n, n1 + at * N, rows * N * sizeof *n), 0);
        at += rows;
      }
      ck_assert_uint_eq(at, rows1);
      if (rows1 == 0) break;
      batches++;
    }
    ck_assert_uint_gt(batches, 2);
    for (size_t r = 0; r <= w; r++) vbpr_sampler_destroy(all[r]);
  }
  vbpr_sampler_destroy(one);
}
END_TEST

START_TEST(test_shard_params)
{
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(train_ds, &s));
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_RANK, 1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "world_size"));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_WORLD_SIZE, 4));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_RANK, 3));
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_WORLD_SIZE, 3), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_sampler_set(s, VBPR_SAMPLER_WORLD_SIZE, 0), VBPR_ERR_INVALID_ARGUMENT);
  double v = 0;
  ck_assert_ok(vbpr_sampler_get(s, VBPR_SAMPLER_WORLD_SIZE, &v));
  ck_assert_double_eq(v, 4);
  vbpr_sampler_param p;
  ck_assert_ok(vbpr_sampler_param_from_name("world-size", &p));
  ck_assert_int_eq(p, VBPR_SAMPLER_WORLD_SIZE);
  ck_assert_str_eq(vbpr_sampler_param_name(VBPR_SAMPLER_RANK), "rank");
  vbpr_sampler_destroy(s);
}
END_TEST

/* A last batch of 1 row over 2 ranks: rank 0's share is empty. */
START_TEST(test_empty_share)
{
  int32_t us[] = {0, 0, 1, 1, 2}, is[] = {0, 1, 2, 3, 4};
  vbpr_dataset *ds;
  ck_assert_ok(vbpr_dataset_create(3, 8, 5, us, is, NULL, NULL, &ds));
  vbpr_sampler *s;
  ck_assert_ok(vbpr_sampler_create(ds, &s));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_BATCH_SIZE, 4));
  ck_assert_ok(vbpr_sampler_set(s, VBPR_SAMPLER_WORLD_SIZE, 2));
  int32_t u[4], p[4], n[4];
  size_t rows = 0, global = 0;
  ck_assert_ok(vbpr_sampler_next(s, u, p, n, &rows));
  ck_assert_uint_eq(rows, 2);
  ck_assert_status(vbpr_sampler_next(s, u, p, n, &rows), VBPR_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "vbpr_sampler_next_shard"));
  ck_assert_uint_eq(vbpr_sampler_position(s), 4); /* unchanged */
  ck_assert_ok(vbpr_sampler_next_shard(s, u, p, n, &rows, &global));
  ck_assert_uint_eq(rows, 0);
  ck_assert_uint_eq(global, 1);
  ck_assert_ok(vbpr_sampler_next_shard(s, u, p, n, &rows, &global));
  ck_assert_uint_eq(global, 0); /* end of the epoch */
  ck_assert_int_eq(vbpr_sampler_epoch(s), 1);
  vbpr_sampler_destroy(s);
  vbpr_dataset_destroy(ds);
}
END_TEST

/* ---- the trainer over W ranks equals one process -------------------------- */

typedef struct train_out {
  int encoder, epochs, batch;
  int nan_rank, stop_rank, mismatch_rank; /* -1: none */
  vbpr_status status;
  char message[512];
  float *users, *items;
  size_t nu, ni, dim;
  double recall, ndcg;
  size_t position;
  int64_t epochs_done;
} train_out;

static int stop_at_batch_2(void *p, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                           size_t nb, double loss)
{
  (void)p, (void)epoch, (void)nb, (void)loss;
  return ev == VBPR_TRAINER_EVENT_BATCH && batch == 2;
}

static void train_rank(job *j)
{
  train_out *o = j->arg;
  vbpr_trainer *tr;
  ck_assert_ok(vbpr_trainer_create(train_ds, test_ds, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_ENCODER, o->encoder));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 16));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EPOCHS, o->epochs));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EVAL_EVERY, 2));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_SEED, 5));
  if (j->ctx.g->w > 1) {
    vbpr_collective c = collective_of(&j->ctx);
    ck_assert_ok(vbpr_trainer_set_collective(tr, &c));
  }
  ck_assert_ok(vbpr_trainer_prepare(tr));
  double b = o->batch;
  if ((int)j->ctx.rank == o->mismatch_rank) b /= 2;
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, b));
  if ((int)j->ctx.rank == o->nan_rank) {
    float *p;
    ck_assert_ok(vbpr_encoder_table(vbpr_trainer_encoder(tr), VBPR_TABLE_ITEMS, &p, NULL,
                                    NULL, NULL));
    for (int i = 0; i < 400 * 16; i++) p[i] = NAN;
  }
  if ((int)j->ctx.rank == o->stop_rank) vbpr_trainer_set_progress(tr, stop_at_batch_2, NULL);
  o->status = vbpr_trainer_fit(tr);
  snprintf(o->message, sizeof o->message, "%s", vbpr_last_error());
  o->position = vbpr_sampler_position(vbpr_trainer_sampler(tr));
  o->epochs_done = vbpr_trainer_epochs_done(tr);
  if (o->status == VBPR_OK) {
    ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_RECALL, 20, &o->recall));
    ck_assert_ok(vbpr_trainer_metric(tr, VBPR_METRIC_NDCG, 20, &o->ndcg));
  }
  const float *eu, *ei;
  vbpr_encoder *enc = vbpr_trainer_encoder(tr);
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, (float **)&eu, NULL, &o->nu, &o->dim));
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, (float **)&ei, NULL, &o->ni, NULL));
  o->users = malloc(o->nu * o->dim * sizeof(float));
  o->items = malloc(o->ni * o->dim * sizeof(float));
  memcpy(o->users, eu, o->nu * o->dim * sizeof(float));
  memcpy(o->items, ei, o->ni * o->dim * sizeof(float));
  vbpr_trainer_destroy(tr);
}

static void run_training(size_t w, train_out *base, train_out *out)
{
  for (size_t r = 0; r < w; r++) out[r] = *base;
  run_ranks(w, train_rank, out, sizeof *out);
}

static double max_rel_diff(const float *a, const float *b, size_t n)
{
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) / (1e-3 + fabs((double)b[i]));
    if (!(d <= worst)) worst = d; /* NaN counts as the worst */
  }
  return worst;
}

static void free_outs(train_out *o, size_t w)
{
  for (size_t r = 0; r < w; r++) {
    free(o[r].users);
    free(o[r].items);
  }
}

static void check_equal_to_one(int encoder)
{
  train_out base = {encoder, 3, 256, -1, -1, -1, 0, "", NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
  train_out one[1], two[3];
  run_training(1, &base, one);
  ck_assert_msg(one[0].status == VBPR_OK, "%s", one[0].message);
  size_t ws[] = {2, 3};
  for (size_t k = 0; k < 2; k++) {
    size_t w = ws[k];
    run_training(w, &base, two);
    for (size_t r = 0; r < w; r++) {
      ck_assert_msg(two[r].status == VBPR_OK, "rank %zu: %s", r, two[r].message);
      double du = max_rel_diff(two[r].users, one[0].users, one[0].nu * one[0].dim);
      double di = max_rel_diff(two[r].items, one[0].items, one[0].ni * one[0].dim);
      ck_assert_msg(du < 1e-3 && di < 1e-3, "W %zu rank %zu: relative difference users %g "
                    "items %g", w, r, du, di);
      /* ranks hold identical parameters */
      ck_assert_int_eq(memcmp(two[r].items, two[0].items, one[0].ni * one[0].dim * 4), 0);
      ck_assert_double_eq_tol(two[r].recall, one[0].recall, 1e-9);
      ck_assert_double_eq_tol(two[r].ndcg, one[0].ndcg, 1e-9);
    }
    free_outs(two, w);
  }
  free_outs(one, 1);
}

START_TEST(test_mf_equals_one_process) { check_equal_to_one(VBPR_ENCODER_MF); }
END_TEST

START_TEST(test_lightgcn_equals_one_process)
{
  if (!vbpr_has_module(VBPR_MODULE_LIGHTGCN)) return;
  check_equal_to_one(VBPR_ENCODER_LIGHTGCN);
}
END_TEST

/* ---- failures and stops reach every rank ---------------------------------- */

START_TEST(test_nan_on_one_rank_fails_everywhere)
{
  train_out base = {VBPR_ENCODER_MF, 2, 256, 1, -1, -1, 0, "", NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
  train_out o[2];
  run_training(2, &base, o);
  for (int r = 0; r < 2; r++) {
    ck_assert_msg(o[r].status == VBPR_ERR_NUMERIC, "rank %d: %d %s", r, o[r].status,
                  o[r].message);
    ck_assert_msg(strstr(o[r].message, "rank 1: ") != NULL, "%s", o[r].message);
  }
  free_outs(o, 2);
}
END_TEST

START_TEST(test_mismatch_fails_everywhere)
{
  train_out base = {VBPR_ENCODER_MF, 2, 256, -1, -1, 1, 0, "", NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
  train_out o[2];
  run_training(2, &base, o);
  for (int r = 0; r < 2; r++) {
    ck_assert_int_eq(o[r].status, VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(o[r].message, "not in step: the batch size differs between rank 0 "
                         "(256) and rank 1 (128)") != NULL, "%s", o[r].message);
  }
  free_outs(o, 2);
}
END_TEST

START_TEST(test_stop_on_one_rank_stops_all)
{
  train_out base = {VBPR_ENCODER_MF, 2, 256, -1, 1, -1, 0, "", NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
  train_out o[2];
  run_training(2, &base, o);
  for (int r = 0; r < 2; r++) {
    ck_assert_int_eq(o[r].status, VBPR_ERR_INTERRUPTED);
    ck_assert_uint_eq(o[r].position, 512);
    ck_assert_int_eq(o[r].epochs_done, 0);
  }
  ck_assert_int_eq(memcmp(o[0].items, o[1].items, o[0].ni * o[0].dim * 4), 0);
  free_outs(o, 2);
}
END_TEST

/* A host's own loop: a rank reports its failure, every rank returns it. */
static void host_step(job *j)
{
  vbpr_status *out = j->arg;
  vbpr_collective c = collective_of(&j->ctx);
  vbpr_encoder *enc;
  ck_assert_ok(vbpr_encoder_create_mf(10, 20, 4, 1, &enc));
  vbpr_status local = VBPR_OK;
  if (j->ctx.rank == 1)
    local = vbpr_encoder_forward(enc, 1, 0, 0, (int32_t[]){42}, NULL, NULL,
                                 (float[4]){0}, NULL, NULL);
  float sums[2] = {1, (float)j->ctx.rank};
  out[0] = vbpr_collective_reduce_encoder(&c, enc, local, 2, sums);
  snprintf((char *)&out[1], 200, "%s", vbpr_last_error());
  vbpr_encoder_destroy(enc);
}

START_TEST(test_host_failure_reaches_every_rank)
{
  struct { vbpr_status st; char msg[252]; } o[2];
  run_ranks(2, host_step, o, sizeof o[0]);
  for (int r = 0; r < 2; r++) {
    ck_assert_int_eq(o[r].st, VBPR_ERR_OUT_OF_RANGE);
    ck_assert_msg(strstr(o[r].msg, "rank 1: vbpr_encoder_forward: users[0] = 42") != NULL,
                  "%s", o[r].msg);
  }
}
END_TEST

/* The exchange itself: the sum of the ranks' gradients, sparse (MF). */
static void host_sum(job *j)
{
  float *out = j->arg; /* [10 users + 20 items] x 2 dims, then the two sums */
  vbpr_collective c = collective_of(&j->ctx);
  vbpr_encoder *enc;
  ck_assert_ok(vbpr_encoder_create_mf(10, 20, 2, 1, &enc));
  int32_t u = (int32_t)j->ctx.rank * 3, pos = (int32_t)j->ctx.rank + 1, neg = 7;
  float e[6];
  ck_assert_ok(vbpr_encoder_forward(enc, 1, 1, 1, &u, &pos, &neg, e, e + 2, e + 4));
  float g[6] = {1, 2, 3, 4, 5, 6};
  ck_assert_ok(vbpr_encoder_backward(enc, g, g + 2, g + 4));
  float sums[2] = {1, (float)j->ctx.rank};
  ck_assert_ok(vbpr_collective_reduce_encoder(&c, enc, VBPR_OK, 2, sums));
  const float *gu, *gi;
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, NULL, &gu, NULL, NULL));
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, NULL, &gi, NULL, NULL));
  memcpy(out, gu, 20 * sizeof(float));
  memcpy(out + 20, gi, 40 * sizeof(float));
  out[60] = sums[0];
  out[61] = sums[1];
  const int32_t *rows;
  size_t count;
  ck_assert_ok(vbpr_encoder_touched_rows(enc, VBPR_TABLE_ITEMS, &rows, &count));
  out[62] = (float)count;
  vbpr_encoder_destroy(enc);
}

START_TEST(test_sparse_sum)
{
  float o[2][63];
  run_ranks(2, host_sum, o, sizeof o[0]);
  ck_assert_int_eq(memcmp(o[0], o[1], sizeof o[0]), 0);
  const float *g = o[0];
  ck_assert_float_eq(g[0], 1); /* user 0 (rank 0) */
  ck_assert_float_eq(g[6], 1); /* user 3 (rank 1) */
  ck_assert_float_eq(g[20 + 1 * 2], 3); /* item 1: rank 0's positive */
  ck_assert_float_eq(g[20 + 2 * 2 + 1], 4); /* item 2: rank 1's positive */
  ck_assert_float_eq(g[20 + 7 * 2], 10); /* item 7: both ranks' negative */
  ck_assert_float_eq(g[60], 2);
  ck_assert_float_eq(g[61], 1);
  ck_assert_float_eq(g[62], 3); /* touched items: the union {1, 2, 7} */
}
END_TEST

/* A callback failure: the host is asked to end the job. */
START_TEST(test_callback_failure_aborts)
{
  group g;
  memset(&g, 0, sizeof g);
  g.w = 1;
  g.fail_gather = 1;
  pthread_barrier_init(&g.bar, NULL, 1);
  rank_ctx rc = {&g, 0};
  vbpr_collective c = collective_of(&rc);
  vbpr_encoder *enc;
  ck_assert_ok(vbpr_encoder_create_mf(10, 20, 2, 1, &enc));
  ck_assert_status(vbpr_collective_reduce_encoder(&c, enc, VBPR_OK, 0, NULL), VBPR_ERR_IO);
  ck_assert_int_eq(g.aborted, VBPR_ERR_IO);
  ck_assert_ptr_nonnull(strstr(g.abort_msg, "all_gather_ids of 3 ids failed (returned 7)"));
  vbpr_encoder_destroy(enc);
  pthread_barrier_destroy(&g.bar);
}
END_TEST

START_TEST(test_bad_tables)
{
  vbpr_collective c;
  ck_assert_status(vbpr_collective_init(&c, VBPR_COLLECTIVE_VERSION + 1), VBPR_ERR_UNSUPPORTED);
  ck_assert_ok(vbpr_collective_init(&c, VBPR_COLLECTIVE_VERSION));
  vbpr_trainer *tr;
  ck_assert_ok(vbpr_trainer_create(train_ds, NULL, &tr));
  ck_assert_status(vbpr_trainer_set_collective(tr, &c), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "all_reduce_sum"));
  group g = {.w = 2};
  rank_ctx rc = {&g, 2};
  c = collective_of(&(rank_ctx){&g, 0});
  c.ctx = &rc;
  c.rank = 2;
  ck_assert_status(vbpr_trainer_set_collective(tr, &c), VBPR_ERR_INVALID_ARGUMENT);
  c.rank = 0;
  c.version = 0;
  ck_assert_status(vbpr_trainer_set_collective(tr, &c), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ok(vbpr_trainer_prepare(tr));
  c.version = VBPR_COLLECTIVE_VERSION;
  ck_assert_status(vbpr_trainer_set_collective(tr, &c), VBPR_ERR_STATE);
  vbpr_trainer_destroy(tr);
}
END_TEST

/* ---- evaluation split by users -------------------------------------------- */

typedef struct eval_out {
  const float *u, *i;
  double v[6];
  vbpr_status st;
} eval_out;

static void eval_rank(job *j)
{
  eval_out *o = j->arg;
  vbpr_collective c = collective_of(&j->ctx);
  vbpr_evaluator *ev;
  ck_assert_ok(vbpr_evaluator_create(train_ds, test_ds, &ev));
  ck_assert_ok(vbpr_evaluator_set_ks(ev, 2, (size_t[]){5, 20}));
  o->st = vbpr_collective_evaluate(&c, ev, 300, 400, 8, o->u, o->i);
  for (int m = 0; m < 6 && o->st == VBPR_OK; m++)
    ck_assert_ok(vbpr_evaluator_metric(ev, (vbpr_metric)(m + 1), 5, &o->v[m]));
  vbpr_evaluator_destroy(ev);
}

START_TEST(test_evaluation_is_exact)
{
  vbpr_encoder *enc;
  ck_assert_ok(vbpr_encoder_create_mf(300, 400, 8, 9, &enc));
  const float *u, *i;
  ck_assert_ok(vbpr_encoder_embeddings(enc, &u, &i));
  vbpr_evaluator *ev;
  ck_assert_ok(vbpr_evaluator_create(train_ds, test_ds, &ev));
  ck_assert_ok(vbpr_evaluator_set_ks(ev, 2, (size_t[]){5, 20}));
  ck_assert_ok(vbpr_evaluator_run(ev, 300, 400, 8, u, i));
  double want[6];
  for (int m = 0; m < 6; m++)
    ck_assert_ok(vbpr_evaluator_metric(ev, (vbpr_metric)(m + 1), 5, &want[m]));
  for (size_t w = 2; w <= 3; w++) {
    eval_out o[3];
    for (size_t r = 0; r < w; r++) o[r] = (eval_out){u, i, {0}, VBPR_OK};
    run_ranks(w, eval_rank, o, sizeof o[0]);
    for (size_t r = 0; r < w; r++) {
      ck_assert_int_eq(o[r].st, VBPR_OK);
      for (int m = 0; m < 6; m++) ck_assert_double_eq(o[r].v[m], want[m]);
    }
  }
  vbpr_evaluator_destroy(ev);
  vbpr_encoder_destroy(enc);
}
END_TEST

/* Without the MF module a data-parallel trainer fails on every rank. */
static void unsupported_rank(job *j)
{
  vbpr_status *out = j->arg;
  vbpr_trainer *tr;
  ck_assert_ok(vbpr_trainer_create(train_ds, test_ds, &tr));
  vbpr_collective c = collective_of(&j->ctx);
  ck_assert_ok(vbpr_trainer_set_collective(tr, &c));
  *out = vbpr_trainer_fit(tr);
  vbpr_trainer_destroy(tr);
}

START_TEST(test_missing_module_fails_everywhere)
{
  vbpr_status o[2];
  run_ranks(2, unsupported_rank, o, sizeof o[0]);
  ck_assert_int_eq(o[0], VBPR_ERR_UNSUPPORTED);
  ck_assert_int_eq(o[1], VBPR_ERR_UNSUPPORTED);
}
END_TEST

/* What works in one process only is refused on every rank instead of
 * training apart: the fused path (rows updated in place, nothing to sum),
 * noise diagnosis and checkpoints (each rank sees its shard only). */
typedef struct { int what; vbpr_status st; char msg[240]; } refusal;

static void single_process_rank(job *j)
{
  refusal *out = j->arg;
  vbpr_trainer *tr;
  ck_assert_ok(vbpr_trainer_create(train_ds, test_ds, &tr));
  vbpr_collective c = collective_of(&j->ctx);
  ck_assert_ok(vbpr_trainer_set_collective(tr, &c));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EPOCHS, 1));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_OPTIMIZER, VBPR_OPTIM_ADAGRAD));
  /* on rank 0 only: the others learn of it from the agreement, no hang */
  bool first = j->ctx.rank == 0;
  if (first && out->what == 0) ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_FUSED, 1));
  if (first && out->what == 1) ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_TRACK, 1));
  if (first && out->what == 2) {
    char path[64];
    snprintf(path, sizeof path, "dist-ckpt-%zu.bin", (size_t)j->ctx.rank);
    ck_assert_ok(vbpr_trainer_set_checkpoint(tr, path));
  }
  out->st = vbpr_trainer_fit(tr);
  snprintf(out->msg, sizeof out->msg, "%s", vbpr_last_error());
  ck_assert_int_eq(vbpr_trainer_epochs_done(tr), 0); /* refused before training */
  vbpr_trainer_destroy(tr);
}

START_TEST(test_single_process_features_refused)
{
  if (!vbpr_has_module(VBPR_MODULE_MF)) return;
  static const char *const want[3] = {"fused path runs in one process",
                                      "noise diagnosis runs in one process",
                                      "checkpoints of data-parallel training"};
  for (int what = 0; what < 3; what++) {
    refusal o[2] = {{what, VBPR_OK, ""}, {what, VBPR_OK, ""}};
    run_ranks(2, single_process_rank, o, sizeof o[0]);
    for (int r = 0; r < 2; r++) {
      ck_assert_msg(o[r].st == VBPR_ERR_UNSUPPORTED, "%d rank %d: %d %s", what, r, o[r].st,
                    o[r].msg);
      ck_assert_msg(strstr(o[r].msg, want[what]) != NULL, "%s", o[r].msg);
    }
  }
}
END_TEST

static Suite *dist_suite(void)
{
  Suite *s = suite_create("dist");
  TCase *tc = tcase_create("dist");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_shards_union_is_the_batch);
  tcase_add_test(tc, test_shard_params);
  tcase_add_test(tc, test_empty_share);
  suite_add_tcase(s, tc);
  if (!vbpr_has_module(VBPR_MODULE_MF)) { /* the rest trains MF */
    tcase_add_test(tc, test_missing_module_fails_everywhere);
    return s;
  }
  tcase_add_test(tc, test_mf_equals_one_process);
  tcase_add_test(tc, test_lightgcn_equals_one_process);
  tcase_add_test(tc, test_nan_on_one_rank_fails_everywhere);
  tcase_add_test(tc, test_mismatch_fails_everywhere);
  tcase_add_test(tc, test_stop_on_one_rank_stops_all);
  tcase_add_test(tc, test_host_failure_reaches_every_rank);
  tcase_add_test(tc, test_sparse_sum);
  tcase_add_test(tc, test_callback_failure_aborts);
  tcase_add_test(tc, test_bad_tables);
  tcase_add_test(tc, test_evaluation_is_exact);
  tcase_add_test(tc, test_single_process_features_refused);
  return s;
}

int main(void) { return test_run_suite(dist_suite()); }
