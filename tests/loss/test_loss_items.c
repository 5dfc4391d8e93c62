/* The calls on one items array [batch, M + N, dim]: the same results as the
 * calls on separate pos and neg arrays, bit for bit, for every kind, with
 * one and two threads; the backward only in the layout of its forward; bad
 * arguments and non-finite inputs named. Black-box: links the shared
 * library. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vbpr/error.h"
#include "vbpr/loss.h"
#include "vbpr/runtime.h"

typedef struct data {
  size_t B, M, N, d;
  float *user, *items, *pos, *neg, *lpp, *lpn;
} data;

static float rnd(uint64_t *s)
{
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((double)(*s >> 11) / 9007199254740992.0 - 0.5);
}

/* Random rows; pos and neg are the items array split, row by row. */
static data make_data(size_t B, size_t M, size_t N, size_t d, uint64_t seed)
{
  data x = {B, M, N, d, NULL, NULL, NULL, NULL, NULL, NULL};
  x.user = malloc(B * d * sizeof(float));
  x.items = malloc(B * (M + N) * d * sizeof(float));
  x.pos = malloc(B * M * d * sizeof(float));
  x.neg = malloc(B * N * d * sizeof(float));
  x.lpp = malloc(B * M * sizeof(float));
  x.lpn = malloc(B * N * sizeof(float));
  ck_assert(x.user && x.items && x.pos && x.neg && x.lpp && x.lpn);
  for (size_t i = 0; i < B * d; i++) x.user[i] = rnd(&seed);
  for (size_t i = 0; i < B * (M + N) * d; i++) x.items[i] = rnd(&seed);
  for (size_t i = 0; i < B * M; i++) x.lpp[i] = rnd(&seed);
  for (size_t i = 0; i < B * N; i++) x.lpn[i] = rnd(&seed);
  for (size_t r = 0; r < B; r++) {
    memcpy(x.pos + r * M * d, x.items + r * (M + N) * d, M * d * sizeof(float));
    memcpy(x.neg + r * N * d, x.items + (r * (M + N) + M) * d, N * d * sizeof(float));
  }
  return x;
}

static void free_data(data *x)
{
  free(x->user), free(x->items), free(x->pos), free(x->neg), free(x->lpp), free(x->lpn);
}

/* The separate gradients joined in the items layout. */
static void join(const data *x, const float *gp, const float *gn, float *out)
{
  size_t M = x->M, N = x->N, d = x->d;
  for (size_t r = 0; r < x->B; r++) {
    memcpy(out + r * (M + N) * d, gp + r * M * d, M * d * sizeof(float));
    memcpy(out + (r * (M + N) + M) * d, gn + r * N * d, N * d * sizeof(float));
  }
}

static vbpr_loss *make(vbpr_loss_kind kind, size_t M, size_t N)
{
  vbpr_loss *l = NULL;
  ck_assert_ok(vbpr_loss_create(kind, &l));
  if (kind == VBPR_LOSS_VARIATIONAL) {
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_POS, (double)M));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_ESTIMATOR, VBPR_ESTIMATOR_ELBO));
  }
  if (kind != VBPR_LOSS_BPR) ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, (double)N));
  return l;
}

static const struct { vbpr_loss_kind kind; size_t M, N; } shapes[] = {
  {VBPR_LOSS_BPR, 1, 1}, {VBPR_LOSS_VARIATIONAL, 2, 4}, {VBPR_LOSS_VARIATIONAL, 3, 16},
  {VBPR_LOSS_INFONCE, 1, 8},
};

/* Loop: shape i / 2, with 1 thread (even) or 2 (odd); batches from one row
 * (the per-sample path) to enough rows for two threads. */
START_TEST(items_equal_separate_arrays_bit_for_bit)
{
  size_t s = (size_t)_i / 2;
  ck_assert_ok(vbpr_set_num_threads(_i % 2 ? 2 : 1));
  static const size_t batches[] = {1, 7, 3000};
  for (size_t b = 0; b < 3; b++) {
    size_t M = shapes[s].M, N = shapes[s].N, B = batches[b], d = 24;
    data x = make_data(B, M, N, d, 11 + b);
    vbpr_loss *l = make(shapes[s].kind, M, N);
    size_t ni = B * (M + N) * d;
    float *gu = malloc(B * d * 4), *gp = malloc(B * M * d * 4), *gn = malloc(B * N * d * 4);
    float *gi = malloc(ni * 4), *want = malloc(ni * 4), *gu2 = malloc(B * d * 4);
    ck_assert(gu && gp && gn && gi && want && gu2);
    float la, lb;
    ck_assert_ok(vbpr_loss_forward_backward(l, B, d, x.user, x.pos, x.neg, x.lpp, x.lpn, 0.7f,
                                            &la, gu, gp, gn));
    join(&x, gp, gn, want);
    ck_assert_ok(vbpr_loss_forward_backward_items(l, B, d, x.user, x.items, x.lpp, x.lpn,
                                                  0.7f, &lb, gu2, gi));
    ck_assert_msg(la == lb, "loss %.9g vs %.9g", la, lb);
    ck_assert(memcmp(gu, gu2, B * d * 4) == 0);
    ck_assert(memcmp(want, gi, ni * 4) == 0);
    /* the stored forward, then its backward */
    memset(gi, 0, ni * 4);
    ck_assert_ok(vbpr_loss_forward_items(l, B, d, x.user, x.items, x.lpp, x.lpn, &lb));
    ck_assert(la == lb);
    ck_assert_ok(vbpr_loss_backward_items(l, 0.7f, gu2, gi));
    ck_assert(memcmp(gu, gu2, B * d * 4) == 0);
    ck_assert(memcmp(want, gi, ni * 4) == 0);
    float *alpha = malloc(B * M * 4), *alpha2 = malloc(B * M * 4);
    ck_assert(alpha && alpha2);
    ck_assert_ok(vbpr_loss_attention(l, alpha2, NULL));
    ck_assert_ok(vbpr_loss_forward(l, B, d, x.user, x.pos, x.neg, x.lpp, x.lpn, &la));
    ck_assert_ok(vbpr_loss_attention(l, alpha, NULL));
    ck_assert(memcmp(alpha, alpha2, B * M * 4) == 0);
    free(alpha), free(alpha2);
    free(gu), free(gp), free(gn), free(gi), free(want), free(gu2);
    vbpr_loss_destroy(l);
    free_data(&x);
  }
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

START_TEST(backward_only_in_the_layout_of_its_forward)
{
  data x = make_data(3, 2, 4, 8, 5);
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL, 2, 4);
  float loss, gu[24], gp[48], gn[96], gi[144], gps[6], gns[12];
  ck_assert_ok(vbpr_loss_forward(l, 3, 8, x.user, x.pos, x.neg, NULL, NULL, &loss));
  ck_assert_status(vbpr_loss_backward_items(l, 1.0f, gu, gi), VBPR_ERR_STATE);
  ck_assert(strstr(vbpr_last_error(), "use vbpr_loss_backward") != NULL);
  ck_assert_ok(vbpr_loss_forward_items(l, 3, 8, x.user, x.items, NULL, NULL, &loss));
  ck_assert_status(vbpr_loss_backward(l, 1.0f, gu, gp, gn), VBPR_ERR_STATE);
  ck_assert(strstr(vbpr_last_error(), "use vbpr_loss_backward_items") != NULL);
  ck_assert_ok(vbpr_loss_backward_scores(l, 1.0f, gps, gns)); /* layout-free */
  ck_assert_ok(vbpr_loss_forward_scores(l, 3, gps, gns, NULL, NULL, &loss));
  ck_assert_status(vbpr_loss_backward_items(l, 1.0f, gu, gi), VBPR_ERR_STATE);
  vbpr_loss_destroy(l);
  free_data(&x);
}
END_TEST

