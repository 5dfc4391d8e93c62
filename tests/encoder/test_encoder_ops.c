/* The encoder kinds' internal interface (lib/encoder/encoder_impl.h): the
 * registry, and the same contract checks run over every registered kind
 * that is built plus the example kind of doc/encoder.md: forward gathers
 * the node embeddings, backward gives the gradient of a linear loss (checked
 * by central differences along a random direction), touched rows cover the
 * non-zero gradient rows once each, gradients accumulate, zero_grad clears,
 * nothing allocates after the first forward. In a modules-off build, the
 * stubs' entries are checked to refuse with VBPR_ERR_UNSUPPORTED. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "encoder/encoder_impl.h"
#include "example_kind.h"
#include "testutil.h"
#include "vbpr/vbpr.h"

/* A tiny graph: user 4 and item 5 have no interactions. */
enum { NU = 5, NI = 6, NNZ = 10, DIM = 3, NN = NU + NI, LAYERS = 2 };
static const int32_t tu[NNZ] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 3};
static const int32_t ti[NNZ] = {0, 1, 3, 1, 2, 0, 2, 3, 4, 4};

/* A batch with repeated ids; users 1 and 3 are not in it. */
enum { B = 4, M = 2, N = 3 };
static const int32_t bu[B] = {0, 2, 4, 0};
static const int32_t bp[B * M] = {0, 1, 2, 4, 5, 0, 3, 3};
static const int32_t bn[B * N] = {5, 2, 4, 1, 1, 3, 0, 2, 4, 5, 5, 1};

static vbpr_dataset *tiny_dataset(void)
{
  vbpr_dataset *ds = NULL;
  ck_assert_ok(vbpr_dataset_create(NU, NI, NNZ, tu, ti, NULL, NULL, &ds));
  return ds;
}

static void fill_values(float *x, size_t n, uint32_t seed)
{
  uint32_t s = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)((double)(s >> 8) / (1 << 24) * 2.0 - 1.0);
  }
}

/* The kinds under test: every registered kind that is built, then the
 * example. *info is the kind's entry; NULL when i is past the end. */
static vbpr_encoder *kind_encoder(size_t i, const vbpr__encoder_kind_info **info)
{
  size_t nk = vbpr__encoder_kind_count();
  vbpr_encoder *enc = NULL;
  *info = NULL;
  if (i < nk) {
    *info = vbpr__encoder_kind_at(i);
    if (!(*info)->built) return NULL;
    vbpr_dataset *ds = tiny_dataset();
    vbpr_status st = vbpr__encoder_create_for((int)(*info)->kind, ds, DIM, LAYERS, 7, &enc);
    vbpr_dataset_destroy(ds);
    ck_assert_msg(st == VBPR_OK, "%s: %s", (*info)->name, vbpr_last_error());
  } else if (i == nk) {
    *info = &test_example_kind;
    ck_assert_ok(test_example_create(NU, NI, DIM, 7, &enc));
  }
  /* Parameters of order 1, so that a dropped term shows. */
  if (enc) ck_assert_ok(vbpr_encoder_init_params(enc, VBPR_INIT_NORMAL, 1.0, 3));
  /* The contract is checked on a deterministic forward: a kind's training
   * noise is off (its noise is tested with the kind). */
  if (enc && (*info)->params &&
      vbpr__param_spec_of((*info)->params, VBPR_ENCODER_NOISE_EPS) != NULL)
    ck_assert_ok(vbpr_encoder_set(enc, VBPR_ENCODER_NOISE_EPS, 0.0));
  return enc;
}

/* ---- the registry ------------------------------------------------------- */

