/* Checkpoint and resume: a run stopped (between epochs, mid-epoch, or
 * killed with SIGKILL mid-epoch) and resumed from its checkpoint ends with
 * the bits of an uninterrupted run (parameters, history, noise statistics),
 * also with another thread count; damaged, foreign and newer files are
 * refused with the trainer unchanged. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "vbpr/vbpr.h"

static char dir[256];

static const char *tmp_path(char *buf, size_t size, const char *name)
{
  return test_path(buf, size, dir, name);
}

static void make_dir(void)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/vbpr-ckpt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void make_data(vbpr_dataset **train, vbpr_dataset **test, uint64_t seed)
{
  vbpr_synthetic *syn;
  ck_assert_ok(vbpr_synthetic_create(&syn));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_NUM_USERS, 120));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_NUM_ITEMS, 200));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_MEAN_PREFERENCES, 20));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_FALSE_POSITIVES, 0.1));
  ck_assert_ok(vbpr_synthetic_set(syn, VBPR_SYNTHETIC_SEED, (double)seed));
  ck_assert_ok(vbpr_synthetic_generate(syn, train, test));
  vbpr_synthetic_destroy(syn);
}

/* One configuration of every part: encoder kind, loss, optimizer. */
typedef struct config {
  int encoder, loss, optim, fused;
} config;

static const config configs[] = {
  {VBPR_ENCODER_MF, VBPR_LOSS_VARIATIONAL, VBPR_OPTIM_ADAM, 0},
  {VBPR_ENCODER_MF, VBPR_LOSS_BPR, VBPR_OPTIM_LAZY_ADAM, 0},
  {VBPR_ENCODER_LIGHTGCN, VBPR_LOSS_VARIATIONAL, VBPR_OPTIM_SGD, 0},
  {VBPR_ENCODER_XSIMGCL, VBPR_LOSS_VARIATIONAL, VBPR_OPTIM_ADAM, 0},
  /* the row-wise optimizers' state (accumulators, per-row step powers) */
  {VBPR_ENCODER_MF, VBPR_LOSS_VARIATIONAL, VBPR_OPTIM_ADAGRAD, 1},
  {VBPR_ENCODER_MF, VBPR_LOSS_INFONCE, VBPR_OPTIM_SPARSE_ADAM, 1},
  {VBPR_ENCODER_MF, VBPR_LOSS_BPR, VBPR_OPTIM_SPARSE_ADAM, 0},
};

static bool built(const config *c)
{
  int module = c->encoder == VBPR_ENCODER_MF         ? VBPR_MODULE_MF
               : c->encoder == VBPR_ENCODER_LIGHTGCN ? VBPR_MODULE_LIGHTGCN
                                                     : VBPR_MODULE_XSIMGCL;
  return vbpr_has_module(module);
}

/* A trainer of config c, 4 epochs, evaluated every epoch, noise tracked;
 * the parts' parameters differ from their defaults, so that a checkpoint
 * that forgot one shows. */
static vbpr_trainer *make_trainer(const config *c, const vbpr_dataset *train,
                                  const vbpr_dataset *test)
{
  vbpr_trainer *tr;
  ck_assert_ok(vbpr_trainer_create(train, test, &tr));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_ENCODER, c->encoder));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_LOSS, c->loss));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_OPTIMIZER, c->optim));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_DIM, 8));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_LAYERS, 2));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_SEED, 5));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EPOCHS, 4));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_EVAL_EVERY, 1));
  /* the fused path keeps no attention to track */
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_NOISE_TRACK, !c->fused));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_FUSED, c->fused));
  ck_assert_ok(vbpr_trainer_set(tr, VBPR_TRAINER_PRIOR_POPULARITY, 0.5));
  size_t ks[2] = {5, 10};
  ck_assert_ok(vbpr_trainer_set_ks(tr, 2, ks));
  ck_assert_ok(vbpr_trainer_prepare(tr));
  ck_assert_ok(vbpr_sampler_set(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, 100));
  ck_assert_ok(vbpr_optim_set(vbpr_trainer_optim(tr), VBPR_OPTIM_LR,
                              c->optim == VBPR_OPTIM_SGD ? 0.05 : 4e-3));
  if (c->loss == VBPR_LOSS_VARIATIONAL) {
    ck_assert_ok(vbpr_loss_set(vbpr_trainer_loss(tr), VBPR_LOSS_NUM_NEG, 3));
    ck_assert_ok(vbpr_loss_set(vbpr_trainer_loss(tr), VBPR_LOSS_C_POS, 2));
  }
  if (c->encoder == VBPR_ENCODER_XSIMGCL)
    ck_assert_ok(vbpr_encoder_set(vbpr_trainer_encoder(tr), VBPR_ENCODER_CL_TAU, 0.4));
  return tr;
}

