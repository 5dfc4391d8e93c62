/* Checkpoint and resume of a trainer (train.h, "Checkpoints";
 * doc/checkpoint-format.md). Each part writes and reads its own section
 * (loss/loss_state.c, sampler/sampler_state.c, optim.c,
 * encoder/encoder_state.c); this file writes the trainer's own state and
 * the data's fingerprint, and restores into a fresh trainer that replaces
 * the caller's only when everything was read. */
#include <string.h>

#include "core/ckpt.h"
#include "core/core.h"
#include "encoder/encoder_state.h"
#include "loss/loss_state.h"
#include "optim/optim_state.h"
#include "sampler/sampler_state.h"
#include "train/train_internal.h"

#define DATA_VERSION 1u
#define TRAINER_VERSION 1u
#define NOISE_VERSION 1u

/* ---- the data's fingerprint ---------------------------------------------- */

/* FNV-1a of the little-endian bytes of n elements of `size` bytes. */
static uint64_t hash_le(uint64_t h, const void *data, size_t n, size_t size)
{
  const unsigned char *p = data;
  unsigned char buf[8 * 512];
  for (size_t i = 0; i < n;) {
    size_t k = n - i < 512 ? n - i : 512;
    for (size_t j = 0; j < k; j++, i++) {
      uint64_t v = 0;
      memcpy(&v, p + i * size, size); /* host order, low bytes first on LE */
      if (size == 4) {
        uint32_t x;
        memcpy(&x, p + i * size, 4);
        vbpr__put_u32(buf + j * 4, x);
      } else {
        vbpr__put_u64(buf + j * 8, v);
      }
    }
    h = vbpr__fnv1a(h, buf, k * size);
  }
  return h;
}

/* Sizes, CSR and ratings: two datasets with one fingerprint train alike. */
static uint64_t fingerprint(const vbpr_dataset *ds)
{
  if (ds == NULL) return 0;
  const int64_t *off;
  const int32_t *items;
  const float *ratings;
  vbpr_dataset_csr(ds, &off, &items, &ratings);
  size_t nu = vbpr_dataset_num_users(ds), nnz = vbpr_dataset_num_interactions(ds);
  uint64_t sizes[3] = {nu, vbpr_dataset_num_items(ds), nnz};
  uint64_t h = hash_le(VBPR__FNV_OFFSET, sizes, 3, 8);
  h = hash_le(h, off, nu + 1, 8);
  h = hash_le(h, items, nnz, 4);
  if (ratings) h = hash_le(h, ratings, nnz, 4);
  return h;
}

static void ensure_prints(vbpr_trainer *tr)
{
  if (tr->have_print) return;
  tr->data_print[0] = fingerprint(tr->train);
  tr->data_print[1] = fingerprint(tr->test);
  tr->have_print = true;
}

static void put_data(const vbpr_dataset *ds, uint64_t print, vbpr__ckpt_writer *w)
{
  vbpr__ckpt_put_u64(w, vbpr_dataset_num_users(ds));
  vbpr__ckpt_put_u64(w, vbpr_dataset_num_items(ds));
  vbpr__ckpt_put_u64(w, vbpr_dataset_num_interactions(ds));
  vbpr__ckpt_put_u64(w, print);
}

static void write_data(const void *obj, vbpr__ckpt_writer *w)
{
  const vbpr_trainer *tr = obj;
  put_data(tr->train, tr->data_print[0], w);
  vbpr__ckpt_put_u32(w, tr->test != NULL);
  if (tr->test) put_data(tr->test, tr->data_print[1], w);
}

static vbpr_status check_one(vbpr__ckpt_reader *r, const vbpr_dataset *ds, uint64_t print,
                             const char *which)
{
  uint64_t nu = vbpr__ckpt_get_u64(r), ni = vbpr__ckpt_get_u64(r);
  uint64_t nnz = vbpr__ckpt_get_u64(r), p = vbpr__ckpt_get_u64(r);
  if (r->st != VBPR_OK || p == print) return r->st;
  return r->st = vbpr__error(VBPR_ERR_INVALID_ARGUMENT, r->func,
                             "'%s' was written for other %s data (%llu users, %llu items, "
                             "%llu interactions), not this trainer's (%zu, %zu, %zu)",
                             r->path, which, (unsigned long long)nu, (unsigned long long)ni,
                             (unsigned long long)nnz, vbpr_dataset_num_users(ds),
                             vbpr_dataset_num_items(ds), vbpr_dataset_num_interactions(ds));
}