START_TEST(registry_lists_every_kind_in_every_build)
{
  /* Stubs keep their entries: every kind of lib/encoder/meson.build, built
   * or not. */
  ck_assert_uint_eq(vbpr__encoder_kind_count(), TEST_NUM_KINDS);
  ck_assert_uint_ge(vbpr__encoder_kind_count(), 2);
  ck_assert_ptr_null(vbpr__encoder_kind_at(vbpr__encoder_kind_count()));
  for (size_t i = 0; i < vbpr__encoder_kind_count(); i++) {
    const vbpr__encoder_kind_info *k = vbpr__encoder_kind_at(i);
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_eq(vbpr__encoder_kind_find((int)k->kind), k); /* numbers unique */
    ck_assert_str_eq(vbpr__encoder_kind_name((int)k->kind), k->name);
    ck_assert(k->name[0] != '\0' && k->module[0] != '\0');
    ck_assert(k->min_layers >= 0 && k->min_layers <= k->max_layers);
    ck_assert(k->create != NULL);
    ck_assert(k->init == VBPR_INIT_NORMAL || k->init == VBPR_INIT_XAVIER_NORMAL);
    ck_assert(k->init_scale > 0);
  }
  const vbpr__encoder_kind_info *mf = vbpr__encoder_kind_find(VBPR_ENCODER_MF);
  const vbpr__encoder_kind_info *lg = vbpr__encoder_kind_find(VBPR_ENCODER_LIGHTGCN);
  ck_assert_ptr_nonnull(mf);
  ck_assert_ptr_nonnull(lg);
  ck_assert_str_eq(mf->name, "MF");
  ck_assert_str_eq(lg->name, "LightGCN");
  ck_assert_int_eq(mf->built, vbpr_has_module(VBPR_MODULE_MF));
  ck_assert_int_eq(lg->built, vbpr_has_module(VBPR_MODULE_LIGHTGCN));
  ck_assert(mf->max_layers == 0 && lg->min_layers == 1 &&
            lg->max_layers == VBPR_LIGHTGCN_MAX_LAYERS);
  const vbpr__encoder_kind_info *xs = vbpr__encoder_kind_find(VBPR_ENCODER_XSIMGCL);
  ck_assert_ptr_nonnull(xs);
  ck_assert_int_eq(xs->built, vbpr_has_module(VBPR_MODULE_XSIMGCL));
  ck_assert_ptr_nonnull(xs->params); /* also in a build without the module */
  ck_assert(mf->params == NULL && lg->params == NULL);
  ck_assert_ptr_null(vbpr__encoder_kind_find(0));
  ck_assert_ptr_null(vbpr__encoder_kind_find(-1));
  ck_assert_ptr_null(vbpr__encoder_kind_find(1000));
  ck_assert_str_eq(vbpr__encoder_kind_name(1000), "?");
}
END_TEST

START_TEST(create_for_validates)
{
  vbpr_dataset *ds = tiny_dataset();
  vbpr_encoder *enc = (vbpr_encoder *)&enc; /* must be reset to NULL */
  ck_assert_status(vbpr__encoder_create_for(1000, ds, DIM, 1, 1, &enc),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(enc);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "unknown encoder kind 1000"));
  ck_assert_status(vbpr__encoder_create_for(VBPR_ENCODER_MF, NULL, DIM, 1, 1, &enc),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr__encoder_create_for(VBPR_ENCODER_MF, ds, DIM, 1, 1, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  for (size_t i = 0; i < vbpr__encoder_kind_count(); i++) {
    const vbpr__encoder_kind_info *k = vbpr__encoder_kind_at(i);
    enc = (vbpr_encoder *)&enc;
    /* A bad size is refused by the kind, in its public constructor's name. */
    vbpr_status st = vbpr__encoder_create_for((int)k->kind, ds, 0, k->min_layers, 1, &enc);
    ck_assert_ptr_null(enc);
    if (!k->built) continue; /* checked below */
    ck_assert_int_eq(st, VBPR_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "vbpr_encoder_create_"));
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "dim"));
    /* Layers: in range for kinds with layers; ignored by the others. */
    st = vbpr__encoder_create_for((int)k->kind, ds, DIM, k->max_layers + 1, 1, &enc);
    ck_assert_int_eq(st, k->max_layers == 0 ? VBPR_OK : VBPR_ERR_INVALID_ARGUMENT);
    if (st == VBPR_OK) ck_assert_int_eq(vbpr_encoder_num_layers(enc), 0);
    vbpr_encoder_destroy(enc);
  }
  vbpr_dataset_destroy(ds);
}
END_TEST

/* A module compiled out: its stub refuses through the registry and through
 * the public constructor, with the message every build has given. */