/* Same parameters bit for bit, same history, same noise statistics. */
static void assert_same(vbpr_trainer *a, vbpr_trainer *b, const char *what)
{
  float *pa, *pb;
  size_t nu, dim, ni;
  ck_assert_ok(vbpr_encoder_table(vbpr_trainer_encoder(a), VBPR_TABLE_USERS, &pa, NULL, &nu,
                                  &dim));
  ck_assert_ok(vbpr_encoder_table(vbpr_trainer_encoder(b), VBPR_TABLE_USERS, &pb, NULL, NULL,
                                  NULL));
  ni = vbpr_encoder_num_items(vbpr_trainer_encoder(a));
  ck_assert_msg(memcmp(pa, pb, (nu + ni) * dim * sizeof(float)) == 0, "%s: parameters differ",
                what);
  ck_assert_int_eq(vbpr_trainer_epochs_done(a), vbpr_trainer_epochs_done(b));
  size_t n = vbpr_trainer_evaluation_count(a);
  ck_assert_uint_eq(n, vbpr_trainer_evaluation_count(b));
  for (size_t i = 0; i < n; i++) {
    int64_t ea, eb;
    double va, vb;
    ck_assert_ok(vbpr_trainer_evaluation(a, i, VBPR_METRIC_NDCG, 10, &ea, &va));
    ck_assert_ok(vbpr_trainer_evaluation(b, i, VBPR_METRIC_NDCG, 10, &eb, &vb));
    ck_assert_msg(ea == eb && va == vb, "%s: evaluation %zu differs", what, i);
  }
  size_t nnz = 4096;
  static float wa[4096], wb[4096];
  static uint32_t ca[4096], cb[4096];
  vbpr_status st = vbpr_trainer_noise_stats(a, nnz, wa, NULL, ca);
  ck_assert_int_eq(vbpr_trainer_noise_stats(b, nnz, wb, NULL, cb), st);
  if (st == VBPR_ERR_STATE) return; /* not tracked (the fused path) */
  ck_assert_ok(st);
  ck_assert_msg(memcmp(wa, wb, sizeof wa) == 0 && memcmp(ca, cb, sizeof ca) == 0,
                "%s: noise statistics differ", what);
}

/* ---- stopping where the progress callback says ------------------------ */

typedef struct stop_at {
  int64_t epoch;
  size_t batch; /* 0: after the epoch */
  int pipe_fd;  /* >= 0: say so on this pipe and wait to be killed */
} stop_at;

static int on_event(void *data, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                    size_t nbatches, double loss)
{
  (void)nbatches, (void)loss;
  const stop_at *s = data;
  bool here = epoch == s->epoch && ((s->batch == 0 && ev == VBPR_TRAINER_EVENT_EPOCH) ||
                                    (ev == VBPR_TRAINER_EVENT_BATCH && batch == s->batch));
  if (!here) return 0;
  if (s->pipe_fd >= 0) {
    ck_assert_int_eq(write(s->pipe_fd, "k", 1), 1);
    for (;;) pause(); /* killed here, in the middle of epoch 3 */
  }
  return 1;
}

/* The mean loss of every epoch, as the callback hears it. */
typedef struct loss_log {
  double loss[8];
} loss_log;

static int log_loss(void *data, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                    size_t nbatches, double loss)
{
  (void)batch, (void)nbatches;
  if (ev == VBPR_TRAINER_EVENT_EPOCH && epoch < 8) ((loss_log *)data)->loss[epoch] = loss;
  return 0;
}

static loss_log ref_losses;

/* The uninterrupted run of config c. */
static vbpr_trainer *reference_run(const config *c, vbpr_dataset *train, vbpr_dataset *test)
{
  vbpr_trainer *ref = make_trainer(c, train, test);
  memset(&ref_losses, 0, sizeof ref_losses);
  ck_assert_ok(vbpr_trainer_set_progress(ref, log_loss, &ref_losses));
  ck_assert_ok(vbpr_trainer_fit(ref));
  return ref;
}

/* Stops a run at `s`, resumes a fresh trainer from the checkpoint fit wrote
 * and finishes it (with one thread: the bits must not depend on it). */