START_TEST(bad_arguments_are_named)
{
  data x = make_data(2, 2, 4, 8, 6);
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL, 2, 4);
  float loss = 7, gu[16], gi[96];
  ck_assert_status(vbpr_loss_forward_items(l, 2, 8, x.user, NULL, NULL, NULL, &loss),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert(strstr(vbpr_last_error(), "items must not be NULL") != NULL);
  ck_assert_status(vbpr_loss_forward_backward_items(l, 2, 8, x.user, x.items, NULL, NULL,
                                                    1.0f, &loss, gu, NULL),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert(strstr(vbpr_last_error(), "grad_items must not be NULL") != NULL);
  ck_assert_status(vbpr_loss_forward_items(l, 0, 8, x.user, x.items, NULL, NULL, &loss),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_forward_items(l, 2, 0, x.user, x.items, NULL, NULL, &loss),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_forward_items(l, SIZE_MAX / 4, 8, x.user, x.items, NULL, NULL,
                                           &loss),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_loss_forward_items(l, 2, SIZE_MAX / 2, x.user, x.items, NULL, NULL,
                                           &loss),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert(loss == 7);
  /* a failed call leaves no forward behind */
  ck_assert_status(vbpr_loss_backward_items(l, 1.0f, gu, gi), VBPR_ERR_STATE);
  ck_assert_status(vbpr_loss_forward_items(NULL, 2, 8, x.user, x.items, NULL, NULL, &loss),
                   VBPR_ERR_INVALID_ARGUMENT);
  vbpr_loss_destroy(l);
  free_data(&x);
}
END_TEST

/* A NaN in row 1's third negative: items[index] with row and position. */
START_TEST(non_finite_items_are_located)
{
  data x = make_data(3, 2, 4, 8, 7);
  size_t at = (1 * 6 + 2 + 3) * 8 + 5; /* row 1, negative 3, component 5 */
  x.items[at] = NAN;
  vbpr_loss *l = make(VBPR_LOSS_VARIATIONAL, 2, 4);
  float loss, gu[24], gi[144];
  memset(gi, 0x7f, sizeof gi);
  ck_assert_status(vbpr_loss_forward_backward_items(l, 3, 8, x.user, x.items, NULL, NULL,
                                                    1.0f, &loss, gu, gi),
                   VBPR_ERR_NUMERIC);
  char want[96];
  snprintf(want, sizeof want, "items[%zu] (row 1, negative 3, component 5)", at);
  ck_assert_msg(strstr(vbpr_last_error(), want) != NULL, "%s", vbpr_last_error());
  for (size_t i = 0; i < 144; i++) ck_assert(gi[i] != 0); /* untouched */
  x.items[at] = 0;
  x.items[(2 * 6 + 1) * 8] = INFINITY; /* row 2, positive 1, component 0 */
  ck_assert_status(vbpr_loss_forward_items(l, 3, 8, x.user, x.items, NULL, NULL, &loss),
                   VBPR_ERR_NUMERIC);
  ck_assert_msg(strstr(vbpr_last_error(), "items[104] (row 2, positive 1, component 0)"),
                "%s", vbpr_last_error());
  vbpr_loss_destroy(l);
  free_data(&x);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("loss_items");
  TCase *t = tcase_create("items");
  tcase_set_timeout(t, 120);
  tcase_add_loop_test(t, items_equal_separate_arrays_bit_for_bit, 0, 8);
  tcase_add_test(t, backward_only_in_the_layout_of_its_forward);
  tcase_add_test(t, bad_arguments_are_named);
  tcase_add_test(t, non_finite_items_are_located);
  suite_add_tcase(s, t);
  return test_run_suite(s);
}
