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
#include "dist.h"

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

/* CPU time of the process (all threads): with one thread, the training
 * time other jobs on a shared machine do not inflate. */
static double cpu_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct progress {
  bool tty, quiet, evaluating;
  long epochs;
  double epoch_start, epoch_cpu_start;
  double batch_rows;
  cli_run *run;
  const cli_config *cfg;
  vbpr_trainer *tr;
} progress;

static void progress_bar(const progress *pr, int64_t epoch, size_t batch, size_t nbatches,
                         double loss)
{
  double el = now() - pr->epoch_start;
  double rate = el > 0 ? (double)batch * pr->batch_rows / el : 0;
  double eta = batch > 0 ? el * (double)(nbatches - batch) / (double)batch : 0;
  int width = 24, done = nbatches > 0 ? (int)((size_t)width * batch / nbatches) : width;
  fprintf(stderr, "\repoch %lld/%ld [%.*s%*s] %zu/%zu loss %.4f %.0fk tuples/s ETA %.1fs ",
          (long long)epoch, pr->epochs, done, "########################", width - done, "",
          batch, nbatches, loss, rate / 1000, eta);
}

static cli_eval last_eval(const cli_config *cfg, vbpr_trainer *tr, size_t index)
{
  cli_eval e = {0};
  e.train_seconds = -1;
  int64_t epoch = 0;
  for (int m = 0; m < CLI_NMETRICS; m++)
    for (size_t k = 0; k < cfg->nks; k++)
      if (vbpr_trainer_evaluation(tr, index, cli_metrics[m], cfg->ks[k], &epoch,
                                  &e.value[m][k]) != VBPR_OK)
        e.value[m][k] = NAN;
  e.epoch = (long)epoch;
  return e;
}

static int on_event(void *p, vbpr_trainer_event ev, int64_t epoch, size_t batch,
                    size_t nbatches, double loss)
{
  progress *pr = p;
  if (ev == VBPR_TRAINER_EVENT_BATCH) {
    if (pr->tty && !pr->quiet && (batch % 8 == 0 || batch == nbatches))
      progress_bar(pr, epoch, batch, nbatches, loss);
  } else if (ev == VBPR_TRAINER_EVENT_EPOCH) {
    pr->run->train_seconds += now() - pr->epoch_start;
    pr->run->train_cpu_seconds += cpu_now() - pr->epoch_cpu_start;
    pr->run->epochs = (int)epoch;
    pr->run->last_loss = loss;
    if (pr->tty && !pr->quiet) fputc('\r', stderr);
    bool eval = pr->evaluating && pr->cfg->eval_every > 0 &&
                (epoch % (int64_t)pr->cfg->eval_every == 0 || epoch == pr->epochs);
    if (!eval && !pr->quiet && !pr->tty)
      printf("epoch %4lld  loss %.5f  %.3fs\n", (long long)epoch, loss,
             now() - pr->epoch_start);
  } else if (ev == VBPR_TRAINER_EVENT_EVALUATION) {
    /* the training time so far, for time-to-accuracy figures */
    cli_run *run = pr->run;
    double *t = realloc(run->eval_seconds, 2 * (run->n_eval_seconds + 1) * sizeof *t);
    if (t != NULL) {
      t[2 * run->n_eval_seconds] = run->train_seconds;
      t[2 * run->n_eval_seconds + 1] = run->train_cpu_seconds;
      run->n_eval_seconds++;
      run->eval_seconds = t;
    }
  }
  if (ev == VBPR_TRAINER_EVENT_EVALUATION && !pr->quiet) {
    size_t n = vbpr_trainer_evaluation_count(pr->tr);
    cli_eval e = last_eval(pr->cfg, pr->tr, n - 1);
    report_eval_line(stdout, pr->cfg, &e, loss);
  }
  if (ev != VBPR_TRAINER_EVENT_BATCH) {
    fflush(stdout);
    pr->epoch_start = now();
    pr->epoch_cpu_start = cpu_now();
  }
  return stop_requested != 0;
}

/* Best and last of every metric over the trainer's evaluations. */
static void collect(cli_run *run, const cli_config *cfg, vbpr_trainer *tr)
{
  size_t n = vbpr_trainer_evaluation_count(tr);
  run->history = n ? calloc(n, sizeof *run->history) : NULL;
  for (size_t i = 0; i < n && run->history; i++) {
    cli_eval e = last_eval(cfg, tr, i);
    if (i < run->n_eval_seconds) {
      e.train_seconds = run->eval_seconds[2 * i];
      e.train_cpu_seconds = run->eval_seconds[2 * i + 1];
    }
    for (int m = 0; m < CLI_NMETRICS; m++)
      for (size_t k = 0; k < cfg->nks; k++)
        if (!run->has_eval || e.value[m][k] > run->best.value[m][k]) {
          run->best.value[m][k] = e.value[m][k];
          run->best_epoch[m][k] = e.epoch;
        }
    run->last = e;
    run->has_eval = true;
    run->history[run->nhistory++] = e;
  }
  run->evals = (int)run->nhistory;
}

