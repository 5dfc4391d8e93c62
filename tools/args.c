#include <getopt.h>
#include <stdio.h>
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
  "  --encoder mf|lightgcn|xsimgcl  --layers K  --dim D\n"
  "  --init normal|xavier  --init-scale S\n"
  "  --noise-eps E  --cl-tau T  --cl-weight W  --cl-layer L   XSimGCL's noise\n"
  "                             magnitude and contrastive term (temperature,\n"
  "                             weight, layer); defaults 0.2, 0.15, 0.2, 1\n"
  "loss:\n"
  "  --loss bpr|variational|infonce  --estimator prototype|detached|elbo\n"
  "  --preset best|paper|reference-plugin|reference-exact\n"
  "                             a named configuration of the Variational loss\n"
  "                             with its item priors (later options override)\n"
  "  -M, --num-pos M  -N, --num-neg N  --c-pos C  --c-neg C  --c C (both)\n"
  "  --neg-attention hard|easy  --pos-hardness L  --neg-hardness L  --tau T\n"
  "  --prior-rarity A1 --prior-good A2 --prior-popularity B1 --prior-bad B2\n"
  "  --neg-pop-alpha A          negatives drawn with probability ~ pop^A\n"
  "  --temperature T            InfoNCE temperature\n"
  "training:\n"
  "  --optimizer adam|lazy-adam|sgd|adagrad|sparse-adam  --lr LR  --l2 L2  --batch B\n"
  "  --fused                    MF: per tuple, in place, threads lock-free (needs\n"
  "                             sgd, adagrad or sparse-adam; lr per tuple)\n"
  "  --epochs E  --eval-every E  --k 10,20  --seed S  --threads T\n"
  "  --compare                  train BPR and the configured loss, compare\n"
  "  --timeout S                under mpirun: seconds a rank waits for the others\n"
  "                             before it ends the job (default 600)\n"
  "checkpoints:\n"
  "  --checkpoint FILE          write the whole training state to FILE after\n"
  "                             every E epochs, the last, and on Ctrl-C\n"
  "  --checkpoint-every E       (default 1)\n"
  "  --resume FILE              continue a run from its checkpoint (the same\n"
  "                             data; other flags may change the schedule)\n"
  "noise diagnosis:\n"
  "  --noise-report FILE        track each training interaction's positive\n"
  "                             attention and loss; write them ranked, most\n"
  "                             suspicious first (tab-separated)\n"
  "  --noise-rank auto|weight|loss  --noise-top N  --noise-momentum M\n"
  "output:\n"
  "  --save FILE  --json FILE  --quiet  --help  --version\n";

enum {
  O_TRAIN = 256, O_TEST, O_FORMAT, O_NUM_ITEMS, O_ITEMS_FROM, O_SYNTH_SEED, O_SYNTH_NOISE,
  O_ENCODER, O_LAYERS, O_DIM, O_INIT, O_INIT_SCALE, O_LOSS, O_ESTIMATOR,
  O_C_POS, O_C_NEG, O_C, O_NEG_ATT, O_POS_HARD, O_NEG_HARD, O_TAU,
  O_PRIOR_RARITY, O_PRIOR_GOOD, O_PRIOR_POP, O_PRIOR_BAD, O_NEG_POP,
  O_OPTIM, O_LR, O_L2, O_BATCH, O_EPOCHS, O_EVAL_EVERY, O_K, O_SEED,
  O_THREADS, O_COMPARE, O_SAVE, O_JSON, O_QUIET, O_HELP, O_VERSION, O_PRESET,
  O_TIMEOUT, O_TEMPERATURE, O_FUSED,
  O_NOISE_EPS, O_CL_TAU, O_CL_WEIGHT, O_CL_LAYER,
  O_NOISE_REPORT, O_NOISE_RANK, O_NOISE_TOP, O_NOISE_MOMENTUM,
  O_CHECKPOINT, O_CHECKPOINT_EVERY, O_RESUME,
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
  {"help", 0, 0, O_HELP}, {"version", 0, 0, O_VERSION}, {"preset", 1, 0, O_PRESET},
  {"timeout", 1, 0, O_TIMEOUT},
  {"temperature", 1, 0, O_TEMPERATURE}, {"fused", 0, 0, O_FUSED},
  {"noise-eps", 1, 0, O_NOISE_EPS}, {"cl-tau", 1, 0, O_CL_TAU},
  {"cl-weight", 1, 0, O_CL_WEIGHT}, {"cl-layer", 1, 0, O_CL_LAYER},
  {"noise-report", 1, 0, O_NOISE_REPORT}, {"noise-rank", 1, 0, O_NOISE_RANK},
  {"noise-top", 1, 0, O_NOISE_TOP}, {"noise-momentum", 1, 0, O_NOISE_MOMENTUM},
  {"checkpoint", 1, 0, O_CHECKPOINT}, {"checkpoint-every", 1, 0, O_CHECKPOINT_EVERY},
  {"resume", 1, 0, O_RESUME}, {0, 0, 0, 0},
};

