#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
  "usage: vbpr-train [options]\n"
  "With no data options, trains on built-in synthetic data and compares BPR\n"
  "with Variational BPR.\n"
  "\n"
  "data:\n"
  "  --train FILE --test FILE   interaction files (tsv/csv with header, or\n"
  "                             'user item item ...' lines)\n"
  "  --format auto|table|lists  file format (default auto)\n"
  "  --num-items N              item universe size (default: from the files)\n"
  "  --items-from FILE          take the item universe from this file\n"
  "  --synthetic-seed S         seed of the built-in data (default 7)\n"
  "  --synthetic-noise F        share of false positives injected (default 0.2)\n"
  "model:\n"
  "  --encoder mf|lightgcn  --layers K  --dim D\n"
  "  --init normal|xavier  --init-scale S\n"
  "loss:\n"
  "  --loss bpr|variational  --estimator prototype|detached|elbo\n"
  "  -M, --num-pos M  -N, --num-neg N  --c-pos C  --c-neg C  --c C (both)\n"
  "  --neg-attention hard|easy  --pos-hardness L  --neg-hardness L  --tau T\n"
  "  --prior-rarity A1 --prior-good A2 --prior-popularity B1 --prior-bad B2\n"
  "  --neg-pop-alpha A          negatives drawn with probability ~ pop^A\n"
  "training:\n"
  "  --optimizer adam|lazy-adam|sgd  --lr LR  --l2 L2  --batch B\n"
  "  --epochs E  --eval-every E  --k 10,20  --seed S  --threads T\n"
  "  --compare                  train BPR and the configured loss, compare\n"
  "output:\n"
  "  --save FILE  --json FILE  --quiet  --help  --version\n";

enum {
  O_TRAIN = 256, O_TEST, O_FORMAT, O_NUM_ITEMS, O_ITEMS_FROM, O_SYNTH_SEED, O_SYNTH_NOISE,
  O_ENCODER, O_LAYERS, O_DIM, O_INIT, O_INIT_SCALE, O_LOSS, O_ESTIMATOR,
  O_C_POS, O_C_NEG, O_C, O_NEG_ATT, O_POS_HARD, O_NEG_HARD, O_TAU,
  O_PRIOR_RARITY, O_PRIOR_GOOD, O_PRIOR_POP, O_PRIOR_BAD, O_NEG_POP,
  O_OPTIM, O_LR, O_L2, O_BATCH, O_EPOCHS, O_EVAL_EVERY, O_K, O_SEED,
  O_THREADS, O_COMPARE, O_SAVE, O_JSON, O_QUIET, O_HELP, O_VERSION,
};

static const struct option longopts[] = {
  {"train", 1, 0, O_TRAIN}, {"test", 1, 0, O_TEST}, {"format", 1, 0, O_FORMAT},
  {"num-items", 1, 0, O_NUM_ITEMS}, {"items-from", 1, 0, O_ITEMS_FROM},
  {"synthetic-seed", 1, 0, O_SYNTH_SEED}, {"synthetic-noise", 1, 0, O_SYNTH_NOISE}, {"encoder", 1, 0, O_ENCODER},
  {"layers", 1, 0, O_LAYERS}, {"dim", 1, 0, O_DIM}, {"init", 1, 0, O_INIT},
  {"init-scale", 1, 0, O_INIT_SCALE}, {"loss", 1, 0, O_LOSS},
  {"estimator", 1, 0, O_ESTIMATOR}, {"num-pos", 1, 0, 'M'}, {"num-neg", 1, 0, 'N'},
  {"c-pos", 1, 0, O_C_POS}, {"c-neg", 1, 0, O_C_NEG}, {"c", 1, 0, O_C},
  {"neg-attention", 1, 0, O_NEG_ATT}, {"pos-hardness", 1, 0, O_POS_HARD},
  {"neg-hardness", 1, 0, O_NEG_HARD}, {"tau", 1, 0, O_TAU},
  {"prior-rarity", 1, 0, O_PRIOR_RARITY}, {"prior-good", 1, 0, O_PRIOR_GOOD},
  {"prior-popularity", 1, 0, O_PRIOR_POP}, {"prior-bad", 1, 0, O_PRIOR_BAD},
  {"neg-pop-alpha", 1, 0, O_NEG_POP}, {"optimizer", 1, 0, O_OPTIM},
  {"lr", 1, 0, O_LR}, {"l2", 1, 0, O_L2}, {"batch", 1, 0, O_BATCH},
  {"epochs", 1, 0, O_EPOCHS}, {"eval-every", 1, 0, O_EVAL_EVERY}, {"k", 1, 0, O_K},
  {"seed", 1, 0, O_SEED}, {"threads", 1, 0, O_THREADS}, {"compare", 0, 0, O_COMPARE},
  {"save", 1, 0, O_SAVE}, {"json", 1, 0, O_JSON}, {"quiet", 0, 0, O_QUIET},
  {"help", 0, 0, O_HELP}, {"version", 0, 0, O_VERSION}, {0, 0, 0, 0},
};

