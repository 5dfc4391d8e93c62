/* The trainer's handle: its own parameters, K set, callback, getters and
 * the evaluation history. The pipeline itself is in epoch.c. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "core/params.h"
#include "dataset/dataset_internal.h"
#include "encoder/encoder_kinds.h"
#include "train/train_internal.h"

/* ---- parameter table ----------------------------------------------------- */

/* Every registered encoder kind, by the stem of its source file (the list
 * of lib/encoder/meson.build): a new kind needs no line here. Kinds are
 * numbered 1..NUM_KINDS. */
#define KIND_NAME(stem, ENUM) {#stem, VBPR_ENCODER_##ENUM},
#define KIND_COUNT(stem, ENUM) +1
#define KIND_CHECK(stem, ENUM)                                                     \
  _Static_assert((int)VBPR_ENCODER_##ENUM >= 1 && (int)VBPR_ENCODER_##ENUM <= (int)NUM_KINDS, \
                 "encoder kinds are numbered 1..NUM_KINDS");
enum { NUM_KINDS = 0 VBPR__ENCODER_KINDS(KIND_COUNT) };
VBPR__ENCODER_KINDS(KIND_CHECK)
static const vbpr__named_value encoder_names[] = {VBPR__ENCODER_KINDS(KIND_NAME){NULL, 0}};
static const vbpr__named_value init_names[] = {
  {"default", 0}, {"normal", VBPR_INIT_NORMAL}, {"xavier", VBPR_INIT_XAVIER_NORMAL},
  {"xavier_normal", VBPR_INIT_XAVIER_NORMAL}, {NULL, 0}};
static const vbpr__named_value loss_names[] = {
  {"bpr", VBPR_LOSS_BPR}, {"variational", VBPR_LOSS_VARIATIONAL},
  {"infonce", VBPR_LOSS_INFONCE}, {NULL, 0}};
static const vbpr__named_value optim_names[] = {
  {"sgd", VBPR_OPTIM_SGD}, {"adam", VBPR_OPTIM_ADAM}, {"lazy_adam", VBPR_OPTIM_LAZY_ADAM},
  {"adagrad", VBPR_OPTIM_ADAGRAD}, {"sparse_adam", VBPR_OPTIM_SPARSE_ADAM}, {NULL, 0}};
static const vbpr__named_value fused_names[] = {{"off", 0}, {"on", 1}, {NULL, 0}};

#define NAMED (VBPR_PARAM_INTEGRAL | VBPR_PARAM_NAMED)
#define INT_SPEC(nm, lo, hi, def) {nm, lo, hi, def, VBPR_PARAM_INTEGRAL, NULL}
#define PRIOR_SPEC(nm) {nm, 0, 1e3, 0, 0, NULL}

static const vbpr__param_spec specs[] = {
  [VBPR_TRAINER_ENCODER] = {"encoder", 1, NUM_KINDS, VBPR_ENCODER_MF, NAMED, encoder_names},
  [VBPR_TRAINER_DIM] = INT_SPEC("dim", 1, VBPR_ENCODER_MAX_DIM, 64),
  [VBPR_TRAINER_LAYERS] = INT_SPEC("layers", 1, VBPR_LIGHTGCN_MAX_LAYERS, 1),
  [VBPR_TRAINER_INIT] = {"init", 0, 2, 0, NAMED, init_names},
  [VBPR_TRAINER_INIT_SCALE] = {"init_scale", 0, 1e3, 0, 0, NULL},
  [VBPR_TRAINER_LOSS] = {"loss", 1, 3, VBPR_LOSS_VARIATIONAL, NAMED, loss_names},
  [VBPR_TRAINER_OPTIMIZER] = {"optimizer", 1, 5, VBPR_OPTIM_ADAM, NAMED, optim_names},
  [VBPR_TRAINER_SEED] = INT_SPEC("seed", 0, 9007199254740992.0, 42),
  [VBPR_TRAINER_PRIOR_RARITY] = PRIOR_SPEC("prior_rarity"),
  [VBPR_TRAINER_PRIOR_GOOD] = PRIOR_SPEC("prior_good"),
  [VBPR_TRAINER_PRIOR_POPULARITY] = PRIOR_SPEC("prior_popularity"),
  [VBPR_TRAINER_PRIOR_BAD] = PRIOR_SPEC("prior_bad"),
  [VBPR_TRAINER_EPOCHS] = INT_SPEC("epochs", 0, INT32_MAX, 100),
  [VBPR_TRAINER_EVAL_EVERY] = INT_SPEC("eval_every", 0, INT32_MAX, 5),
  [VBPR_TRAINER_FUSED] = {"fused", 0, 1, 0, NAMED, fused_names},
  [VBPR_TRAINER_NOISE_TRACK] = INT_SPEC("noise_track", 0, 1, 0),
  [VBPR_TRAINER_NOISE_MOMENTUM] = {"noise_momentum", 0, 1, 0.9, VBPR_PARAM_MAX_EXCLUSIVE, NULL},
  [VBPR_TRAINER_CHECKPOINT_EVERY] = INT_SPEC("checkpoint_every", 0, INT32_MAX, 1),
};
VBPR__DEFINE_PARAM_TABLE(table, specs, VBPR__TRAIN_LAST_PARAM, "vbpr_trainer_param");
_Static_assert(VBPR__ARRAY_LEN(specs) == VBPR__TRAIN_NPARAMS, "trainer parameter storage");