void cli_error(const char *what)
{
  /* The library's messages start with the function's name, which means
   * nothing on a command line. */
  const char *msg = vbpr_last_error(), *sep = strstr(msg, ": ");
  if (sep != NULL && strncmp(msg, "vbpr_", 5) == 0) msg = sep + 2;
  fprintf(stderr, "vbpr-train: %s: %s\n", what, msg);
}

/* ---- parameters by name, of whichever object a flag configures ---------- */

static vbpr_status lookup(cli_object obj, const char *name, int *p)
{
  vbpr_status st = VBPR_ERR_INVALID_ARGUMENT;
  switch (obj) {
  case CLI_TRAINER: { vbpr_trainer_param v; st = vbpr_trainer_param_from_name(name, &v); *p = (int)v; break; }
  case CLI_LOSS: { vbpr_loss_param v; st = vbpr_loss_param_from_name(name, &v); *p = (int)v; break; }
  case CLI_SAMPLER: { vbpr_sampler_param v; st = vbpr_sampler_param_from_name(name, &v); *p = (int)v; break; }
  case CLI_OPTIM: { vbpr_optim_param v; st = vbpr_optim_param_from_name(name, &v); *p = (int)v; break; }
  case CLI_ENCODER: { vbpr_encoder_param v; st = vbpr_encoder_param_from_name(name, &v); *p = (int)v; break; }
  }
  return st;
}

static vbpr_status parse_value(cli_object obj, int p, const char *text, double *v)
{
  switch (obj) {
  case CLI_TRAINER: return vbpr_trainer_param_parse((vbpr_trainer_param)p, text, v);
  case CLI_LOSS: return vbpr_loss_param_parse((vbpr_loss_param)p, text, v);
  case CLI_SAMPLER: return vbpr_sampler_param_parse((vbpr_sampler_param)p, text, v);
  case CLI_OPTIM: return vbpr_optim_param_parse((vbpr_optim_param)p, text, v);
  case CLI_ENCODER: return vbpr_encoder_param_parse((vbpr_encoder_param)p, text, v);
  }
  return VBPR_ERR_INVALID_ARGUMENT;
}

/* Options that set one parameter of one object, named as the library names
 * it: its range, default and value names come from the library. */
typedef struct param_opt {
  int code;
  cli_object obj;
  const char *param;
} param_opt;

static const param_opt param_opts[] = {
  {O_ENCODER, CLI_TRAINER, "encoder"}, {O_LAYERS, CLI_TRAINER, "layers"},
  {O_DIM, CLI_TRAINER, "dim"}, {O_INIT, CLI_TRAINER, "init"},
  {O_INIT_SCALE, CLI_TRAINER, "init_scale"}, {O_LOSS, CLI_TRAINER, "loss"},
  {O_OPTIM, CLI_TRAINER, "optimizer"}, {O_SEED, CLI_TRAINER, "seed"},
  {O_PRIOR_RARITY, CLI_TRAINER, "prior_rarity"}, {O_PRIOR_GOOD, CLI_TRAINER, "prior_good"},
  {O_PRIOR_POP, CLI_TRAINER, "prior_popularity"}, {O_PRIOR_BAD, CLI_TRAINER, "prior_bad"},
  {O_ESTIMATOR, CLI_LOSS, "estimator"}, {'M', CLI_LOSS, "num_pos"},
  {'N', CLI_LOSS, "num_neg"}, {O_C_POS, CLI_LOSS, "c_pos"}, {O_C_NEG, CLI_LOSS, "c_neg"},
  {O_NEG_ATT, CLI_LOSS, "neg_attention"}, {O_POS_HARD, CLI_LOSS, "pos_hardness"},
  {O_NEG_HARD, CLI_LOSS, "neg_hardness"}, {O_TAU, CLI_LOSS, "hardness_tau"},
  {O_NEG_POP, CLI_SAMPLER, "neg_pop_exponent"}, {O_BATCH, CLI_SAMPLER, "batch_size"},
  {O_LR, CLI_OPTIM, "lr"}, {O_L2, CLI_OPTIM, "weight_decay"},
  {O_TEMPERATURE, CLI_LOSS, "temperature"},
  {O_NOISE_EPS, CLI_ENCODER, "noise_eps"}, {O_CL_TAU, CLI_ENCODER, "cl_tau"},
  {O_CL_WEIGHT, CLI_ENCODER, "cl_weight"}, {O_CL_LAYER, CLI_ENCODER, "cl_layer"},
  {O_NOISE_MOMENTUM, CLI_TRAINER, "noise_momentum"},
  {O_CHECKPOINT_EVERY, CLI_TRAINER, "checkpoint_every"},
  {0, 0, NULL},
};