static bool number(const char *opt, const char *s, double *out)
{
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end != '\0') {
    fprintf(stderr, "vbpr-train: --%s expects a number, got '%s'\n", opt, s);
    return false;
  }
  *out = v;
  return true;
}

static bool integer(const char *opt, const char *s, long lo, long hi, long *out)
{
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "vbpr-train: --%s expects an integer in [%ld, %ld], got '%s'\n",
            opt, lo, hi, s);
    return false;
  }
  *out = v;
  return true;
}

/* name=value choices for enum-like options */
typedef struct choice {
  const char *name;
  double value;
} choice;

static bool pick(const char *opt, const char *s, const choice *c, double *out)
{
  for (; c->name; c++)
    if (strcmp(c->name, s) == 0) {
      *out = c->value;
      return true;
    }
  fprintf(stderr, "vbpr-train: --%s: unknown value '%s'\n", opt, s);
  return false;
}

static const choice encoders[] = {{"mf", VBPR_ENCODER_MF}, {"lightgcn", VBPR_ENCODER_LIGHTGCN}, {0, 0}};
static const choice inits[] = {{"normal", VBPR_INIT_NORMAL}, {"xavier", VBPR_INIT_XAVIER_NORMAL}, {0, 0}};
static const choice losses[] = {{"bpr", VBPR_LOSS_BPR}, {"variational", VBPR_LOSS_VARIATIONAL}, {0, 0}};
static const choice estimators[] = {{"prototype", VBPR_EST_PROTOTYPE},
  {"detached", VBPR_EST_PROTOTYPE_DETACHED}, {"elbo", VBPR_EST_ELBO}, {0, 0}};
static const choice attentions[] = {{"hard", VBPR_ATTEND_HARD}, {"easy", VBPR_ATTEND_EASY}, {0, 0}};
static const choice optims[] = {{"adam", VBPR_OPTIM_ADAM}, {"lazy-adam", VBPR_OPTIM_LAZY_ADAM},
  {"sgd", VBPR_OPTIM_SGD}, {0, 0}};
static const choice formats[] = {{"auto", VBPR_DATASET_FORMAT_AUTO},
  {"table", VBPR_DATASET_FORMAT_TABLE}, {"lists", VBPR_DATASET_FORMAT_USER_LISTS}, {0, 0}};

/* Options that map straight onto one trainer parameter. */
typedef struct param_opt {
  int code;
  vbpr_train_param param;
  const choice *choices; /* NULL: a number */
} param_opt;

static const param_opt param_opts[] = {
  {O_ENCODER, VBPR_TRAIN_ENCODER, encoders}, {O_LAYERS, VBPR_TRAIN_LAYERS, NULL},
  {O_DIM, VBPR_TRAIN_DIM, NULL}, {O_INIT, VBPR_TRAIN_INIT, inits},
  {O_INIT_SCALE, VBPR_TRAIN_INIT_SCALE, NULL}, {O_LOSS, VBPR_TRAIN_LOSS, losses},
  {O_ESTIMATOR, VBPR_TRAIN_ESTIMATOR, estimators}, {'M', VBPR_TRAIN_NUM_POS, NULL},
  {'N', VBPR_TRAIN_NUM_NEG, NULL}, {O_C_POS, VBPR_TRAIN_C_POS, NULL},
  {O_C_NEG, VBPR_TRAIN_C_NEG, NULL}, {O_NEG_ATT, VBPR_TRAIN_NEG_ATTENTION, attentions},
  {O_POS_HARD, VBPR_TRAIN_POS_HARDNESS, NULL}, {O_NEG_HARD, VBPR_TRAIN_NEG_HARDNESS, NULL},
  {O_TAU, VBPR_TRAIN_HARDNESS_TAU, NULL}, {O_PRIOR_RARITY, VBPR_TRAIN_PRIOR_RARITY, NULL},
  {O_PRIOR_GOOD, VBPR_TRAIN_PRIOR_GOOD, NULL}, {O_PRIOR_POP, VBPR_TRAIN_PRIOR_POPULARITY, NULL},
  {O_PRIOR_BAD, VBPR_TRAIN_PRIOR_BAD, NULL}, {O_NEG_POP, VBPR_TRAIN_NEG_POP_ALPHA, NULL},
  {O_OPTIM, VBPR_TRAIN_OPTIMIZER, optims}, {O_LR, VBPR_TRAIN_LR, NULL},
  {O_L2, VBPR_TRAIN_L2, NULL}, {O_BATCH, VBPR_TRAIN_BATCH, NULL},
  {O_SEED, VBPR_TRAIN_SEED, NULL}, {0, 0, NULL},
};

static bool add_setting(cli_config *cfg, vbpr_train_param p, double v)
{
  if (cfg->nsettings == CLI_MAX_SETTINGS) {
    fprintf(stderr, "vbpr-train: too many options\n");
    return false;
  }
  cfg->settings[cfg->nsettings++] = (cli_setting){p, v};
  return true;
}

