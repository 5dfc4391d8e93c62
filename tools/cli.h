/* vbpr-train: the command-line trainer. Shared declarations. */
#ifndef VBPR_TOOLS_CLI_H
#define VBPR_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "vbpr/vbpr.h"

#define CLI_MAX_SETTINGS 64
#define CLI_MAX_KS 16

typedef struct cli_setting {
  vbpr_train_param param;
  double value;
} cli_setting;

typedef struct cli_config {
  const char *train_path, *test_path, *items_from;
  int format;          /* vbpr_dataset_format */
  long num_items;      /* -1: infer */
  int epochs, eval_every, threads;
  int32_t ks[CLI_MAX_KS];
  size_t nks;
  cli_setting settings[CLI_MAX_SETTINGS];
  size_t nsettings;
  const char *save_path, *json_path;
  bool quiet, compare;
  long synth_seed;
  double synth_noise;  /* share of injected false positives */
} cli_config;

/* Parses argv into cfg; prints the problem and returns false on bad input.
 * Sets *exit_now when --help or --version was handled. */
bool cli_parse(int argc, char **argv, cli_config *cfg, bool *exit_now);

/* Applies the settings to a trainer; prints and returns false on error. */
bool cli_apply(const cli_config *cfg, vbpr_trainer *tr);

/* One evaluation of every metric at every K. */
#define CLI_NMETRICS 6
typedef struct cli_eval {
  int epoch;
  double value[CLI_NMETRICS][CLI_MAX_KS];
} cli_eval;

extern const vbpr_metric cli_metrics[CLI_NMETRICS];
extern const char *const cli_metric_names[CLI_NMETRICS];

/* Results of one training run. */
typedef struct cli_run {
  const char *label;
  cli_eval best, last;          /* best: per metric and K, the max over evals */
  int best_epoch[CLI_NMETRICS][CLI_MAX_KS];
  int evals, epochs;
  double seconds, train_seconds, last_loss;
  bool interrupted, has_eval;
  cli_eval *history;
  size_t nhistory;
} cli_run;

void report_eval_line(FILE *f, const cli_config *cfg, const cli_eval *e, double loss);
void report_table(FILE *f, const cli_config *cfg, const cli_run *run);
void report_compare(FILE *f, const cli_config *cfg, const cli_run *runs, size_t n);
bool report_json(const char *path, const cli_config *cfg, const cli_run *runs, size_t n);

#endif