START_TEST(stubs_are_unsupported)
{
  vbpr_dataset *ds = tiny_dataset();
  for (size_t i = 0; i < vbpr__encoder_kind_count(); i++) {
    const vbpr__encoder_kind_info *k = vbpr__encoder_kind_at(i);
    if (k->built) continue;
    vbpr_encoder *enc = (vbpr_encoder *)&enc;
    ck_assert_status(vbpr__encoder_create_for((int)k->kind, ds, DIM, k->min_layers, 1, &enc),
                     VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_null(enc);
    char want[128];
    snprintf(want, sizeof want, "built without the '%s' module (meson -D%s=enabled)",
             k->module, k->module);
    ck_assert_ptr_nonnull(strstr(vbpr_last_error(), want));
  }
  vbpr_encoder *enc = (vbpr_encoder *)&enc;
  if (!vbpr_has_module(VBPR_MODULE_MF)) {
    ck_assert_status(vbpr_encoder_create_mf(NU, NI, DIM, 1, &enc), VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_null(enc);
    ck_assert_str_eq(vbpr_last_error(),
                     "vbpr_encoder_create_mf: this libvbpr was built without the 'mf' "
                     "module (meson -Dmf=enabled)");
    ck_assert_status(vbpr_encoder_create_mf(NU, NI, DIM, 1, NULL), VBPR_ERR_INVALID_ARGUMENT);
  }
  if (!vbpr_has_module(VBPR_MODULE_LIGHTGCN)) {
    enc = (vbpr_encoder *)&enc;
    ck_assert_status(vbpr_encoder_create_lightgcn(ds, DIM, LAYERS, 1, &enc),
                     VBPR_ERR_UNSUPPORTED);
    ck_assert_ptr_null(enc);
    ck_assert_str_eq(vbpr_last_error(),
                     "vbpr_encoder_create_lightgcn: this libvbpr was built without the "
                     "'lightgcn' module (meson -Dlightgcn=enabled)");
  }
  vbpr_dataset_destroy(ds);
}
END_TEST

/* ---- the ops contract, for every kind ----------------------------------- */

typedef struct batch_bufs {
  float ue[B * DIM], pe[B * M * DIM], ne[B * N * DIM];
  float gu[B * DIM], gp[B * M * DIM], gn[B * N * DIM];
} batch_bufs;

/* The linear loss L = sum of g * (forward outputs), plus the kind's own
 * term (vbpr_encoder_extra_loss, 0 for most kinds), in double. */
static double linear_loss(vbpr_encoder *enc, batch_bufs *x)
{
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, x->ue, x->pe, x->ne));
  double l = 0;
  ck_assert_ok(vbpr_encoder_extra_loss(enc, &l));
  for (int i = 0; i < B * DIM; i++) l += (double)x->gu[i] * x->ue[i];
  for (int i = 0; i < B * M * DIM; i++) l += (double)x->gp[i] * x->pe[i];
  for (int i = 0; i < B * N * DIM; i++) l += (double)x->gn[i] * x->ne[i];
  return l;
}

/* Forward writes the rows of the node embeddings of the batch's ids. */
static void check_gather(vbpr_encoder *enc, batch_bufs *x, const char *name)
{
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, x->ue, x->pe, x->ne));
  const float *eu, *ei;
  ck_assert_ok(vbpr_encoder_embeddings(enc, &eu, &ei));
  for (int b = 0; b < B; b++)
    ck_assert_msg(memcmp(x->ue + b * DIM, eu + bu[b] * DIM, DIM * sizeof(float)) == 0,
                  "%s: user row %d", name, b);
  for (int i = 0; i < B * M; i++)
    ck_assert_msg(memcmp(x->pe + i * DIM, ei + bp[i] * DIM, DIM * sizeof(float)) == 0,
                  "%s: pos row %d", name, i);
  for (int i = 0; i < B * N; i++)
    ck_assert_msg(memcmp(x->ne + i * DIM, ei + bn[i] * DIM, DIM * sizeof(float)) == 0,
                  "%s: neg row %d", name, i);
}

/* Touched rows: ids in range, each once, and every row with a non-zero
 * gradient among them. Returns the total count over both tables. */
