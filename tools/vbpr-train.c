/* vbpr-train: trains a recommender with (Variational) BPR and evaluates it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "data.h"

static volatile sig_atomic_t stop_requested = 0;

static void on_sigint(int sig)
{
  (void)sig;
  stop_requested = 1;
  signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the program at once */
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct progress {
  bool tty, quiet;
  int epochs;
  double start;
  int64_t batch_rows;
} progress;

static int on_batch(void *p, int32_t epoch, int64_t batch, int64_t nbatches, double loss)
{
  progress *pr = p;
  if (pr->tty && !pr->quiet && (batch % 8 == 0 || batch == nbatches)) {
    double el = now() - pr->start;
    double rate = el > 0 ? (double)(batch * pr->batch_rows) / el : 0;
    double eta = batch > 0 ? el * (double)(nbatches - batch) / (double)batch : 0;
    int width = 24, done = nbatches > 0 ? (int)(width * batch / nbatches) : width;
    fprintf(stderr, "\repoch %d/%d [%.*s%*s] %lld/%lld loss %.4f %.0fk tuples/s ETA %.1fs ",
            epoch + 1, pr->epochs, done, "########################", width - done, "",
            (long long)batch, (long long)nbatches, loss, rate / 1000, eta);
  }
  return stop_requested != 0;
}

static void record(cli_run *run, const cli_config *cfg, vbpr_trainer *tr, int epoch)
{
  cli_eval e = {.epoch = epoch};
  for (int m = 0; m < CLI_NMETRICS; m++)
    for (size_t k = 0; k < cfg->nks; k++)
      if (vbpr_trainer_metric(tr, cli_metrics[m], cfg->ks[k], &e.value[m][k]) != VBPR_OK)
        e.value[m][k] = NAN;
  for (int m = 0; m < CLI_NMETRICS; m++)
    for (size_t k = 0; k < cfg->nks; k++)
      if (!run->has_eval || e.value[m][k] > run->best.value[m][k]) {
        run->best.value[m][k] = e.value[m][k];
        run->best_epoch[m][k] = epoch;
      }
  run->last = e;
  run->has_eval = true;
  run->evals++;
  cli_eval *h = realloc(run->history, (run->nhistory + 1) * sizeof *h);
  if (h != NULL) {
    run->history = h;
    run->history[run->nhistory++] = e;
  }
}

static bool fail(const char *what)
{
  fprintf(stderr, "\nvbpr-train: %s: %s\n", what, vbpr_last_error());
  return false;
}

/* Trains one configuration; fills run. Returns false on error. */
static bool train_one(const cli_config *cfg, const data_pair *data, cli_run *run,
                      double loss_override, int epochs, int eval_every)
{
  vbpr_trainer *tr = NULL;
  if (vbpr_trainer_create(data->train, data->test, &tr) != VBPR_OK) return fail("trainer");
  bool ok = cli_apply(cfg, tr);
  if (ok && loss_override > 0 &&
      vbpr_trainer_set(tr, VBPR_TRAIN_LOSS, loss_override) != VBPR_OK)
    ok = fail("loss");
  double batch = 0;
  vbpr_trainer_get(tr, VBPR_TRAIN_BATCH, &batch);
  progress pr = {isatty(STDERR_FILENO) != 0, cfg->quiet, epochs, 0, (int64_t)batch};
  vbpr_trainer_set_progress(tr, on_batch, &pr);
  if (ok && vbpr_trainer_prepare(tr) != VBPR_OK) ok = fail("prepare");
  double t0 = now();
  int last_eval = -1;
  for (int e = 0; ok && e < epochs && !stop_requested; e++) {
    pr.start = now();
    double loss = 0;
    vbpr_status st = vbpr_trainer_epoch(tr, &loss);
    run->train_seconds += now() - pr.start;
    run->last_loss = loss;
    if (st == VBPR_ERR_INTERRUPTED) {
      run->interrupted = true;
      if (pr.tty && !cfg->quiet) fputc('\n', stderr);
      fprintf(stderr, "vbpr-train: interrupted during epoch %d; evaluating and saving\n", e + 1);
      break;
    }
    if (st != VBPR_OK) {
      ok = fail("training stopped");
      break;
    }
    run->epochs = e + 1;
    if (pr.tty && !cfg->quiet) fputc('\r', stderr);
    bool eval_now = data->test && eval_every > 0 && ((e + 1) % eval_every == 0 || e + 1 == epochs);
    if (eval_now) {
      if (vbpr_trainer_evaluate(tr) != VBPR_OK) {
        ok = fail("evaluation");
        break;
      }
      record(run, cfg, tr, e + 1);
      last_eval = e + 1;
      if (!cfg->quiet) report_eval_line(stdout, cfg, &run->last, loss);
    } else if (!cfg->quiet && !pr.tty) {
      printf("epoch %4d  loss %.5f  %.3fs\n", e + 1, loss, now() - pr.start);
    }
    fflush(stdout);
  }
  if (ok && data->test && last_eval != run->epochs && eval_every > 0) {
    if (vbpr_trainer_evaluate(tr) == VBPR_OK)
      record(run, cfg, tr, run->epochs);
    else
      ok = fail("evaluation");
  }
  if (ok && cfg->save_path && vbpr_encoder_save(vbpr_trainer_encoder(tr), cfg->save_path) != VBPR_OK)
    ok = fail("saving the model");
  else if (ok && cfg->save_path && !cfg->quiet)
    printf("model saved to %s\n", cfg->save_path);
  run->seconds = now() - t0;
  vbpr_trainer_destroy(tr);
  return ok;
}

int main(int argc, char **argv)
{
  cli_config cfg;
  bool exit_now;
  if (!cli_parse(argc, argv, &cfg, &exit_now)) return 2;
  if (exit_now) return 0;
  if (cfg.threads >= 0 && vbpr_set_num_threads(cfg.threads) != VBPR_OK) {
    fail("threads");
    return 2;
  }
  bool synthetic = cfg.train_path == NULL;
  data_pair data = {0};
  if (!data_load(&cfg, &data)) return 1;
  int epochs = cfg.epochs >= 0 ? cfg.epochs : (synthetic ? 20 : 100);
  int eval_every = cfg.eval_every >= 0 ? cfg.eval_every : (synthetic ? 10 : 5);
  bool compare = cfg.compare || argc == 1;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, NULL);

  cli_run runs[2];
  memset(runs, 0, sizeof runs);
  size_t n = 0;
  bool ok = true;
  if (compare) {
    runs[n].label = "BPR";
    if (!cfg.quiet) printf("== BPR\n");
    ok = train_one(&cfg, &data, &runs[n++], VBPR_LOSS_BPR, epochs, eval_every);
  }
  if (ok && !stop_requested) {
    runs[n].label = compare ? "Variational BPR" : "run";
    if (!cfg.quiet && compare) printf("== Variational BPR\n");
    ok = train_one(&cfg, &data, &runs[n++], compare ? VBPR_LOSS_VARIATIONAL : 0, epochs,
                   eval_every);
  }
  bool trained = false;
  for (size_t r = 0; r < n; r++) trained |= runs[r].epochs > 0;
  for (size_t r = 0; r < n && !cfg.quiet; r++) report_table(stdout, &cfg, &runs[r]);
  if (trained) report_compare(stdout, &cfg, runs, n);
  if (cfg.json_path && !report_json(cfg.json_path, &cfg, runs, n)) ok = false;
  for (size_t r = 0; r < n; r++) free(runs[r].history);
  data_free(&data);
  return ok ? (stop_requested ? 130 : 0) : 1;
}