static vbpr_status read_data(vbpr_trainer *tr, vbpr__ckpt_reader *r)
{
  if (check_one(r, tr->train, tr->data_print[0], "training") != VBPR_OK) return r->st;
  uint32_t has_test = vbpr__ckpt_get_u32(r);
  if (r->st == VBPR_OK && has_test != (tr->test != NULL))
    return r->st = vbpr__error(VBPR_ERR_INVALID_ARGUMENT, r->func,
                               "'%s' was written for a trainer %s a test set", r->path,
                               has_test ? "with" : "without");
  if (r->st == VBPR_OK && has_test) check_one(r, tr->test, tr->data_print[1], "test");
  return vbpr__ckpt_done(r);
}

/* ---- the trainer's own state --------------------------------------------- */

static void write_trainer(const void *obj, vbpr__ckpt_writer *w)
{
  const vbpr_trainer *tr = obj;
  vbpr__ckpt_put_u32(w, VBPR__TRAIN_NPARAMS - 1);
  for (uint32_t p = 1; p < VBPR__TRAIN_NPARAMS; p++) {
    vbpr__ckpt_put_u32(w, p);
    vbpr__ckpt_put_f64(w, tr->param[p]);
  }
  vbpr__ckpt_put_u32(w, (uint32_t)tr->nks);
  for (size_t k = 0; k < tr->nks; k++) vbpr__ckpt_put_u64(w, tr->ks[k]);
  vbpr__ckpt_put_u64(w, (uint64_t)tr->epochs_done);
  vbpr__ckpt_put_f64(w, tr->epoch_loss_sum);
  vbpr__ckpt_put_u64(w, tr->epoch_batches);
  vbpr__ckpt_put_u64(w, tr->n_history);
  for (size_t i = 0; i < tr->n_history; i++) {
    const vbpr__eval_record *h = &tr->history[i];
    vbpr__ckpt_put_u64(w, (uint64_t)h->epoch);
    vbpr__ckpt_put_u32(w, (uint32_t)h->nks);
    for (size_t k = 0; k < h->nks; k++) vbpr__ckpt_put_u64(w, h->ks[k]);
    for (int m = 0; m < VBPR__N_METRICS_TRAIN; m++)
      for (size_t k = 0; k < h->nks; k++) vbpr__ckpt_put_f64(w, h->value[m][k]);
  }
}

static vbpr_status set_param(void *tr, uint32_t p, double v)
{
  return vbpr_trainer_set(tr, (vbpr_trainer_param)p, v);
}

static vbpr_status read_params(vbpr_trainer *tr, vbpr__ckpt_reader *r)
{
  if (vbpr__ckpt_get_params(r, tr, set_param, "trainer") != VBPR_OK) return r->st;
  uint32_t nks = vbpr__ckpt_get_u32(r);
  size_t ks[VBPR_EVALUATOR_MAX_KS];
  if (r->st == VBPR_OK && (nks < 1 || nks > VBPR_EVALUATOR_MAX_KS))
    return vbpr__ckpt_bad(r, "%u cut-offs", (unsigned)nks);
  for (uint32_t k = 0; k < nks && r->st == VBPR_OK; k++) ks[k] = vbpr__ckpt_get_u64(r);
  if (r->st == VBPR_OK && vbpr_trainer_set_ks(tr, nks, ks) != VBPR_OK)
    return vbpr__ckpt_bad(r, "cut-offs refused");
  return r->st;
}