/* Parameters that choose what prepare builds. */
static bool structural(vbpr_trainer_param p)
{
  return p <= VBPR_TRAINER_SEED;
}

VBPR__PARAM_BOUNDS_API(trainer, vbpr_trainer_param, table)
VBPR__PARAM_NAME_API(trainer, vbpr_trainer_param, table)

/* ---- life cycle ---------------------------------------------------------- */

vbpr_status vbpr_trainer_create(const vbpr_dataset *train, const vbpr_dataset *test,
                                vbpr_trainer **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  VBPR_CHECK_NULL(train);
  if (vbpr_dataset_num_interactions(train) < 1)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "train has no interaction");
  if (test != NULL && (vbpr_dataset_num_users(test) > vbpr_dataset_num_users(train) ||
                       vbpr_dataset_num_items(test) > vbpr_dataset_num_items(train)))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "test universe (%zu users, %zu items) exceeds train's (%zu, %zu); "
                     "load both with one universe",
                     vbpr_dataset_num_users(test), vbpr_dataset_num_items(test),
                     vbpr_dataset_num_users(train), vbpr_dataset_num_items(train));
  vbpr_trainer *tr = vbpr__calloc(1, sizeof *tr);
  if (tr == NULL) return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate the trainer");
  tr->train = vbpr__dataset_retain(train);
  tr->test = test ? vbpr__dataset_retain(test) : NULL;
  for (size_t p = 1; p < table.n; p++) tr->param[p] = specs[p].def;
  tr->ks[0] = 20;
  tr->nks = 1;
  *out = tr;
  return VBPR_OK;
}

void vbpr_trainer_destroy(vbpr_trainer *tr)
{
  if (tr == NULL) return;
  vbpr__trainer_release(tr);
  vbpr__trainer_dp_free(tr);
  vbpr__trainer_noise_free(&tr->noise);
  vbpr__free(tr->history);
  vbpr__free(tr->checkpoint_path);
  vbpr__dataset_release(tr->train);
  if (tr->test != NULL) vbpr__dataset_release(tr->test);
  vbpr__free(tr);
}

/* ---- parameters ---------------------------------------------------------- */

vbpr_status vbpr_trainer_set(vbpr_trainer *tr, vbpr_trainer_param p, double value)
{
  VBPR_CHECK_NULL(tr);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(&table, (int)p, &spec, __func__);
  if (st == VBPR_OK) st = vbpr__param_check(spec, value, __func__);
  if (st != VBPR_OK) return st;
  if (tr->prepared && structural(p) && value != tr->param[p])
    return VBPR_FAIL(VBPR_ERR_STATE,
                     "%s chooses what vbpr_trainer_prepare() builds and cannot change "
                     "after it", spec->name);
  tr->param[p] = value;
  return VBPR_OK;
}

vbpr_status vbpr_trainer_get(const vbpr_trainer *tr, vbpr_trainer_param p, double *value)
{
  VBPR_CHECK_NULL(tr);
  VBPR_CHECK_NULL(value);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(&table, (int)p, &spec, __func__);
  if (st != VBPR_OK) return st;
  *value = tr->param[p];
  return VBPR_OK;
}

vbpr_status vbpr_trainer_set_ks(vbpr_trainer *tr, size_t n, const size_t *ks)
{
  VBPR_CHECK_NULL(tr);
  VBPR_CHECK_NULL(ks);
  if (n < 1 || n > VBPR_EVALUATOR_MAX_KS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "n must be in [1, %d], got %zu",
                     VBPR_EVALUATOR_MAX_KS, n);
  for (size_t i = 0; i < n; i++) {
    if (ks[i] < 1 || ks[i] > VBPR_EVALUATOR_MAX_K)
      return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "ks[%zu] must be in [1, %d], got %zu", i,
                       VBPR_EVALUATOR_MAX_K, ks[i]);
    for (size_t j = 0; j < i; j++)
      if (ks[j] == ks[i])
        return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "ks[%zu] = %zu repeats ks[%zu]", i,
                         ks[i], j);
  }
  if (tr->ev != NULL) {
    vbpr_status st = vbpr_evaluator_set_ks(tr->ev, n, ks);
    if (st != VBPR_OK) return st;
  }
  memcpy(tr->ks, ks, n * sizeof *ks);
  tr->nks = n;
  tr->evaluated = false;
  return VBPR_OK;
}

vbpr_status vbpr_trainer_set_progress(vbpr_trainer *tr, vbpr_trainer_progress_fn fn,
                                      void *user_data)
{
  VBPR_CHECK_NULL(tr);
  tr->progress = fn;
  tr->progress_data = user_data;
  return VBPR_OK;
}

