/* vbpr-train: the command-line trainer. Shared declarations. */
#ifndef VBPR_TOOLS_CLI_H
#define VBPR_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "vbpr/vbpr.h"

#define CLI_MAX_SETTINGS 64
#define CLI_MAX_KS 16

/* The object a flag configures: the trainer itself, or one of the parts it
 * lends after vbpr_trainer_prepare(). */
typedef enum cli_object { CLI_TRAINER, CLI_LOSS, CLI_SAMPLER, CLI_OPTIM, CLI_ENCODER } cli_object;

typedef struct cli_setting {
  cli_object obj;
  int param;          /* that object's parameter enum */
  double value;
  const char *flag;   /* for messages */
} cli_setting;

typedef struct cli_config {
  const char *train_path, *test_path, *items_from;
  double format;       /* vbpr_dataset_format */
  double num_items;    /* -1: infer */
  double epochs, eval_every; /* -1: the default for the data */
  long threads;
  size_t ks[CLI_MAX_KS];
  size_t nks;
  cli_setting settings[CLI_MAX_SETTINGS];
  size_t nsettings;
  const char *save_path, *json_path;
  bool quiet, compare;
  double synth_seed;
  double synth_noise;  /* share of injected false positives */
  double timeout;      /* data-parallel: seconds to wait for the other ranks */
  const char *checkpoint_path, *resume_path; /* --checkpoint, --resume */
  const char *noise_path; /* --noise-report */
  int noise_rank;         /* a vbpr_noise_rank */
  size_t noise_top;       /* lines of the report; 0: all */
} cli_config;

/* Parses argv into cfg; prints the problem and returns false on bad input.
 * Sets *exit_now when --help or --version was handled. */
bool cli_parse(int argc, char **argv, cli_config *cfg, bool *exit_now);

/* Applies the trainer's own settings (the flags', then `extra`), prepares
 * it, then applies the settings of its loss, sampler and optimizer; prints
 * and returns false on error. Loss settings are skipped for a loss kind
 * they do not apply to (BPR in a --compare run). */
bool cli_apply(const cli_config *cfg, vbpr_trainer *tr, const cli_setting *extra,
               size_t nextra);

/* Prints the library's last error after "vbpr-train: <what>: ", without
 * the name of the library function. */
void cli_error(const char *what);

/* One evaluation of every metric at every K. */
#define CLI_NMETRICS 6
typedef struct cli_eval {
  long epoch;
  double value[CLI_NMETRICS][CLI_MAX_KS];
  double train_seconds; /* training time until this evaluation (-1: unknown) */
  double train_cpu_seconds; /* the process's CPU time in training until it */
} cli_eval;

extern const vbpr_metric cli_metrics[CLI_NMETRICS];
extern const char *const cli_metric_names[CLI_NMETRICS];

/* Results of one training run. */
typedef struct cli_run {
  const char *label;
  cli_eval best, last;          /* best: per metric and K, the max over evals */
  long best_epoch[CLI_NMETRICS][CLI_MAX_KS];
  int evals, epochs;
  double seconds, train_seconds, last_loss;
  bool interrupted, has_eval;
  cli_eval *history;
  size_t nhistory;
  double train_cpu_seconds;
  double *eval_seconds; /* train_seconds, train_cpu_seconds at each evaluation */
  size_t n_eval_seconds;
} cli_run;

void report_eval_line(FILE *f, const cli_config *cfg, const cli_eval *e, double loss);
void report_table(FILE *f, const cli_config *cfg, const cli_run *run);
void report_compare(FILE *f, const cli_config *cfg, const cli_run *runs, size_t n);
bool report_json(const char *path, const cli_config *cfg, const cli_run *runs, size_t n);

#endif
