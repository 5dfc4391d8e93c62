/* libFuzzer target for the loss object's parameter and shape checks: the
 * input is a little program of set / forward / backward calls with sizes
 * and float values read from the bytes (NaN, Inf, huge and zero sizes
 * included).
 *
 * The harness never allocates from a size it read: buffers are capped at
 * FUZZ_CAP floats. Sizes whose arrays fit are passed with real buffers;
 * sizes whose element count overflows size_t are passed with one-float
 * buffers, and the library must reject them without reading anything (the
 * address sanitizer catches a read). Sizes in between are skipped: the
 * library cannot tell them from a caller's honest large batch. */
#include "fuzz_common.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

#include "vbpr/loss.h"
#include "vbpr/runtime.h"

#define FUZZ_CAP 4096 /* floats per harness buffer */

typedef struct reader {
  const uint8_t *p;
  size_t n;
} reader;

static uint8_t byte(reader *r)
{
  if (!r->n) return 0;
  r->n--;
  return *r->p++;
}

/* Sizes: mostly small (0 included), sometimes one that overflows. */
static size_t read_size(reader *r)
{
  static const size_t huge[] = {
    SIZE_MAX, SIZE_MAX / 2 + 1, SIZE_MAX / 3, (size_t)1 << 32, (size_t)1 << 33,
    (size_t)1 << 62, SIZE_MAX / 4 + 1, ((size_t)1 << 31) + 1, 65536, 1048577,
  };
  uint8_t b = byte(r);
  if (b >= 0xF0) return huge[(b - 0xF0) % (sizeof huge / sizeof huge[0])];
  return b % 17;
}

static float special_float(uint8_t b)
{
  static const float table[16] = {
    0.0f, 1.0f, -1.0f, NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX,
    FLT_MIN / 4, 1e30f, -1e30f, 88.0f, -88.0f, 1e-30f, 0.5f, 100.0f,
  };
  return table[b % 16];
}

static float read_float(reader *r)
{
  uint8_t b = byte(r);
  return b < 32 ? special_float(b) : (float)((int)b - 144) / 16.0f;
}

static double read_param_value(reader *r)
{
  static const double table[20] = {
    NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0, 2.0, 1e-7, 1e-6,
    1e6, 1e6 + 1, 1048576.0, 1048577.0, 0.5, 1.5, 1e300, DBL_MIN, 3.0, 4.0,
  };
  uint8_t b = byte(r);
  return b < 20 ? table[b] : (double)((int)b - 20) / 8.0;
}

/* Fills n floats: a seeded pattern in [-2, 2) with one special value at a
 * position read from the input. */
static void fill(reader *r, float *buf, size_t n)
{
  uint32_t x = byte(r) * 2654435761u + 1;
  for (size_t k = 0; k < n; k++) {
    x = x * 1664525u + 1013904223u;
    buf[k] = (float)(x >> 8) / (float)(1u << 22) - 2.0f;
  }
  uint8_t s = byte(r);
  if (n && s < 32) buf[(byte(r) | (size_t)byte(r) << 8) % n] = special_float(s);
}

/* a * b into *out; 0 when it overflows size_t. */
static int mul_ok(size_t a, size_t b, size_t *out)
{
  if (b && a > SIZE_MAX / b) return 0;
  *out = a * b;
  return 1;
}

enum { FITS, OVERFLOWS, SKIP };

/* Classifies the element counts batch*dim*cnt[k]. */
static int classify(size_t batch, size_t dim, const size_t *cnt, int ncnt, size_t *len)
{
  int over = 0, big = 0;
  for (int k = 0; k < ncnt; k++) {
    size_t t;
    if (!mul_ok(batch, dim, &t) || !mul_ok(t, cnt[k], &len[k])) {
      over = 1;
      len[k] = 0;
    } else if (len[k] > FUZZ_CAP) {
      big = 1;
    }
  }
  return over ? OVERFLOWS : big ? SKIP : FITS;
}