static vbpr_status read_record(vbpr__ckpt_reader *r, vbpr__eval_record *h)
{
  h->epoch = (int64_t)vbpr__ckpt_get_u64(r);
  uint32_t nks = vbpr__ckpt_get_u32(r);
  if (r->st == VBPR_OK && (nks < 1 || nks > VBPR_EVALUATOR_MAX_KS))
    return vbpr__ckpt_bad(r, "an evaluation with %u cut-offs", (unsigned)nks);
  h->nks = nks;
  for (size_t k = 0; k < h->nks; k++) h->ks[k] = vbpr__ckpt_get_u64(r);
  for (int m = 0; m < VBPR__N_METRICS_TRAIN; m++)
    for (size_t k = 0; k < h->nks; k++) h->value[m][k] = vbpr__ckpt_get_f64(r);
  return r->st;
}

static vbpr_status read_trainer(vbpr_trainer *tr, vbpr__ckpt_reader *r)
{
  if (read_params(tr, r) != VBPR_OK) return r->st;
  uint64_t done = vbpr__ckpt_get_u64(r);
  tr->epoch_loss_sum = vbpr__ckpt_get_f64(r);
  tr->epoch_batches = (size_t)vbpr__ckpt_get_u64(r);
  uint64_t n = vbpr__ckpt_get_u64(r);
  /* every record takes at least 12 bytes: the count is bounded by the file */
  if (r->st == VBPR_OK && (done > INT32_MAX || !vbpr__ckpt_has(r, n, 12)))
    return vbpr__ckpt_bad(r, "malformed epoch count or history");
  tr->epochs_done = (int64_t)done;
  if (r->st == VBPR_OK && n > 0) {
    tr->history = vbpr__malloc_array((size_t)n, sizeof *tr->history);
    if (tr->history == NULL)
      return r->st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, r->func,
                                 "cannot allocate %llu evaluations", (unsigned long long)n);
    tr->history_cap = (size_t)n;
  }
  for (uint64_t i = 0; i < n && r->st == VBPR_OK; i++)
    if (read_record(r, &tr->history[i]) == VBPR_OK) tr->n_history++;
  return vbpr__ckpt_done(r);
}

/* ---- noise statistics ---------------------------------------------------- */

static void write_noise(const void *obj, vbpr__ckpt_writer *w)
{
  const vbpr__noise_stats *ns = obj;
  vbpr__ckpt_put_u64(w, ns->n);
  vbpr__ckpt_put_floats(w, ns->n, ns->weight);
  vbpr__ckpt_put_floats(w, ns->n, ns->loss);
  vbpr__ckpt_put_u32s(w, ns->n, ns->visits);
}

static vbpr_status read_noise(vbpr_trainer *tr, vbpr__ckpt_reader *r)
{
  uint64_t n = vbpr__ckpt_get_u64(r);
  if (r->st == VBPR_OK && n != vbpr_dataset_num_interactions(tr->train))
    return vbpr__ckpt_bad(r, "statistics of %llu interactions", (unsigned long long)n);
  vbpr__noise_stats *ns = &tr->noise;
  /* prepare allocated fresh statistics when tracking is on: replaced */
  vbpr__free(ns->weight), vbpr__free(ns->loss), vbpr__free(ns->visits);
  ns->weight = vbpr__malloc_array((size_t)n, sizeof(float));
  ns->loss = vbpr__malloc_array((size_t)n, sizeof(float));
  ns->visits = vbpr__malloc_array((size_t)n, sizeof(uint32_t));
  ns->n = (size_t)n;
  if (ns->weight == NULL || ns->loss == NULL || ns->visits == NULL)
    return r->st = vbpr__error(VBPR_ERR_OUT_OF_MEMORY, r->func,
                               "cannot allocate noise statistics of %zu interactions", ns->n);
  vbpr__ckpt_get_floats(r, ns->n, ns->weight);
  vbpr__ckpt_get_floats(r, ns->n, ns->loss);
  vbpr__ckpt_get_u32s(r, ns->n, ns->visits);
  return vbpr__ckpt_done(r);
}

/* ---- save ---------------------------------------------------------------- */

/* A rank's checkpoint would hold only its shard of the sampler, and the
 * ranks must resume together: not offered yet. */