static vbpr_trainer *stopped_and_resumed(const config *c, vbpr_dataset *train,
                                         vbpr_dataset *test, stop_at s, const char *path)
{
  vbpr_trainer *tr = make_trainer(c, train, test);
  ck_assert_ok(vbpr_trainer_set_checkpoint(tr, path));
  ck_assert_ok(vbpr_trainer_set_progress(tr, on_event, &s));
  ck_assert_status(vbpr_trainer_fit(tr), VBPR_ERR_INTERRUPTED);
  vbpr_trainer_destroy(tr);

  vbpr_trainer *re;
  ck_assert_ok(vbpr_trainer_create(train, test, &re));
  ck_assert_ok(vbpr_trainer_load_checkpoint(re, path));
  ck_assert_int_eq(vbpr_trainer_epochs_done(re), s.batch ? s.epoch - 1 : s.epoch);
  int threads = vbpr_get_num_threads();
  ck_assert_ok(vbpr_set_num_threads(1));
  loss_log log = {{0}};
  ck_assert_ok(vbpr_trainer_set_progress(re, log_loss, &log));
  ck_assert_ok(vbpr_trainer_fit(re));
  ck_assert_ok(vbpr_set_num_threads(threads));
  /* the epoch losses from the one it resumed in, that one included */
  for (int64_t e = s.batch ? s.epoch : s.epoch + 1; e <= 4; e++)
    ck_assert_msg(log.loss[e] == ref_losses.loss[e], "epoch %d loss %.9g, uninterrupted %.9g",
                  (int)e, log.loss[e], ref_losses.loss[e]);
  return re;
}

START_TEST(resume_equals_uninterrupted)
{
  make_dir();
  vbpr_dataset *train, *test;
  make_data(&train, &test, 1);
  char path[300];
  tmp_path(path, sizeof path, "run.ckpt");
  for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
    const config *c = &configs[i];
    if (!built(c)) continue;
    /* the fused path is bit-reproducible on one thread (Hogwild) */
    ck_assert_ok(vbpr_set_num_threads(c->fused ? 1 : 0));
    vbpr_trainer *ref = reference_run(c, train, test);
    stop_at after_epoch = {2, 0, -1}, mid_epoch = {3, 4, -1};
    vbpr_trainer *a = stopped_and_resumed(c, train, test, after_epoch, path);
    assert_same(ref, a, "stopped after epoch 2");
    vbpr_trainer *b = stopped_and_resumed(c, train, test, mid_epoch, path);
    assert_same(ref, b, "stopped in epoch 3");
    vbpr_trainer_destroy(a);
    vbpr_trainer_destroy(b);
    vbpr_trainer_destroy(ref);
  }
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  remove_dir();
}
END_TEST

/* A process killed with SIGKILL in the middle of epoch 3, after the
 * checkpoint of epoch 2: resumed in another process, it ends as the
 * uninterrupted run. */
START_TEST(killed_run_resumes_to_the_same_result)
{
  make_dir();
  vbpr_dataset *train, *test;
  make_data(&train, &test, 2);
  char path[300];
  tmp_path(path, sizeof path, "killed.ckpt");
  const config *c = &configs[0];
  if (!built(c)) return;
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    vbpr_trainer *tr = make_trainer(c, train, test);
    stop_at s = {3, 2, fds[1]};
    vbpr_trainer_set_checkpoint(tr, path);
    vbpr_trainer_set_progress(tr, on_event, &s);
    vbpr_trainer_fit(tr);
    _exit(3); /* not reached: killed in the callback */
  }
  close(fds[1]);
  char k;
  ck_assert_int_eq(read(fds[0], &k, 1), 1);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  close(fds[0]);

  vbpr_trainer *re;
  ck_assert_ok(vbpr_trainer_create(train, test, &re));
  ck_assert_ok(vbpr_trainer_load_checkpoint(re, path));
  ck_assert_int_eq(vbpr_trainer_epochs_done(re), 2);
  ck_assert_ok(vbpr_trainer_fit(re));
  vbpr_trainer *ref = reference_run(c, train, test);
  assert_same(ref, re, "killed in epoch 3");
  vbpr_trainer_destroy(ref);
  vbpr_trainer_destroy(re);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  remove_dir();
}
END_TEST

/* ---- refusals ------------------------------------------------------------ */