typedef struct state {
  vbpr_loss *loss;
  size_t m, n; /* current M and N */
  /* Inputs of the last embedding-level forward, kept for its backward. */
  float user[FUZZ_CAP], pos[FUZZ_CAP], neg[FUZZ_CAP];
  float lp_pos[FUZZ_CAP], lp_neg[FUZZ_CAP];
  float out[3][FUZZ_CAP];
  size_t batch, dim; /* of the stored forward; batch 0 when none */
  size_t fwd_m, fwd_n;
  /* 1: a forward is stored; 0: none (backward is VBPR_ERR_STATE); -1: the
   * header leaves it open (after a failed fused call). */
  int stored;
  int embedding; /* the stored forward was embedding-level */
} state;

static void refresh_mn(state *s)
{
  double v = 0;
  FUZZ_REQUIRE(vbpr_loss_get(s->loss, VBPR_LOSS_NUM_POS, &v) == VBPR_OK);
  s->m = (size_t)v;
  FUZZ_REQUIRE(vbpr_loss_get(s->loss, VBPR_LOSS_NUM_NEG, &v) == VBPR_OK);
  s->n = (size_t)v;
  FUZZ_REQUIRE(s->m >= 1 && s->m <= VBPR_LOSS_MAX_SAMPLES);
  FUZZ_REQUIRE(s->n >= 1 && s->n <= VBPR_LOSS_MAX_SAMPLES);
}

static void op_set(state *s, reader *r)
{
  vbpr_loss_param p = (vbpr_loss_param)(byte(r) % 11); /* 0 and 10: unknown */
  double v = read_param_value(r), back = -12345.0;
  vbpr_status st = vbpr_loss_set(s->loss, p, v);
  FUZZ_REQUIRE(st == VBPR_OK || st == VBPR_ERR_INVALID_ARGUMENT);
  if (st != VBPR_OK) return;
  FUZZ_REQUIRE(isfinite(v));
  FUZZ_REQUIRE(vbpr_loss_get(s->loss, p, &back) == VBPR_OK && back == v);
  s->stored = 0;
  refresh_mn(s);
}

/* Embedding-level forward (fused with a backward when `fused`). */
static void op_forward(state *s, reader *r, int fused)
{
  size_t batch = read_size(r), dim = read_size(r);
  size_t cnt[3] = {1, s->m, s->n}, len[3];
  uint8_t flags = byte(r);
  int kind = classify(batch, dim, cnt, 3, len);
  size_t lpm = 0, lpn = 0;
  if (kind == FITS && (!mul_ok(batch, s->m, &lpm) || !mul_ok(batch, s->n, &lpn) ||
                       lpm > FUZZ_CAP || lpn > FUZZ_CAP))
    kind = SKIP;
  if (kind == SKIP) return;
  if (kind == FITS) {
    fill(r, s->user, len[0]);
    fill(r, s->pos, len[1]);
    fill(r, s->neg, len[2]);
    if (flags & 1) fill(r, s->lp_pos, lpm);
    if (flags & 2) fill(r, s->lp_neg, lpn);
  }
  /* Overflowing sizes get the same (small) buffers: nothing may be read. */
  const float *lp = (flags & 1) ? s->lp_pos : NULL, *ln = (flags & 2) ? s->lp_neg : NULL;
  float value = -777.0f, g = read_float(r);
  vbpr_status st = fused
    ? vbpr_loss_forward_backward(s->loss, batch, dim, s->user, s->pos, s->neg, lp, ln, g,
                                 &value, s->out[0], s->out[1], s->out[2])
    : vbpr_loss_forward(s->loss, batch, dim, s->user, s->pos, s->neg, lp, ln, &value);
  if (kind == OVERFLOWS || batch == 0 || dim == 0) FUZZ_REQUIRE(st != VBPR_OK);
  if (st != VBPR_OK) {
    FUZZ_REQUIRE(value == -777.0f); /* not written on failure */
    s->stored = fused ? -1 : 0;
    return;
  }
  FUZZ_REQUIRE(isfinite(value) && value >= 0.0f);
  s->stored = 1;
  s->embedding = 1;
  s->batch = batch;
  s->dim = dim;
  s->fwd_m = s->m;
  s->fwd_n = s->n;
}