static int32_t check_touched(vbpr_encoder *enc, const char *name)
{
  int32_t total = 0;
  for (int t = 0; t < VBPR_ENCODER_NUM_TABLES; t++) {
    const int32_t *rows = NULL;
    size_t count = SIZE_MAX, nrows, dim;
    const float *grad;
    ck_assert_ok(vbpr_encoder_touched_rows(enc, (vbpr_table)t, &rows, &count));
    ck_assert_ok(vbpr_encoder_table(enc, (vbpr_table)t, NULL, &grad, &nrows, &dim));
    ck_assert_ptr_nonnull(rows);
    ck_assert(count <= nrows);
    char seen[NN] = {0};
    for (size_t i = 0; i < count; i++) {
      ck_assert_msg(rows[i] >= 0 && (size_t)rows[i] < nrows, "%s: row id %d", name,
                    (int)rows[i]);
      ck_assert_msg(!seen[rows[i]], "%s: row %d listed twice", name, (int)rows[i]);
      seen[rows[i]] = 1;
    }
    for (size_t r = 0; r < nrows; r++)
      for (size_t j = 0; j < dim && !seen[r]; j++)
        ck_assert_msg(grad[r * dim + j] == 0.0f, "%s: table %d row %d has a gradient "
                      "but is not touched", name, t, (int)r);
    total += count;
  }
  return total;
}

static const float *all_grads(vbpr_encoder *enc, float **param)
{
  const float *g; /* the two tables are one block, users first */
  ck_assert_ok(vbpr_encoder_table(enc, VBPR_TABLE_USERS, param, &g, NULL, NULL));
  return g;
}

/* Central differences of the linear loss along a random direction equal
 * the directional derivative from backward's gradient. */
static void check_gradient(vbpr_encoder *enc, batch_bufs *x, const char *name)
{
  float *p;
  const float *g = all_grads(enc, &p);
  static float dir[NN * DIM], keep[NN * DIM];
  fill_values(dir, NN * DIM, 9);
  memcpy(keep, p, sizeof keep);
  const float h = 1.0f / 64; /* exact in float: p +- h * dir rounds little */
  for (int i = 0; i < NN * DIM; i++) p[i] = keep[i] + h * dir[i];
  double lp = linear_loss(enc, x);
  for (int i = 0; i < NN * DIM; i++) p[i] = keep[i] - h * dir[i];
  double lm = linear_loss(enc, x);
  memcpy(p, keep, sizeof keep);
  double fd = (lp - lm) / (2.0 * h), dot = 0;
  for (int i = 0; i < NN * DIM; i++) dot += (double)g[i] * dir[i];
  ck_assert_msg(fabs(dot) > 0.1, "%s: degenerate check", name);
  ck_assert_msg(fabs(fd - dot) < 1e-4 * (1 + fabs(dot)), "%s: backward %g, differences %g",
                name, dot, fd);
}

static void check_no_allocation(vbpr_encoder *enc, batch_bufs *x, const char *name)
{
  const int32_t *rows;
  size_t count;
  vbpr__fault_arm(1);
  double extra = 0;
  vbpr_status st = vbpr_encoder_zero_grad(enc);
  if (st == VBPR_OK)
    st = vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, x->ue, x->pe, x->ne);
  if (st == VBPR_OK) st = vbpr_encoder_extra_loss(enc, &extra);
  if (st == VBPR_OK) st = vbpr_encoder_backward(enc, x->gu, x->gp, x->gn);
  if (st == VBPR_OK) st = vbpr_encoder_touched_rows(enc, VBPR_TABLE_ITEMS, &rows, &count);
  long allocs = vbpr__fault_count();
  vbpr__fault_arm(0);
  ck_assert_msg(st == VBPR_OK, "%s: %s", name, vbpr_last_error());
  ck_assert_msg(allocs == 0, "%s: %ld allocations in a training step", name, allocs);
}