static bool parse_ks(const char *s, cli_config *cfg)
{
  cfg->nks = 0;
  const char *p = s;
  while (*p) {
    char *end = NULL;
    long k = strtol(p, &end, 10);
    if (end == p || k < 1 || k > 100000 || cfg->nks == CLI_MAX_KS || (*end && *end != ',')) {
      fprintf(stderr, "vbpr-train: --k expects up to %d comma-separated positive "
              "integers, got '%s'\n", CLI_MAX_KS, s);
      return false;
    }
    cfg->ks[cfg->nks++] = (int32_t)k;
    p = *end ? end + 1 : end;
  }
  if (cfg->nks == 0) {
    fprintf(stderr, "vbpr-train: --k is empty\n");
    return false;
  }
  return true;
}

static bool handle_param(int code, const char *name, const char *arg, cli_config *cfg,
                         bool *handled)
{
  for (const param_opt *po = param_opts; po->code; po++) {
    if (po->code != code) continue;
    *handled = true;
    double v;
    bool ok = po->choices ? pick(name, arg, po->choices, &v) : number(name, arg, &v);
    return ok && add_setting(cfg, po->param, v);
  }
  *handled = false;
  return true;
}

static bool handle_other(int code, const char *name, const char *arg, cli_config *cfg,
                         bool *exit_now)
{
  long v;
  double d;
  switch (code) {
  case O_TRAIN: cfg->train_path = arg; return true;
  case O_TEST: cfg->test_path = arg; return true;
  case O_ITEMS_FROM: cfg->items_from = arg; return true;
  case O_FORMAT: if (!pick(name, arg, formats, &d)) return false; cfg->format = (int)d; return true;
  case O_NUM_ITEMS: if (!integer(name, arg, 1, 2147483646L, &v)) return false; cfg->num_items = v; return true;
  case O_SYNTH_SEED: if (!integer(name, arg, 0, 2147483647L, &v)) return false; cfg->synth_seed = v; return true;
  case O_SYNTH_NOISE:
    if (!number(name, arg, &d) || d < 0 || d > 0.9) {
      fprintf(stderr, "vbpr-train: --%s expects a share in [0, 0.9], got '%s'\n", name, arg);
      return false;
    }
    cfg->synth_noise = d;
    return true;
  case O_C:
    if (!number(name, arg, &d)) return false;
    return add_setting(cfg, VBPR_TRAIN_C_POS, d) && add_setting(cfg, VBPR_TRAIN_C_NEG, d);
  case O_EPOCHS: if (!integer(name, arg, 0, 1000000, &v)) return false; cfg->epochs = (int)v; return true;
  case O_EVAL_EVERY: if (!integer(name, arg, 0, 1000000, &v)) return false; cfg->eval_every = (int)v; return true;
  case O_THREADS: if (!integer(name, arg, 0, 4096, &v)) return false; cfg->threads = (int)v; return true;
  case O_K: return parse_ks(arg, cfg);
  case O_COMPARE: cfg->compare = true; return true;
  case O_SAVE: cfg->save_path = arg; return true;
  case O_JSON: cfg->json_path = arg; return true;
  case O_QUIET: cfg->quiet = true; return true;
  case O_HELP: fputs(usage, stdout); *exit_now = true; return true;
  case O_VERSION: printf("vbpr-train (libvbpr) %s\n", vbpr_version_string()); *exit_now = true; return true;
  }
  fputs(usage, stderr);
  return false;
}

bool cli_parse(int argc, char **argv, cli_config *cfg, bool *exit_now)
{
  *cfg = (cli_config){.format = VBPR_DATASET_FORMAT_AUTO, .num_items = -1,
                      .epochs = -1, .eval_every = -1, .threads = -1, .synth_seed = 7,
                      .synth_noise = 0.2};
  *exit_now = false;
  cfg->ks[0] = 20;
  cfg->nks = 1;
  int code, idx = 0;
  opterr = 1;
  while ((code = getopt_long(argc, argv, "M:N:", longopts, &idx)) != -1) {
    if (code == '?') {
      fputs(usage, stderr);
      return false;
    }
    const char *name = code == 'M' ? "num-pos" : code == 'N' ? "num-neg" : longopts[idx].name;
    bool handled;
    if (!handle_param(code, name, optarg, cfg, &handled)) return false;
    if (!handled && !handle_other(code, name, optarg, cfg, exit_now)) return false;
    if (*exit_now) return true;
  }
  if (optind < argc) {
    fprintf(stderr, "vbpr-train: unexpected argument '%s'\n", argv[optind]);
    return false;
  }
  if ((cfg->train_path == NULL) != (cfg->test_path == NULL)) {
    fprintf(stderr, "vbpr-train: --train and --test go together\n");
    return false;
  }
  return true;
}

bool cli_apply(const cli_config *cfg, vbpr_trainer *tr)
{
  for (size_t i = 0; i < cfg->nsettings; i++)
    if (vbpr_trainer_set(tr, cfg->settings[i].param, cfg->settings[i].value) != VBPR_OK) {
      fprintf(stderr, "vbpr-train: %s\n", vbpr_last_error());
      return false;
    }
  if (vbpr_trainer_set_ks(tr, cfg->ks, cfg->nks) != VBPR_OK) {
    fprintf(stderr, "vbpr-train: %s\n", vbpr_last_error());
    return false;
  }
  return true;
}
