/* Matrix factorisation: the embedding of an id is its table row, so the
 * node embeddings are the parameters themselves, and backward adds each
 * gradient row to its id's row. The state is the set of touched rows: a
 * mark per node and a list per table, so that zero_grad and a lazy
 * optimizer cost O(touched rows x dim), not O(table). Built when the "mf"
 * module is on; mf_stub.c stands in otherwise. */
#include <string.h>

#include "core/core.h"
#include "encoder/encoder_impl.h"

/* The reference code initialises both tables with Normal(0, 0.01^2). */
#define MF_DEFAULT_STD 0.01

typedef struct mf_state {
  uint8_t *mark;                             /* [n_nodes] 1 = touched */
  int32_t *touched[VBPR_ENCODER_NUM_TABLES]; /* [rows of the table] */
  int32_t n_touched[VBPR_ENCODER_NUM_TABLES];
} mf_state;

/* ---- ops --------------------------------------------------------------- */

static vbpr_status mf_source(vbpr_encoder *e, vbpr__source_use use, const float **nodes,
                             const char *func)
{
  (void)use, (void)func;
  *nodes = e->param;
  return VBPR_OK;
}

static inline void add_row(float *restrict dst, const float *restrict src, size_t dim)
{
  for (size_t j = 0; j < dim; j++) dst[j] += src[j];
}

/* Adds the rows of g to the rows of `ids` in one table and records them. */
static void scatter(vbpr_encoder *e, mf_state *s, vbpr_table table, const int32_t *ids,
                    size_t count, const float *g)
{
  size_t d = (size_t)e->dim;
  size_t row0 = table == VBPR_TABLE_USERS ? 0 : (size_t)e->num_users;
  for (size_t i = 0; i < count; i++) {
    size_t node = row0 + (size_t)ids[i];
    if (!s->mark[node]) {
      s->mark[node] = 1;
      s->touched[table][s->n_touched[table]++] = ids[i];
    }
    add_row(e->grad + node * d, g + i * d, d);
  }
}

static void mf_backward(vbpr_encoder *e, const vbpr__batch *b, const vbpr__batch_grad *g)
{
  mf_state *s = e->state;
  scatter(e, s, VBPR_TABLE_USERS, b->users, b->batch, g->user);
  if (b->m > 0) scatter(e, s, VBPR_TABLE_ITEMS, b->pos, b->batch * b->m, g->pos);
  if (b->n > 0) scatter(e, s, VBPR_TABLE_ITEMS, b->neg, b->batch * b->n, g->neg);
}

static void mf_zero_grad(vbpr_encoder *e)
{
  mf_state *s = e->state;
  size_t d = (size_t)e->dim;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    size_t row0 = t == VBPR_TABLE_USERS ? 0 : (size_t)e->num_users;
    for (int32_t i = 0; i < s->n_touched[t]; i++) {
      size_t node = row0 + (size_t)s->touched[t][i];
      memset(e->grad + node * d, 0, d * sizeof(float));
      s->mark[node] = 0;
    }
    s->n_touched[t] = 0;
  }
}

static void mf_touched_rows(const vbpr_encoder *e, vbpr_table table, const int32_t **rows,
                            int32_t *count)
{
  const mf_state *s = e->state;
  *rows = s->touched[table];
  *count = s->n_touched[table];
}

static void mf_touch_rows(vbpr_encoder *e, vbpr_table table, const int32_t *rows,
                          size_t count)
{
  mf_state *s = e->state;
  size_t row0 = table == VBPR_TABLE_USERS ? 0 : (size_t)e->num_users;
  for (size_t i = 0; i < count; i++) {
    size_t node = row0 + (size_t)rows[i];
    if (s->mark[node]) continue;
    s->mark[node] = 1;
    s->touched[table][s->n_touched[table]++] = rows[i];
  }
}

static void mf_free_state(void *state)
{
  mf_state *s = state;
  vbpr__free(s->mark);
  vbpr__free(s->touched[VBPR_TABLE_USERS]);
  vbpr__free(s->touched[VBPR_TABLE_ITEMS]);
  vbpr__free(s);
}

static vbpr_status mf_create_for(const vbpr_dataset *train, int32_t dim, int32_t num_layers,
                                 uint64_t seed, vbpr_encoder **out);

const vbpr__encoder_kind_info vbpr__encoder_kind_mf = {
  .kind = VBPR_ENCODER_MF,
  .name = "MF",
  .module = "mf",
  .min_layers = 0,
  .max_layers = 0,
  .built = true,
  .create = mf_create_for,
  .init = VBPR_INIT_NORMAL,
  .init_scale = MF_DEFAULT_STD,
};

static const vbpr__encoder_ops mf_ops = {
  .info = &vbpr__encoder_kind_mf,
  .source = mf_source,
  .backward = mf_backward,
  .zero_grad = mf_zero_grad,
  .touched_rows = mf_touched_rows,
  .free_state = mf_free_state,
  .touch_rows = mf_touch_rows,
};

/* ---- construction ------------------------------------------------------ */

static mf_state *mf_state_new(int32_t num_users, int32_t num_items)
{
  mf_state *s = vbpr__calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->mark = vbpr__calloc((size_t)num_users + (size_t)num_items, 1);
  s->touched[VBPR_TABLE_USERS] = vbpr__malloc_array((size_t)num_users, sizeof(int32_t));
  s->touched[VBPR_TABLE_ITEMS] = vbpr__malloc_array((size_t)num_items, sizeof(int32_t));
  if (s->mark && s->touched[VBPR_TABLE_USERS] && s->touched[VBPR_TABLE_ITEMS]) return s;
  mf_free_state(s);
  return NULL;
}

static vbpr_status mf_new(int32_t num_users, int32_t num_items, int32_t dim, uint64_t seed,
                          vbpr_encoder **out, const char *func)
{
  vbpr_status st = vbpr__encoder_check_sizes(num_users, num_items, dim, func);
  if (st != VBPR_OK) return st;
  vbpr_encoder *e = NULL;
  st = vbpr__encoder_alloc(&mf_ops, num_users, num_items, dim, 0, VBPR_INIT_NORMAL,
                           MF_DEFAULT_STD, seed, &e, func);
  if (st != VBPR_OK) return st;
  e->state = mf_state_new(num_users, num_items);
  if (e->state == NULL) {
    vbpr_encoder_destroy(e);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                       "cannot allocate the touched rows of %d users and %d items",
                       (int)num_users, (int)num_items);
  }
  *out = e;
  return VBPR_OK;
}

/* The trainer's way in (registry): MF needs only the universe sizes. */
static vbpr_status mf_create_for(const vbpr_dataset *train, int32_t dim, int32_t num_layers,
                                 uint64_t seed, vbpr_encoder **out)
{
  (void)num_layers;
  *out = NULL;
  return mf_new(vbpr_dataset_num_users(train), vbpr_dataset_num_items(train), dim, seed, out,
                "vbpr_encoder_create_mf");
}

vbpr_status vbpr_encoder_create_mf(size_t num_users, size_t num_items, size_t dim,
                                   uint64_t seed, vbpr_encoder **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  vbpr_status st = vbpr__encoder_check_sizes(num_users, num_items, dim, __func__);
  if (st != VBPR_OK) return st;
  return mf_new((int32_t)num_users, (int32_t)num_items, (int32_t)dim, seed, out, __func__);
}