static void op_forward_scores(state *s, reader *r, int fused)
{
  size_t batch = read_size(r);
  size_t cnt[2] = {s->m, s->n}, len[2];
  uint8_t flags = byte(r);
  int kind = classify(batch, 1, cnt, 2, len);
  if (kind == SKIP) return;
  if (kind == FITS) {
    fill(r, s->pos, len[0]);
    fill(r, s->neg, len[1]);
    if (flags & 1) fill(r, s->lp_pos, len[0]);
    if (flags & 2) fill(r, s->lp_neg, len[1]);
  }
  const float *lp = (flags & 1) ? s->lp_pos : NULL, *ln = (flags & 2) ? s->lp_neg : NULL;
  float value = -777.0f, g = read_float(r);
  vbpr_status st = fused
    ? vbpr_loss_forward_backward_scores(s->loss, batch, s->pos, s->neg, lp, ln, g, &value,
                                        s->out[0], s->out[1])
    : vbpr_loss_forward_scores(s->loss, batch, s->pos, s->neg, lp, ln, &value);
  if (kind == OVERFLOWS || batch == 0) FUZZ_REQUIRE(st != VBPR_OK);
  if (st != VBPR_OK) {
    FUZZ_REQUIRE(value == -777.0f);
    s->stored = fused ? -1 : 0;
    return;
  }
  FUZZ_REQUIRE(isfinite(value) && value >= 0.0f);
  s->stored = 1;
  s->embedding = 0;
  s->batch = batch;
  s->dim = 1;
  s->fwd_m = s->m;
  s->fwd_n = s->n;
}

/* Backward into buffers sized for the stored forward. A fused call that
 * failed may leave the stored forward of an earlier call or none, so the
 * expected status is only checked when the harness knows it. */
static void op_backward(state *s, reader *r, int scores)
{
  float g = read_float(r);
  vbpr_status st = scores
    ? vbpr_loss_backward_scores(s->loss, g, s->out[0], s->out[1])
    : vbpr_loss_backward(s->loss, g, s->out[0], s->out[1], s->out[2]);
  if (s->stored < 0) return;
  if (!s->stored || (!scores && !s->embedding)) {
    FUZZ_REQUIRE(st != VBPR_OK);
    return;
  }
  if (isfinite(g)) FUZZ_REQUIRE(st == VBPR_OK || st == VBPR_ERR_NUMERIC);
  else FUZZ_REQUIRE(st == VBPR_ERR_NUMERIC);
}

static void op_inspect(state *s, reader *r)
{
  size_t batch = 0;
  vbpr_status st = vbpr_loss_batch_size(s->loss, &batch);
  FUZZ_REQUIRE(st == VBPR_OK || st == VBPR_ERR_STATE);
  if (s->stored == 0) FUZZ_REQUIRE(st == VBPR_ERR_STATE);
  if (st != VBPR_OK) return;
  if (s->stored == 1) FUZZ_REQUIRE(batch == s->batch);
  /* Every stored forward's outputs fit the FUZZ_CAP buffers. */
  uint8_t b = byte(r);
  if (b & 1) FUZZ_REQUIRE(vbpr_loss_row_losses(s->loss, s->out[0]) == VBPR_OK);
  else FUZZ_REQUIRE(vbpr_loss_attention(s->loss, (b & 2) ? s->out[1] : NULL,
                                        s->out[2]) == VBPR_OK);
}

static state st_buf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  vbpr_set_num_threads(1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  reader r = {data, size};
  state *s = &st_buf;
  memset(s, 0, offsetof(state, user));
  s->stored = 0;
  vbpr_loss_kind kind = (byte(&r) & 1) ? VBPR_LOSS_VARIATIONAL : VBPR_LOSS_BPR;
  FUZZ_REQUIRE(vbpr_loss_create(kind, &s->loss) == VBPR_OK);
  refresh_mn(s);
  for (int steps = 0; r.n && steps < 64; steps++) {
    switch (byte(&r) % 9) {
    case 0: op_set(s, &r); break;
    case 1: op_forward(s, &r, 0); break;
    case 2: op_backward(s, &r, 0); break;
    case 3: op_forward_scores(s, &r, 0); break;
    case 4: op_backward(s, &r, 1); break;
    case 5: op_forward(s, &r, 1); break;
    case 6: op_forward_scores(s, &r, 1); break;
    case 7: op_inspect(s, &r); break;
    default: vbpr_loss_destroy(NULL); break;
    }
  }
  vbpr_loss_destroy(s->loss);
  s->loss = NULL;
  return 0;
}