static bool push_setting(cli_config *cfg, cli_setting s)
{
  if (cfg->nsettings == CLI_MAX_SETTINGS) {
    fprintf(stderr, "vbpr-train: too many options\n");
    return false;
  }
  cfg->settings[cfg->nsettings++] = s;
  return true;
}

static bool add_setting(cli_config *cfg, cli_object obj, const char *param, const char *flag,
                        const char *arg)
{
  int p = 0;
  double v = 0;
  char what[64];
  snprintf(what, sizeof what, "--%s", flag);
  if (lookup(obj, param, &p) != VBPR_OK || parse_value(obj, p, arg, &v) != VBPR_OK) {
    cli_error(what);
    return false;
  }
  return push_setting(cfg, (cli_setting){obj, p, v, flag});
}

/* A value of a dataset-options or synthetic-data parameter. */
static bool data_value(const char *flag, const char *arg, bool synthetic, const char *param,
                       double *out)
{
  vbpr_status st;
  if (synthetic) {
    vbpr_synthetic_param p;
    st = vbpr_synthetic_param_from_name(param, &p);
    if (st == VBPR_OK) st = vbpr_synthetic_param_parse(p, arg, out);
  } else {
    vbpr_dataset_options_param p;
    st = vbpr_dataset_options_param_from_name(param, &p);
    if (st == VBPR_OK) st = vbpr_dataset_options_param_parse(p, arg, out);
  }
  if (st == VBPR_OK) return true;
  char what[64];
  snprintf(what, sizeof what, "--%s", flag);
  cli_error(what);
  return false;
}

static bool trainer_value(const char *flag, const char *arg, const char *param, double *out)
{
  vbpr_trainer_param p;
  if (vbpr_trainer_param_from_name(param, &p) == VBPR_OK &&
      vbpr_trainer_param_parse(p, arg, out) == VBPR_OK)
    return true;
  char what[64];
  snprintf(what, sizeof what, "--%s", flag);
  cli_error(what);
  return false;
}

/* --preset NAME: a Variational loss, the parameters the library's preset
 * sets (read back
 * from a loss configured with it, so that nothing is copied here) and the
 * item-prior weights that go with it, as settings in the order given, so
 * that later options override them. */
static bool add_preset(cli_config *cfg, const char *flag, const char *name)
{
  static const char *const prior_params[4] = {"prior_rarity", "prior_good",
                                              "prior_popularity", "prior_bad"};
  double w[4];
  vbpr_loss *loss = NULL;
  if (vbpr_loss_preset_prior_weights(name, &w[0], &w[1], &w[2], &w[3]) != VBPR_OK ||
      vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss) != VBPR_OK ||
      vbpr_loss_set_preset(loss, name) != VBPR_OK) {
    cli_error("--preset");
    vbpr_loss_destroy(loss);
    return false;
  }
  /* a preset configures a Variational loss */
  bool ok = add_setting(cfg, CLI_TRAINER, "loss", flag, "variational");
  /* M and N are the sampling's, which a preset leaves alone */
  for (int p = VBPR_LOSS_NUM_NEG + 1; ok && vbpr_loss_param_name((vbpr_loss_param)p); p++) {
    double v = 0;
    vbpr_param_bounds b;
    if (vbpr_loss_param_bounds(VBPR_LOSS_VARIATIONAL, (vbpr_loss_param)p, &b) != VBPR_OK)
      continue; /* another kind's parameter (InfoNCE's temperature) */
    ok = vbpr_loss_get(loss, (vbpr_loss_param)p, &v) == VBPR_OK &&
         push_setting(cfg, (cli_setting){CLI_LOSS, p, v, flag});
  }
  vbpr_loss_destroy(loss);
  for (int k = 0; ok && k < 4; k++) {
    char text[32];
    snprintf(text, sizeof text, "%.17g", w[k]);
    ok = add_setting(cfg, CLI_TRAINER, prior_params[k], flag, text);
  }
  return ok;
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