static void check_contract(vbpr_encoder *enc, const vbpr__encoder_kind_info *k)
{
  const char *name = k->name;
  static batch_bufs x;
  fill_values(x.gu, B * DIM, 1);
  fill_values(x.gp, B * M * DIM, 2);
  fill_values(x.gn, B * N * DIM, 3);
  ck_assert_int_eq(vbpr_encoder_get_kind(enc), (int)k->kind);
  int32_t layers = vbpr_encoder_num_layers(enc);
  ck_assert(layers >= k->min_layers && layers <= k->max_layers);
  ck_assert_int_eq(check_touched(enc, name), 0); /* fresh: nothing touched */

  check_gather(enc, &x, name);
  /* The kind's own term is taken right after a training forward (an
   * evaluation in between may replace what it reads). */
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, x.ue, x.pe, x.ne));
  double extra = -1;
  ck_assert_ok(vbpr__encoder_extra_loss(enc, &extra, __func__));
  ck_assert(isfinite(extra));
  if (enc->ops->extra_loss == NULL) ck_assert(extra == 0.0);
  ck_assert_ok(vbpr_encoder_backward(enc, x.gu, x.gp, x.gn));
  ck_assert_status(vbpr_encoder_backward(enc, x.gu, x.gp, x.gn), VBPR_ERR_STATE);
  ck_assert_status(vbpr__encoder_extra_loss(enc, &extra, __func__), VBPR_ERR_STATE);
  ck_assert(check_touched(enc, name) > 0);
  check_gradient(enc, &x, name);

  /* A second backward of the same batch doubles the gradient. */
  float *p;
  const float *g = all_grads(enc, &p);
  static float once[NN * DIM];
  memcpy(once, g, sizeof once);
  ck_assert_ok(vbpr_encoder_forward(enc, B, M, N, bu, bp, bn, x.ue, x.pe, x.ne));
  ck_assert_ok(vbpr_encoder_extra_loss(enc, &extra));
  ck_assert_ok(vbpr_encoder_backward(enc, x.gu, x.gp, x.gn));
  for (int i = 0; i < NN * DIM; i++)
    ck_assert_msg(fabsf(g[i] - 2 * once[i]) <= 1e-5f * (1 + fabsf(once[i])),
                  "%s: gradient %d does not accumulate", name, i);
  check_touched(enc, name);

  ck_assert_ok(vbpr_encoder_zero_grad(enc));
  for (int i = 0; i < NN * DIM; i++) ck_assert_float_eq(g[i], 0.0f);
  ck_assert_int_eq(check_touched(enc, name), 0);
  check_no_allocation(enc, &x, name);
}

START_TEST(every_kind_keeps_the_ops_contract)
{
  int checked = 0, built = 0;
  for (size_t i = 0; i <= vbpr__encoder_kind_count(); i++) {
    const vbpr__encoder_kind_info *k;
    vbpr_encoder *enc = kind_encoder(i, &k);
    if (i < vbpr__encoder_kind_count()) built += k->built;
    if (enc == NULL) continue;
    check_contract(enc, k);
    vbpr_encoder_destroy(enc);
    checked++;
  }
  ck_assert_int_eq(checked, 1 + built); /* the example, plus each kind built */
}
END_TEST

/* A model file stores the kind's number and layers generically; it loads
 * back into an encoder of the same kind only. */
START_TEST(every_kind_round_trips_a_model_file)
{
  char dir[256], path[512];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/vbpr-ops-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  test_path(path, sizeof path, dir, "m.vbpr");
  for (size_t i = 0; i < vbpr__encoder_kind_count(); i++) {
    const vbpr__encoder_kind_info *k;
    vbpr_encoder *a = kind_encoder(i, &k), *b = kind_encoder(i, &k);
    if (a == NULL) continue;
    ck_assert_ok(vbpr_encoder_init_params(b, VBPR_INIT_NORMAL, 1.0, 4));
    ck_assert_ok(vbpr_encoder_save(a, path));
    ck_assert_ok(vbpr_encoder_load(b, path));
    float *pa, *pb;
    ck_assert_ok(vbpr_encoder_table(a, VBPR_TABLE_USERS, &pa, NULL, NULL, NULL));
    ck_assert_ok(vbpr_encoder_table(b, VBPR_TABLE_USERS, &pb, NULL, NULL, NULL));
    ck_assert_int_eq(memcmp(pa, pb, NN * DIM * sizeof(float)), 0);
    vbpr_encoder_destroy(a);
    vbpr_encoder_destroy(b);
  }
  /* The example kind is not registered: its files are refused as such. */
  vbpr_encoder *ex;
  ck_assert_ok(test_example_create(NU, NI, DIM, 1, &ex));
  ck_assert_ok(vbpr_encoder_save(ex, path));
  ck_assert_status(vbpr_encoder_load(ex, path), VBPR_ERR_PARSE);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "invalid header (kind 99"));
  vbpr_encoder_destroy(ex);
  unlink(path);
  rmdir(dir);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("encoder_ops");
  TCase *tc = tcase_create("encoder_ops");
  tcase_add_test(tc, registry_lists_every_kind_in_every_build);
  tcase_add_test(tc, create_for_validates);
  tcase_add_test(tc, stubs_are_unsupported);
  tcase_add_test(tc, every_kind_keeps_the_ops_contract);
  tcase_add_test(tc, every_kind_round_trips_a_model_file);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