static vbpr_status refuse_data_parallel(const vbpr_trainer *tr, const char *func)
{
  if (tr->dp == NULL) return VBPR_OK;
  return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                     "checkpoints of data-parallel training are not supported; save the "
                     "model (vbpr_encoder_save) on one rank instead");
}

vbpr_status vbpr__trainer_checkpoint_usable(const vbpr_trainer *tr, const char *func)
{
  return tr->checkpoint_path != NULL ? refuse_data_parallel(tr, func) : VBPR_OK;
}

static vbpr_status save(vbpr_trainer *tr, const char *path, const char *func)
{
  vbpr_status st = refuse_data_parallel(tr, func);
  if (st != VBPR_OK) return st;
  ensure_prints(tr);
  bool noise = tr->noise.weight != NULL;
  vbpr__ckpt_writer w;
  if (vbpr__ckpt_begin(&w, path, noise ? 7 : 6, func) != VBPR_OK) return w.st;
  vbpr__ckpt_section(&w, "DATA", DATA_VERSION, write_data, tr);
  vbpr__ckpt_section(&w, "TRAINER", TRAINER_VERSION, write_trainer, tr);
  vbpr__ckpt_section(&w, "LOSS", VBPR__LOSS_STATE_VERSION, vbpr__loss_state_write, tr->loss);
  vbpr__ckpt_section(&w, "SAMPLER", VBPR__SAMPLER_STATE_VERSION, vbpr__sampler_state_write,
                     tr->sampler);
  vbpr__ckpt_section(&w, "OPTIM", VBPR__OPTIM_STATE_VERSION, vbpr__optim_state_write,
                     tr->opt);
  vbpr__ckpt_section(&w, "ENCODER", VBPR__ENCODER_STATE_VERSION, vbpr__encoder_state_write,
                     tr->enc);
  if (noise) vbpr__ckpt_section(&w, "NOISE", NOISE_VERSION, write_noise, &tr->noise);
  return vbpr__ckpt_commit(&w);
}

vbpr_status vbpr_trainer_save_checkpoint(vbpr_trainer *tr, const char *path)
{
  VBPR_CHECK_NULL(tr);
  VBPR_CHECK_NULL(path);
  if (*path == '\0') return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "path must not be empty");
  vbpr_status st = vbpr_trainer_prepare(tr);
  if (st != VBPR_OK) return st;
  return save(tr, path, __func__);
}

vbpr_status vbpr_trainer_set_checkpoint(vbpr_trainer *tr, const char *path)
{
  VBPR_CHECK_NULL(tr);
  char *copy = NULL;
  if (path != NULL) {
    if (*path == '\0') return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "path must not be empty");
    size_t n = strlen(path) + 1;
    copy = vbpr__malloc(n);
    if (copy == NULL) return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot copy the path");
    memcpy(copy, path, n);
  }
  vbpr__free(tr->checkpoint_path);
  tr->checkpoint_path = copy;
  return VBPR_OK;
}

vbpr_status vbpr__trainer_autosave(vbpr_trainer *tr, bool stopped, const char *func)
{
  if (tr->checkpoint_path == NULL) return VBPR_OK;
  int64_t e = tr->epochs_done, every = (int64_t)tr->param[VBPR_TRAINER_CHECKPOINT_EVERY];
  bool due = stopped || e >= (int64_t)tr->param[VBPR_TRAINER_EPOCHS] ||
             (every > 0 && e % every == 0);
  return due ? save(tr, tr->checkpoint_path, func) : VBPR_OK;
}

/* ---- load ---------------------------------------------------------------- */

typedef vbpr_status (*read_fn)(void *obj, vbpr__ckpt_reader *r);

static vbpr_status read_section(const vbpr__ckpt_file *f, const char *tag, uint32_t version,
                                read_fn fn, void *obj, const char *func)
{
  vbpr__ckpt_reader r;
  vbpr_status st = vbpr__ckpt_find(f, tag, version, &r, NULL, func);
  return st != VBPR_OK ? st : fn(obj, &r);
}