static void write_bytes(const char *path, const unsigned char *data, size_t n)
{
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *b = malloc(*n);
  ck_assert_uint_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static uint64_t fnv(const unsigned char *p, size_t n)
{
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UINT64_C(0x100000001b3);
  return h;
}

/* The trainer after a refused load: as before. */
static void assert_refused(vbpr_trainer *tr, const char *path, vbpr_status want,
                           const char *msg)
{
  double dim;
  ck_assert_ok(vbpr_trainer_get(tr, VBPR_TRAINER_DIM, &dim));
  int64_t done = vbpr_trainer_epochs_done(tr);
  ck_assert_status(vbpr_trainer_load_checkpoint(tr, path), want);
  ck_assert_msg(strstr(vbpr_last_error(), msg) != NULL, "'%s' lacks '%s'", vbpr_last_error(),
                msg);
  double after;
  ck_assert_ok(vbpr_trainer_get(tr, VBPR_TRAINER_DIM, &after));
  ck_assert(after == dim && vbpr_trainer_epochs_done(tr) == done);
}

START_TEST(bad_files_are_refused)
{
  make_dir();
  vbpr_dataset *train, *test, *other, *other_test;
  make_data(&train, &test, 1);
  make_data(&other, &other_test, 9);
  char path[300], bad[300];
  tmp_path(path, sizeof path, "good.ckpt");
  tmp_path(bad, sizeof bad, "bad.ckpt");
  vbpr_trainer *tr = make_trainer(&configs[0], train, test);
  ck_assert_ok(vbpr_trainer_epoch(tr, NULL));
  ck_assert_ok(vbpr_trainer_save_checkpoint(tr, path));
  vbpr_trainer *fresh;
  ck_assert_ok(vbpr_trainer_create(train, test, &fresh));
  ck_assert_ok(vbpr_trainer_set(fresh, VBPR_TRAINER_DIM, 12));

  /* other data */
  vbpr_trainer *foreign;
  ck_assert_ok(vbpr_trainer_create(other, other_test, &foreign));
  assert_refused(foreign, path, VBPR_ERR_INVALID_ARGUMENT, "written for other training data");
  vbpr_trainer_destroy(foreign);
  ck_assert_ok(vbpr_trainer_create(train, NULL, &foreign));
  assert_refused(foreign, path, VBPR_ERR_INVALID_ARGUMENT, "for a trainer with a test set");
  vbpr_trainer_destroy(foreign);

  size_t n;
  unsigned char *good = read_bytes(path, &n), *b = malloc(n);
  /* a flipped byte in the middle */
  memcpy(b, good, n);
  b[n / 2] ^= 0x40;
  write_bytes(bad, b, n);
  assert_refused(fresh, bad, VBPR_ERR_PARSE, "checksum mismatch");
  /* truncated */
  write_bytes(bad, good, n - 100);
  assert_refused(fresh, bad, VBPR_ERR_PARSE, "checksum mismatch");
  write_bytes(bad, good, 20);
  assert_refused(fresh, bad, VBPR_ERR_PARSE, "too short");
  /* a newer format version (header checksum made right) */
  memcpy(b, good, n);
  b[8] = 2;
  uint64_t h = fnv(b, 24);
  for (int i = 0; i < 8; i++) b[24 + i] = (unsigned char)(h >> (8 * i));
  h = fnv(b, n - 8);
  for (int i = 0; i < 8; i++) b[n - 8 + i] = (unsigned char)(h >> (8 * i));
  write_bytes(bad, b, n);
  assert_refused(fresh, bad, VBPR_ERR_UNSUPPORTED, "format version 2, this library reads "
                                                   "version 1");
  /* a model file is not a checkpoint */
  ck_assert_ok(vbpr_encoder_save(vbpr_trainer_encoder(tr), bad));
  assert_refused(fresh, bad, VBPR_ERR_PARSE, "not a libvbpr checkpoint");
  tmp_path(bad, sizeof bad, "absent.ckpt");
  assert_refused(fresh, bad, VBPR_ERR_IO, "absent.ckpt");
  ck_assert_status(vbpr_trainer_load_checkpoint(fresh, NULL), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_trainer_save_checkpoint(tr, ""), VBPR_ERR_INVALID_ARGUMENT);
  tmp_path(bad, sizeof bad, "no/such/dir.ckpt");
  ck_assert_status(vbpr_trainer_save_checkpoint(tr, bad), VBPR_ERR_IO);

  /* the good file still loads, replacing the structural parameters */
  ck_assert_ok(vbpr_trainer_load_checkpoint(fresh, path));
  double dim;
  ck_assert_ok(vbpr_trainer_get(fresh, VBPR_TRAINER_DIM, &dim));
  ck_assert(dim == 8 && vbpr_trainer_epochs_done(fresh) == 1);
  free(good);
  free(b);
  vbpr_trainer_destroy(fresh);
  vbpr_trainer_destroy(tr);
  vbpr_dataset_destroy(train);
  vbpr_dataset_destroy(test);
  vbpr_dataset_destroy(other);
  vbpr_dataset_destroy(other_test);
  remove_dir();
}
END_TEST

int main(void)
{
  if (!vbpr_has_module(VBPR_MODULE_MF)) { /* the trainers here train MF */
    fprintf(stderr, "SKIP: the mf module is not built\n");
    return 77; /* Meson's skip code */
  }
  Suite *s = suite_create("checkpoint");
  TCase *tc = tcase_create("checkpoint");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, resume_equals_uninterrupted);
  tcase_add_test(tc, killed_run_resumes_to_the_same_result);
  tcase_add_test(tc, bad_files_are_refused);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
