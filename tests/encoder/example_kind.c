/* The worked example of doc/encoder.md, "Adding an encoder kind": a complete
 * encoder kind in one file, compiled into the ops test and checked there
 * against the same contract as the registered kinds. It shows that a kind
 * plugs in through the ops table alone, without touching encoder.c.
 *
 * "Dense MF": the embedding of an id is its table row, as MF, but the
 * gradient is kept dense (every row counts as touched after a backward), so
 * the state is only a list of row ids and a flag. In the library this file
 * would be lib/encoder/dense_mf.c, listed in lib/encoder/meson.build, with
 * VBPR_ENCODER_DENSE_MF = 3 and a public vbpr_encoder_create_dense_mf() in
 * include/vbpr/encoder.h; here the kind number is 99 (no public enum value)
 * and the constructor is test_example_create(). */
#include <string.h>

#include "core/core.h"
#include "encoder/encoder_impl.h"
#include "example_kind.h"

typedef struct dense_state {
  int32_t *iota;    /* [max(num_users, num_items)] 0, 1, ...: touched rows */
  bool all_touched; /* a backward since the last zero_grad */
} dense_state;

/* The node embeddings are the parameters themselves. */
static vbpr_status dense_source(vbpr_encoder *e, vbpr__source_use use, const float **nodes,
                                const char *func)
{
  (void)use, (void)func;
  *nodes = e->param;
  return VBPR_OK;
}

/* dL/dparam of a row is the sum of the batch gradients of its id. */
static void dense_backward(vbpr_encoder *e, const vbpr__batch *b, const vbpr__batch_grad *g)
{
  vbpr__encoder_scatter_rows(e, b, g, e->grad);
  ((dense_state *)e->state)->all_touched = true;
}

static void dense_zero_grad(vbpr_encoder *e)
{
  dense_state *s = e->state;
  if (s->all_touched) memset(e->grad, 0, e->n_elems * sizeof(float));
  s->all_touched = false;
}

static void dense_touched_rows(const vbpr_encoder *e, vbpr_table table, const int32_t **rows,
                               int32_t *count)
{
  const dense_state *s = e->state;
  *rows = s->iota;
  *count = !s->all_touched ? 0 : table == VBPR_TABLE_USERS ? e->num_users : e->num_items;
}

static void dense_free_state(void *state)
{
  dense_state *s = state;
  vbpr__free(s->iota);
  vbpr__free(s);
}

static vbpr_status dense_create_for(const vbpr_dataset *train, int32_t dim,
                                    int32_t num_layers, uint64_t seed, vbpr_encoder **out);

/* In the library: `const vbpr__encoder_kind_info vbpr__encoder_kind_dense_mf`,
 * the name the registry expects of the Meson line ['dense_mf', true]. */
const vbpr__encoder_kind_info test_example_kind = {
  .kind = (vbpr_encoder_kind)TEST_EXAMPLE_KIND,
  .name = "DenseMF",
  .module = "dense_mf",
  .min_layers = 0,
  .max_layers = 0,
  .built = true,
  .create = dense_create_for,
  .init = VBPR_INIT_NORMAL,
  .init_scale = 0.01,
};

static const vbpr__encoder_ops dense_ops = {
  .info = &test_example_kind,
  .source = dense_source,
  .backward = dense_backward,
  .zero_grad = dense_zero_grad,
  .touched_rows = dense_touched_rows,
  .free_state = dense_free_state,
  /* .extra_loss: none (NULL) */
};

static vbpr_status dense_new(int32_t num_users, int32_t num_items, int32_t dim, uint64_t seed,
                             vbpr_encoder **out, const char *func)
{
  vbpr_status st = vbpr__encoder_check_sizes(num_users, num_items, dim, func);
  if (st != VBPR_OK) return st;
  vbpr_encoder *e = NULL;
  st = vbpr__encoder_alloc(&dense_ops, num_users, num_items, dim, 0, VBPR_INIT_NORMAL, 0.01,
                           seed, &e, func);
  if (st != VBPR_OK) return st;
  dense_state *s = vbpr__calloc(1, sizeof *s);
  e->state = s; /* from here on, vbpr_encoder_destroy frees it */
  int32_t n = num_users > num_items ? num_users : num_items;
  if (s != NULL) s->iota = vbpr__malloc_array((size_t)n, sizeof(int32_t));
  if (s == NULL || s->iota == NULL) {
    vbpr_encoder_destroy(e);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate %d row ids", (int)n);
  }
  for (int32_t i = 0; i < n; i++) s->iota[i] = i;
  *out = e;
  return VBPR_OK;
}

/* The registry's way in: only the universe sizes of the training data. */
static vbpr_status dense_create_for(const vbpr_dataset *train, int32_t dim,
                                    int32_t num_layers, uint64_t seed, vbpr_encoder **out)
{
  (void)num_layers;
  *out = NULL;
  return dense_new(vbpr_dataset_num_users(train), vbpr_dataset_num_items(train), dim, seed,
                   out, "test_example_create");
}

/* The public constructor (vbpr_encoder_create_dense_mf in the library). */
vbpr_status test_example_create(int32_t num_users, int32_t num_items, int32_t dim,
                                uint64_t seed, vbpr_encoder **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  return dense_new(num_users, num_items, dim, seed, out, __func__);
}