static bool fail(const char *what)
{
  fputc('\n', stderr);
  cli_error(what);
  return false;
}

/* On the built-in data the ratings label the injected false positives
 * (0) and the true ones (1): the ROC AUC of finding the injected ones,
 * the chance that a random injected one ranks above a random true one. */
static void print_injected_auc(vbpr_trainer *tr, const data_pair *data, int by)
{
  const float *ratings = NULL;
  size_t n = vbpr_dataset_num_interactions(data->train);
  size_t *order = malloc(n * sizeof *order);
  if (order == NULL || vbpr_dataset_csr(data->train, NULL, NULL, &ratings) != VBPR_OK ||
      ratings == NULL || vbpr_trainer_noise_ranking(tr, by, n, order) != VBPR_OK) {
    free(order);
    return;
  }
  double injected = 0, before = 0, clean = 0;
  for (size_t r = 0; r < n; r++) {
    if (ratings[order[r]] == 0) injected++;
    else before += injected, clean++;
  }
  free(order);
  if (injected > 0 && clean > 0)
    printf("noise diagnosis: ROC AUC of the %.0f injected false positives %.4f "
           "(0.5 = chance)\n", injected, before / (injected * clean));
}

static bool noise_report(const cli_config *cfg, vbpr_trainer *tr, const data_pair *data)
{
  if (vbpr_trainer_noise_report(tr, cfg->noise_rank, cfg->noise_top, cfg->noise_path) !=
      VBPR_OK)
    return fail("--noise-report");
  if (cfg->quiet) return true;
  printf("noise report written to %s\n", cfg->noise_path);
  if (cfg->train_path == NULL) print_injected_auc(tr, data, cfg->noise_rank);
  return true;
}

/* Trains one configuration; fills run. Returns false on error. */
static bool train_one(const cli_config *cfg, const data_pair *data, cli_run *run,
                      double loss_override, double epochs, double eval_every, bool last)
{
  vbpr_trainer *tr = NULL;
  if (vbpr_trainer_create(data->train, data->test, &tr) != VBPR_OK) return fail("trainer");
  if (!dist_attach(tr)) {
    vbpr_trainer_destroy(tr);
    return false;
  }
  /* the flags first, then the schedule and the loss of a --compare run */
  cli_setting extra[3] = {{CLI_TRAINER, VBPR_TRAINER_EPOCHS, epochs, "epochs"},
                          {CLI_TRAINER, VBPR_TRAINER_EVAL_EVERY, eval_every, "eval-every"},
                          {CLI_TRAINER, VBPR_TRAINER_LOSS, loss_override, "loss"}};
  /* A resumed run keeps its checkpoint's schedule unless told otherwise. */
  size_t nextra = loss_override > 0 ? 3 : 2, first = 0;
  if (cfg->resume_path && cfg->eval_every < 0) {
    extra[1] = extra[0];
    first = 1;
  }
  if (cfg->resume_path && cfg->epochs < 0) first++;
  bool ok = true;
  if (cfg->resume_path) {
    ok = vbpr_trainer_load_checkpoint(tr, cfg->resume_path) == VBPR_OK;
    if (!ok) fail("--resume");
    else if (!cfg->quiet)
      printf("resumed from %s: %lld epochs done\n", cfg->resume_path,
             (long long)vbpr_trainer_epochs_done(tr));
  }
  ok = ok && cli_apply(cfg, tr, extra + first, nextra - first);
  if (ok && cfg->resume_path) { /* the schedule in force, for the display */
    vbpr_trainer_get(tr, VBPR_TRAINER_EPOCHS, &epochs);
    vbpr_trainer_get(tr, VBPR_TRAINER_EVAL_EVERY, &eval_every);
  }
  if (ok && cfg->checkpoint_path && vbpr_trainer_set_checkpoint(tr, cfg->checkpoint_path) != VBPR_OK)
    ok = fail("--checkpoint");
  double batch = 0;
  if (ok) vbpr_sampler_get(vbpr_trainer_sampler(tr), VBPR_SAMPLER_BATCH_SIZE, &batch);
  cli_config shown = *cfg;
  shown.eval_every = eval_every;
  progress pr = {isatty(STDERR_FILENO) != 0, cfg->quiet, data->test != NULL, (long)epochs,
                 now(), cpu_now(), batch, run, &shown, tr};
  vbpr_trainer_set_progress(tr, on_event, &pr);
  if (!ok) { /* nothing was trained: no results to report */
    vbpr_trainer_destroy(tr);
    return false;
  }
  double t0 = now();
  vbpr_status st = ok ? vbpr_trainer_fit(tr) : VBPR_OK;
  if (ok && st == VBPR_ERR_INTERRUPTED) {
    run->interrupted = true;
    if (pr.tty && !cfg->quiet) fputc('\n', stderr);
    fprintf(stderr, "vbpr-train: interrupted during epoch %lld; evaluating and saving\n",
            (long long)vbpr_trainer_epochs_done(tr) + 1);
    if (cfg->checkpoint_path)
      fprintf(stderr, "vbpr-train: checkpoint written to %s; continue with --resume %s\n",
              cfg->checkpoint_path, cfg->checkpoint_path);
    if (data->test && eval_every > 0 && vbpr_trainer_evaluate(tr) != VBPR_OK)
      ok = fail("evaluation");
  } else if (ok && st != VBPR_OK) {
    ok = fail("training stopped");
  }
  run->epochs = (int)vbpr_trainer_epochs_done(tr);
  collect(run, cfg, tr);
  if (ok && last && cfg->noise_path && run->epochs + (run->interrupted ? 1 : 0) > 0)
    ok = noise_report(cfg, tr, data);
  if (ok && cfg->save_path && vbpr_encoder_save(vbpr_trainer_encoder(tr), cfg->save_path) != VBPR_OK)
    ok = fail("saving the model");
  else if (ok && cfg->save_path && !cfg->quiet)
    printf("model saved to %s\n", cfg->save_path);
  run->seconds = now() - t0;
  vbpr_trainer_destroy(tr);
  return ok;
}