/* ---- parts --------------------------------------------------------------- */

int64_t vbpr_trainer_epochs_done(const vbpr_trainer *tr) { return tr ? tr->epochs_done : 0; }
vbpr_encoder *vbpr_trainer_encoder(vbpr_trainer *tr) { return tr ? tr->enc : NULL; }
vbpr_loss *vbpr_trainer_loss(vbpr_trainer *tr) { return tr ? tr->loss : NULL; }
vbpr_sampler *vbpr_trainer_sampler(vbpr_trainer *tr) { return tr ? tr->sampler : NULL; }
vbpr_optim *vbpr_trainer_optim(vbpr_trainer *tr) { return tr ? tr->opt : NULL; }
vbpr_evaluator *vbpr_trainer_evaluator(vbpr_trainer *tr) { return tr ? tr->ev : NULL; }

/* ---- evaluation and history ---------------------------------------------- */

vbpr_status vbpr_trainer_evaluate(vbpr_trainer *tr)
{
  VBPR_CHECK_NULL(tr);
  if (tr->test == NULL)
    return VBPR_FAIL(VBPR_ERR_STATE, "the trainer was created without a test set");
  vbpr_status st = vbpr_trainer_prepare(tr);
  if (tr->dp != NULL) { /* every rank evaluates its share of the users */
    tr->evaluated = false;
    st = vbpr__trainer_dp_evaluate(tr, st, __func__);
    if (st == VBPR_OK) st = vbpr__trainer_dp_lost(tr, vbpr__trainer_record(tr, __func__));
    if (st != VBPR_OK) return st;
    tr->evaluated = true;
    return VBPR_OK;
  }
  if (st != VBPR_OK) return st;
  const float *users, *items;
  st = vbpr_encoder_embeddings(tr->enc, &users, &items);
  if (st != VBPR_OK) return st;
  tr->evaluated = false;
  st = vbpr_evaluator_run(tr->ev, vbpr_dataset_num_users(tr->train),
                          vbpr_dataset_num_items(tr->train), (size_t)vbpr_encoder_dim(tr->enc),
                          users, items);
  if (st == VBPR_OK) st = vbpr__trainer_record(tr, __func__);
  if (st != VBPR_OK) return st;
  tr->evaluated = true;
  return VBPR_OK;
}

vbpr_status vbpr__trainer_record(vbpr_trainer *tr, const char *func)
{
  if (tr->n_history == tr->history_cap) {
    size_t cap = tr->history_cap ? 2 * tr->history_cap : 16;
    vbpr__eval_record *h = vbpr__realloc_array(tr->history, cap, sizeof *h);
    if (h == NULL)
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                         "cannot grow the evaluation history to %zu entries", cap);
    tr->history = h;
    tr->history_cap = cap;
  }
  vbpr__eval_record *r = &tr->history[tr->n_history];
  r->epoch = tr->epochs_done;
  r->nks = tr->nks;
  memcpy(r->ks, tr->ks, tr->nks * sizeof tr->ks[0]);
  for (int m = 0; m < VBPR__N_METRICS_TRAIN; m++)
    for (size_t k = 0; k < tr->nks; k++) {
      vbpr_status st = vbpr_evaluator_metric(tr->ev, (vbpr_metric)(m + 1), tr->ks[k],
                                             &r->value[m][k]);
      if (st != VBPR_OK) return st;
    }
  tr->n_history++;
  return VBPR_OK;
}

vbpr_status vbpr_trainer_metric(const vbpr_trainer *tr, vbpr_metric metric, size_t k,
                                double *value)
{
  VBPR_CHECK_NULL(tr);
  VBPR_CHECK_NULL(value);
  if (!tr->evaluated)
    return VBPR_FAIL(VBPR_ERR_STATE, "no evaluation yet: call vbpr_trainer_evaluate()");
  return vbpr_evaluator_metric(tr->ev, metric, k, value);
}

size_t vbpr_trainer_evaluation_count(const vbpr_trainer *tr)
{
  return tr ? tr->n_history : 0;
}

vbpr_status vbpr_trainer_evaluation(const vbpr_trainer *tr, size_t index, vbpr_metric metric,
                                    size_t k, int64_t *epoch, double *value)
{
  VBPR_CHECK_NULL(tr);
  if (index >= tr->n_history)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "index must be below the %zu evaluations, "
                     "got %zu", tr->n_history, index);
  if ((int)metric < 1 || (int)metric > VBPR__N_METRICS_TRAIN)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "metric must be a vbpr_metric in [1, %d], "
                     "got %d", VBPR__N_METRICS_TRAIN, (int)metric);
  const vbpr__eval_record *r = &tr->history[index];
  size_t j = 0;
  while (j < r->nks && r->ks[j] != k) j++;
  if (j == r->nks)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "k = %zu was not evaluated by evaluation "
                     "%zu", k, index);
  if (epoch != NULL) *epoch = r->epoch;
  if (value != NULL) *value = r->value[metric - 1][j];
  return VBPR_OK;
}