static bool parse_ks(const char *s, cli_config *cfg)
{
  cfg->nks = 0;
  const char *p = s;
  while (*p) {
    char *end = NULL;
    long k = strtol(p, &end, 10);
    if (end == p || k < 1 || k > VBPR_EVALUATOR_MAX_K || cfg->nks == CLI_MAX_KS ||
        (*end && *end != ',')) {
      fprintf(stderr, "vbpr-train: --k expects up to %d comma-separated integers in "
              "[1, %d], got '%s'\n", CLI_MAX_KS, VBPR_EVALUATOR_MAX_K, s);
      return false;
    }
    cfg->ks[cfg->nks++] = (size_t)k;
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
  for (const param_opt *po = param_opts; po->param; po++) {
    if (po->code != code) continue;
    *handled = true;
    return add_setting(cfg, po->obj, po->param, name, arg);
  }
  *handled = false;
  return true;
}

/* --noise-rank: the vbpr_noise_rank named. */
static bool noise_rank(const char *arg, int *out)
{
  static const struct { const char *name; int value; } names[] = {
    {"auto", VBPR_NOISE_RANK_AUTO}, {"weight", VBPR_NOISE_RANK_WEIGHT},
    {"loss", VBPR_NOISE_RANK_LOSS}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(arg, names[i].name) == 0) {
      *out = names[i].value;
      return true;
    }
  fprintf(stderr, "vbpr-train: --noise-rank expects auto, weight or loss, got '%s'\n", arg);
  return false;
}

static bool handle_other(int code, const char *name, const char *arg, cli_config *cfg,
                         bool *exit_now)
{
  long top = 0;
  switch (code) {
  case O_NOISE_REPORT:
    cfg->noise_path = arg;
    return add_setting(cfg, CLI_TRAINER, "noise_track", name, "1");
  case O_NOISE_RANK: return noise_rank(arg, &cfg->noise_rank);
  case O_CHECKPOINT: cfg->checkpoint_path = arg; return true;
  case O_RESUME: cfg->resume_path = arg; return true;
  case O_NOISE_TOP:
    if (!integer(name, arg, 0, 2147483647L, &top)) return false;
    cfg->noise_top = (size_t)top;
    return true;
  case O_TRAIN: cfg->train_path = arg; return true;
  case O_TEST: cfg->test_path = arg; return true;
  case O_ITEMS_FROM: cfg->items_from = arg; return true;
  case O_FORMAT: return data_value(name, arg, false, "format", &cfg->format);
  case O_NUM_ITEMS: return data_value(name, arg, false, "num_items", &cfg->num_items);
  case O_SYNTH_SEED: return data_value(name, arg, true, "seed", &cfg->synth_seed);
  case O_SYNTH_NOISE: return data_value(name, arg, true, "false_positives", &cfg->synth_noise);
  case O_C: return add_setting(cfg, CLI_LOSS, "c_pos", name, arg) &&
                   add_setting(cfg, CLI_LOSS, "c_neg", name, arg);
  case O_EPOCHS: return trainer_value(name, arg, "epochs", &cfg->epochs);
  case O_EVAL_EVERY: return trainer_value(name, arg, "eval_every", &cfg->eval_every);
  case O_THREADS: return integer(name, arg, 0, VBPR_MAX_THREADS, &cfg->threads);
  case O_K: return parse_ks(arg, cfg);
  case O_TIMEOUT: {
    long t = 0;
    if (!integer(name, arg, 1, 31536000, &t)) return false;
    cfg->timeout = (double)t;
    return true;
  }
  case O_COMPARE: cfg->compare = true; return true;
  case O_PRESET: return add_preset(cfg, name, arg);
  case O_FUSED: return add_setting(cfg, CLI_TRAINER, "fused", name, "on");
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
                      .synth_noise = 0.2, .timeout = 600,
                      .noise_rank = VBPR_NOISE_RANK_AUTO};
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
  if (cfg->compare && (cfg->checkpoint_path || cfg->resume_path)) {
    fprintf(stderr, "vbpr-train: --checkpoint and --resume train one configuration: "
                    "drop --compare\n");
    return false;
  }
  return true;
}

static vbpr_status get_one(vbpr_trainer *tr, const cli_setting *c, double *v)
{
  switch (c->obj) {
  case CLI_TRAINER: return vbpr_trainer_get(tr, (vbpr_trainer_param)c->param, v);
  case CLI_LOSS: return vbpr_loss_get(vbpr_trainer_loss(tr), (vbpr_loss_param)c->param, v);
  case CLI_SAMPLER:
    return vbpr_sampler_get(vbpr_trainer_sampler(tr), (vbpr_sampler_param)c->param, v);
  case CLI_OPTIM: return vbpr_optim_get(vbpr_trainer_optim(tr), (vbpr_optim_param)c->param, v);
  case CLI_ENCODER:
    return vbpr_encoder_get(vbpr_trainer_encoder(tr), (vbpr_encoder_param)c->param, v);
  }
  return VBPR_ERR_INVALID_ARGUMENT;
}

static vbpr_status set_one(vbpr_trainer *tr, const cli_setting *c)
{
  switch (c->obj) {
  case CLI_TRAINER: return vbpr_trainer_set(tr, (vbpr_trainer_param)c->param, c->value);
  case CLI_LOSS: return vbpr_loss_set(vbpr_trainer_loss(tr), (vbpr_loss_param)c->param, c->value);
  case CLI_SAMPLER:
    return vbpr_sampler_set(vbpr_trainer_sampler(tr), (vbpr_sampler_param)c->param, c->value);
  case CLI_OPTIM: return vbpr_optim_set(vbpr_trainer_optim(tr), (vbpr_optim_param)c->param, c->value);
  case CLI_ENCODER:
    return vbpr_encoder_set(vbpr_trainer_encoder(tr), (vbpr_encoder_param)c->param, c->value);
  }
  return VBPR_ERR_INVALID_ARGUMENT;
}

/* Sets a value only when it differs: setting a sampler parameter restarts
 * its epoch, which would lose a resumed run's position. */
static vbpr_status apply_one(vbpr_trainer *tr, const cli_setting *c)
{
  double v;
  if (get_one(tr, c, &v) == VBPR_OK && v == c->value) return VBPR_OK;
  return set_one(tr, c);
}

/* A loss setting that does not apply to this loss kind (any setting but
 * M = N = 1 on BPR): skipped, so that --compare trains BPR with the flags of
 * the Variational run. */
static bool applies(vbpr_trainer *tr, const cli_setting *c)
{
  if (c->obj != CLI_LOSS) return true;
  vbpr_param_bounds b;
  vbpr_loss_kind kind = vbpr_loss_get_kind(vbpr_trainer_loss(tr));
  return vbpr_loss_param_bounds(kind, (vbpr_loss_param)c->param, &b) == VBPR_OK &&
         c->value >= b.min && c->value <= b.max;
}

bool cli_apply(const cli_config *cfg, vbpr_trainer *tr, const cli_setting *extra,
               size_t nextra)
{
  char what[64];
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && vbpr_trainer_prepare(tr) != VBPR_OK) {
      cli_error("preparing the trainer");
      return false;
    }
    for (size_t i = 0; i < cfg->nsettings + nextra; i++) {
      const cli_setting *c = i < cfg->nsettings ? &cfg->settings[i]
                                                : &extra[i - cfg->nsettings];
      if ((c->obj == CLI_TRAINER) != (pass == 0) || (pass == 1 && !applies(tr, c))) continue;
      vbpr_status st = apply_one(tr, c);
      double had = 0;
      if (st == VBPR_ERR_STATE && get_one(tr, c, &had) == VBPR_OK) {
        /* only after a --resume: the checkpoint's model is fixed */
        fprintf(stderr, "vbpr-train: --%s %g differs from the checkpoint's %g; a resumed "
                        "run keeps its model\n", c->flag, c->value, had);
        return false;
      }
      if (st != VBPR_OK) {
        snprintf(what, sizeof what, "--%s", c->flag);
        cli_error(what);
        return false;
      }
    }
  }
  if (vbpr_trainer_set_ks(tr, cfg->nks, cfg->ks) != VBPR_OK) {
    cli_error("--k");
    return false;
  }
  return true;
}