static int train_main(int argc, char **argv, int rank)
{
  cli_config cfg;
  bool exit_now;
  if (!cli_parse(argc, argv, &cfg, &exit_now)) return 2;
  if (exit_now) return 0;
  dist_set_timeout(cfg.timeout);
  if (!dist_same_args(argc, argv)) return 2;
  if (rank != 0) { /* under mpirun rank 0 alone prints and saves; errors go to stderr */
    cfg.quiet = true;
    cfg.save_path = cfg.json_path = NULL;
  }
  if (cfg.threads >= 0 && vbpr_set_num_threads((int)cfg.threads) != VBPR_OK) {
    fail("--threads");
    return 2;
  }
  bool synthetic = cfg.train_path == NULL;
  data_pair data = {0};
  if (!dist_all_ok(data_load(&cfg, &data), "loading the data")) {
    data_free(&data);
    return 1;
  }
  double epochs = cfg.epochs >= 0 ? cfg.epochs : (synthetic ? 20 : 100);
  double eval_every = cfg.eval_every >= 0 ? cfg.eval_every : (synthetic ? 10 : 5);
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
    ok = train_one(&cfg, &data, &runs[n++], VBPR_LOSS_BPR, epochs, eval_every, false);
  }
  if (ok && !stop_requested) {
    runs[n].label = compare ? "Variational BPR" : "run";
    if (!cfg.quiet && compare) printf("== Variational BPR\n");
    ok = train_one(&cfg, &data, &runs[n++], compare ? VBPR_LOSS_VARIATIONAL : 0, epochs,
                   eval_every, true);
  }
  bool trained = false;
  for (size_t r = 0; r < n; r++) trained |= runs[r].epochs > 0;
  for (size_t r = 0; r < n && !cfg.quiet; r++) report_table(stdout, &cfg, &runs[r]);
  if (trained) report_compare(stdout, &cfg, runs, n);
  if (cfg.json_path && !report_json(cfg.json_path, &cfg, runs, n)) ok = false;
  for (size_t r = 0; r < n; r++) free(runs[r].history), free(runs[r].eval_seconds);
  data_free(&data);
  return ok ? (stop_requested ? 130 : 0) : 1;
}

int main(int argc, char **argv)
{
  int rank = 0, size = 1;
  dist_init(&argc, &argv, &rank, &size);
  if (rank != 0 && freopen("/dev/null", "w", stdout) == NULL) return 1;
  int status = train_main(argc, argv, rank);
  dist_finish();
  return status;
}