static vbpr_status rd_trainer(void *o, vbpr__ckpt_reader *r) { return read_trainer(o, r); }
static vbpr_status rd_loss(void *o, vbpr__ckpt_reader *r) { return vbpr__loss_state_read(o, r); }
static vbpr_status rd_sampler(void *o, vbpr__ckpt_reader *r)
{
  return vbpr__sampler_state_read(o, r);
}
static vbpr_status rd_optim(void *o, vbpr__ckpt_reader *r) { return vbpr__optim_state_read(o, r); }
static vbpr_status rd_encoder(void *o, vbpr__ckpt_reader *r)
{
  return vbpr__encoder_state_read(o, r);
}

/* Everything after the data check, into the fresh trainer sh. */
static vbpr_status restore(vbpr_trainer *sh, const vbpr__ckpt_file *f, const char *func)
{
  vbpr_status st = read_section(f, "TRAINER", TRAINER_VERSION, rd_trainer, sh, func);
  if (st == VBPR_OK) st = vbpr_trainer_prepare(sh);
  if (st == VBPR_OK)
    st = read_section(f, "LOSS", VBPR__LOSS_STATE_VERSION, rd_loss, sh->loss, func);
  if (st == VBPR_OK)
    st = read_section(f, "SAMPLER", VBPR__SAMPLER_STATE_VERSION, rd_sampler, sh->sampler, func);
  if (st == VBPR_OK)
    st = read_section(f, "OPTIM", VBPR__OPTIM_STATE_VERSION, rd_optim, sh->opt, func);
  if (st == VBPR_OK)
    st = read_section(f, "ENCODER", VBPR__ENCODER_STATE_VERSION, rd_encoder, sh->enc, func);
  bool noise = false;
  vbpr__ckpt_reader r;
  if (st == VBPR_OK) st = vbpr__ckpt_find(f, "NOISE", NOISE_VERSION, &r, &noise, func);
  if (st == VBPR_OK && noise) st = read_noise(sh, &r);
  return st;
}

/* A fresh trainer over tr's data with tr's callback and file, for the
 * restore; it replaces tr only when complete. */
static vbpr_status fresh_like(vbpr_trainer *tr, vbpr_trainer **out, const char *func)
{
  vbpr_status st = vbpr_trainer_create(tr->train, tr->test, out);
  if (st == VBPR_OK) st = vbpr_trainer_set_progress(*out, tr->progress, tr->progress_data);
  if (st == VBPR_OK) st = vbpr_trainer_set_checkpoint(*out, tr->checkpoint_path);
  if (st == VBPR_OK) {
    (*out)->have_print = tr->have_print;
    memcpy((*out)->data_print, tr->data_print, sizeof tr->data_print);
  }
  (void)func;
  if (st != VBPR_OK) {
    vbpr_trainer_destroy(*out);
    *out = NULL;
  }
  return st;
}

vbpr_status vbpr_trainer_load_checkpoint(vbpr_trainer *tr, const char *path)
{
  VBPR_CHECK_NULL(tr);
  VBPR_CHECK_NULL(path);
  vbpr__ckpt_file f;
  vbpr_status st = refuse_data_parallel(tr, __func__);
  if (st != VBPR_OK) return st;
  st = vbpr__ckpt_load(path, &f, __func__);
  if (st != VBPR_OK) return st;
  ensure_prints(tr);
  vbpr_trainer *sh = NULL;
  vbpr__ckpt_reader r;
  st = vbpr__ckpt_find(&f, "DATA", DATA_VERSION, &r, NULL, __func__);
  if (st == VBPR_OK) st = read_data(tr, &r);
  if (st == VBPR_OK) st = fresh_like(tr, &sh, __func__);
  if (st == VBPR_OK) st = restore(sh, &f, __func__);
  vbpr__ckpt_close(&f);
  if (st == VBPR_OK) { /* tr takes sh's state; sh takes tr's old one away */
    vbpr_trainer old = *tr;
    *tr = *sh;
    *sh = old;
  }
  vbpr_trainer_destroy(sh);
  return st;
}
