/* The arithmetic of the loss: attention, estimators and their derivatives
 * with respect to the scores (doc/loss.md derives them), and the
 * embedding-level inner products and gradients.
 *
 * Precision: inner products and embedding gradients are float (they are the
 * O(dim) work and must vectorise); everything on the M + N scores of a row is
 * double, so that logits of magnitude 1e10 (scores 1e4 over c = 1e-6) still
 * give accurate softmax differences and nothing overflows.
 *
 * Layout: the per-row math runs on blocks of up to 64 rows, transposed so
 * that every step (logits, exponentials, row sums, softplus) is a loop over
 * the rows of the block that the compiler vectorises, whatever M and N are.
 * Every summation has a fixed order within its row, so results never depend
 * on the block size or on how rows are split over threads. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "loss/loss_inline.h"
#include "loss/loss_internal.h"

/* ---- scalar pieces ------------------------------------------------------ */

VBPR_INLINE double max2(double a, double b) { return a > b ? a : b; }

/* Clamp for the argument of exp_dom: below -708, e^x is subnormal in double
 * (and 0 in float), so nothing is lost. A separate loop, because a clamp
 * inside exp_dom makes GCC branch instead of vectorise. */
VBPR_INLINE double clamp_exp_arg(double x) { return x > -708.0 ? x : -708.0; }

/* e^x for -708 <= x <= 0, relative error about 1e-15. Inline and
 * branch-free, so loops over it vectorise; libm's exp is an opaque call per
 * element. Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, then the
 * degree-11 Taylor polynomial of e^r (truncation < 6e-15) by Estrin's
 * scheme. 2^k is built from the bits of the rounding sum t = x/ln2 +
 * 1.5*2^52, whose low mantissa bits hold k; as -1021 <= k <= 0,
 * (bits + 1023) << 52 is exactly the exponent field of 2^k. */
VBPR_INLINE double exp_dom(double x)
{
  const double shift = 0x1.8p52, log2e = 0x1.71547652b82fep0;
  const double ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
  double t = x * log2e + shift;
  double kd = t - shift;
  double r = (x - kd * ln2_hi) - kd * ln2_lo;
  double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  double p01 = 1.0 + r, p23 = 0.5 + r * (1.0 / 6.0);
  double p45 = 1.0 / 24.0 + r * (1.0 / 120.0), p67 = 1.0 / 720.0 + r * (1.0 / 5040.0);
  double p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
  double p1011 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
  double p = (p01 + r2 * p23) + r4 * (p45 + r2 * p67) + r8 * (p89 + r2 * p1011);
  uint64_t tb;
  memcpy(&tb, &t, sizeof tb);
  uint64_t bits = (tb + 1023) << 52;
  double two_k;
  memcpy(&two_k, &bits, sizeof two_k);
  return p * two_k;
}

/* ln(1 + e) for 0 <= e <= 1 as 2 atanh(s), s = e / (2 + e) <= 1/3: the odd
 * series 2 (s + s^3/3 + ... + s^29/29) has relative truncation < 2e-15 and
 * no cancellation for small e. Inline and branch-free, like exp_dom. */
VBPR_INLINE double log1p_unit(double e)
{
  double s = e / (2.0 + e);
  double q = s * s, q2 = q * q, q4 = q2 * q2, q8 = q4 * q4;
  double a = (1.0 + q * (1.0 / 3)) + q2 * (1.0 / 5 + q * (1.0 / 7));
  double b = (1.0 / 9 + q * (1.0 / 11)) + q2 * (1.0 / 13 + q * (1.0 / 15));
  double c = (1.0 / 17 + q * (1.0 / 19)) + q2 * (1.0 / 21 + q * (1.0 / 23));
  double d = 1.0 / 25 + q * (1.0 / 27 + q * (1.0 / 29));
  double poly = (a + q4 * b) + q8 * (c + q4 * d);
  return 2.0 * s * poly;
}

double vbpr__exp_nonpos(double x) { return exp_dom(clamp_exp_arg(x)); }
double vbpr__log1p_unit(double e) { return log1p_unit(e); }

/* softplus(z) = ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|) and
 * sigmoid(z) = 1 / (1 + e^-z), sharing one exponential whose argument is
 * never positive, so neither can overflow. spl may alias z; sig first holds
 * the clamped exponents. */
VBPR_INLINE void softplus_sigmoid_v(size_t n, const double *z, double *spl, double *sig)
{
  for (size_t i = 0; i < n; i++) sig[i] = clamp_exp_arg(-fabs(z[i]));
  for (size_t i = 0; i < n; i++) {
    double zi = z[i], e = exp_dom(sig[i]);
    sig[i] = (zi >= 0 ? 1.0 : e) / (1.0 + e);
    spl[i] = (zi > 0 ? zi : 0.0) + log1p_unit(e);
  }
}

double vbpr__softplus(double z)
{
  double spl, sig;
  softplus_sigmoid_v(1, &z, &spl, &sig);
  return spl;
}

double vbpr__sigmoid(double z)
{
  double spl, sig;
  softplus_sigmoid_v(1, &z, &spl, &sig);
  return sig;
}

/* No NaN or Inf in x. Bit test, OR-reduced so that it vectorises: an
 * exponent field of all ones plus 1 carries into bit 31, any other does not. */
VBPR_INLINE bool all_finite(const float *x, size_t n)
{
  uint32_t acc = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t b;
    memcpy(&b, &x[i], sizeof b);
    acc |= (b & 0x7f800000u) + 0x00800000u;
  }
  return (acc & 0x80000000u) == 0;
}


/* The same for doubles: an exponent field of all ones plus one carries into
 * bit 63. */
VBPR_INLINE bool all_finite_d(const double *x, size_t n)
{
  uint64_t acc = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t b;
    memcpy(&b, &x[i], sizeof b);
    acc |= (b & UINT64_C(0x7ff0000000000000)) + UINT64_C(0x0010000000000000);
  }
  return (acc & UINT64_C(0x8000000000000000)) == 0;
}

/* ---- block layout ------------------------------------------------------- */

/* Scratch of one thread for a block of B rows. Everything is stored
 * transposed, score-major: element (row r, score k) of a side is at
 * [k * B + r]. Each per-row reduction (max, sum, weighted sum) then runs
 * over k in the outer loop and over the rows in a contiguous inner loop,
 * which vectorises whatever M and N are. */
typedef struct block_ws {
  size_t B;        /* rows in this block (the stride of a column) */
  double *sp, *sn; /* [M][B], [N][B]: the scores */
  double *lp, *ln; /* [M][B], [N][B]: the log-priors, or NULL (none) */
  double *zp, *zn; /* logits, then attention weights alpha, beta */
  double *dp, *dn; /* hardness temporaries, then d row loss / d score */
  double *r0, *r1, *r2, *r3; /* [B] per-row temporaries */
  double *loss;    /* [B] the row losses */
} block_ws;

size_t vbpr__loss_block_rows(const vbpr__loss_cfg *cfg)
{
  size_t per = cfg->M + cfg->N, b = 2048 / per;
  return b < 1 ? 1 : (b > 64 ? 64 : b);
}

size_t vbpr__loss_scratch_per_thread(const vbpr__loss_cfg *cfg)
{
  size_t B = vbpr__loss_block_rows(cfg);
  /* callers have checked that these sizes fit (M, N <= 2^20) */
  return 4 * B * (cfg->M + cfg->N) + 5 * B;
}

/* Views of a thread's scratch for a block of B <= block_rows rows. */
static block_ws carve(const vbpr__loss_cfg *cfg, double *s, size_t B)
{
  size_t M = cfg->M, N = cfg->N;
  block_ws w;
  w.B = B;
  w.sp = s, s += B * M;
  w.sn = s, s += B * N;
  w.lp = s, s += B * M;
  w.ln = s, s += B * N;
  w.zp = s, s += B * M;
  w.zn = s, s += B * N;
  w.dp = s, s += B * M;
  w.dn = s, s += B * N;
  w.r0 = s, s += B;
  w.r1 = s, s += B;
  w.r2 = s, s += B;
  w.r3 = s, s += B;
  w.loss = s;
  return w;
}

/* dst[k * B + r] = src[r * n + k] for the B rows of a block, from float or
 * double. The common small n get a constant n, so that the compiler turns
 * the transposition into vector shuffles instead of scalar moves. */
#define DEFINE_TRANSPOSE_IN(name, T)                                             \
  VBPR_INLINE void name##_n(size_t B, size_t n, const T *src, double *dst)     \
  {                                                                            \
    for (size_t r = 0; r < B; r++)                                             \
      for (size_t k = 0; k < n; k++) dst[k * B + r] = (double)src[r * n + k];  \
  }                                                                            \
  VBPR_INLINE void name(size_t B, size_t n, const T *src, double *dst)         \
  {                                                                            \
    switch (n) {                                                               \
    case 1: name##_n(B, 1, src, dst); break;                                   \
    case 2: name##_n(B, 2, src, dst); break;                                   \
    case 4: name##_n(B, 4, src, dst); break;                                   \
    case 8: name##_n(B, 8, src, dst); break;                                   \
    default: name##_n(B, n, src, dst); break;                                  \
    }                                                                          \
  }
DEFINE_TRANSPOSE_IN(transpose_in, float)
DEFINE_TRANSPOSE_IN(transpose_in_d, double)

/* dst[r * n + k] = src[k * stride + r] for rows r < B, rounded to T. */
#define DEFINE_TRANSPOSE_OUT(name, T)                                             \
  VBPR_INLINE void name##_n(size_t B, size_t stride, size_t n, const double *src, \
                            T *dst)                                               \
  {                                                                               \
    for (size_t r = 0; r < B; r++)                                                \
      for (size_t k = 0; k < n; k++) dst[r * n + k] = (T)src[k * stride + r];     \
  }                                                                               \
  VBPR_INLINE void name(size_t B, size_t stride, size_t n, const double *src, T *dst) \
  {                                                                               \
    switch (n) {                                                                  \
    case 1: name##_n(B, stride, 1, src, dst); break;                              \
    case 2: name##_n(B, stride, 2, src, dst); break;                              \
    case 4: name##_n(B, stride, 4, src, dst); break;                              \
    case 8: name##_n(B, stride, 8, src, dst); break;                              \
    default: name##_n(B, stride, n, src, dst); break;                             \
    }                                                                             \
  }
DEFINE_TRANSPOSE_OUT(transpose_out, float)
DEFINE_TRANSPOSE_OUT(transpose_out_d, double)

/* ---- attention ---------------------------------------------------------- */

/* Hardness log-prior into t [n][B]:
 *   t_k = log softmax_k(h * s / tau) = h s_k / tau - logsumexp(h s / tau)
 * with h = -1 for positives (a low-scored positive is hard) and +1 for
 * negatives (a high-scored negative is hard). The reference subtracts the
 * row mean inside the softmax; it cancels, so it is left out. z [n][B] and
 * mx, lse [B] are scratch. */
VBPR_INLINE void hardness_rows(size_t B, size_t n, const double *s, double ht, double *t,
                               double *z, double *mx, double *lse)
{
  for (size_t i = 0; i < n * B; i++) t[i] = ht * s[i];
  for (size_t r = 0; r < B; r++) mx[r] = t[r];
  for (size_t k = 1; k < n; k++)
    for (size_t r = 0; r < B; r++) mx[r] = max2(mx[r], t[k * B + r]);
  for (size_t k = 0; k < n; k++)
    for (size_t r = 0; r < B; r++) z[k * B + r] = clamp_exp_arg(t[k * B + r] - mx[r]);
  for (size_t i = 0; i < n * B; i++) z[i] = exp_dom(z[i]);
  for (size_t r = 0; r < B; r++) lse[r] = z[r];
  for (size_t k = 1; k < n; k++)
    for (size_t r = 0; r < B; r++) lse[r] += z[k * B + r];
  for (size_t r = 0; r < B; r++) lse[r] = mx[r] + log(lse[r]);
  for (size_t k = 0; k < n; k++)
    for (size_t r = 0; r < B; r++) t[k * B + r] -= lse[r];
}

/* Attention logits of one side of a block into z [n][B]:
 *   z_k = f * s_k + lp_k + lam * hardness_k,  f = sign / c.
 * lp [n][B] may be NULL (no prior); t [n][B] and r0, r1 [B] are scratch. */
VBPR_INLINE void attention_logits(size_t B, size_t n, const double *s, const double *lp,
                                  double f, double lam, double ht, double *z, double *t,
                                  double *r0, double *r1)
{
  if (lam > 0.0) hardness_rows(B, n, s, ht, t, z, r0, r1);
  for (size_t i = 0; i < n * B; i++) z[i] = f * s[i];
  if (lp != NULL)
    for (size_t i = 0; i < n * B; i++) z[i] += lp[i];
  if (lam > 0.0)
    for (size_t i = 0; i < n * B; i++) z[i] += lam * t[i];
}

/* Row maxima of z [n][B] into mx, and z -= mx (clamped for exp_dom). */
VBPR_INLINE void shift_rows(size_t B, size_t n, double *z, double *mx)
{
  for (size_t r = 0; r < B; r++) mx[r] = z[r];
  for (size_t k = 1; k < n; k++)
    for (size_t r = 0; r < B; r++) mx[r] = max2(mx[r], z[k * B + r]);
  for (size_t k = 0; k < n; k++)
    for (size_t r = 0; r < B; r++) z[k * B + r] = clamp_exp_arg(z[k * B + r] - mx[r]);
}

/* z [n][B] /= its row sums; sum is scratch [B]. */
VBPR_INLINE void normalise_rows(size_t B, size_t n, double *z, double *sum)
{
  for (size_t r = 0; r < B; r++) sum[r] = z[r];
  for (size_t k = 1; k < n; k++)
    for (size_t r = 0; r < B; r++) sum[r] += z[k * B + r];
  for (size_t r = 0; r < B; r++) sum[r] = 1.0 / sum[r];
  for (size_t k = 0; k < n; k++)
    for (size_t r = 0; r < B; r++) z[k * B + r] *= sum[r];
}

/* Both softmaxes of a block, alpha over zp [M][B] and beta over zn [N][B],
 * which lie back to back (carve): the exponentials of both sides run in one
 * loop, so that a block of a single row still fills vector registers. */
VBPR_INLINE void softmax_pair(size_t B, size_t M, size_t N, double *zp, double *zn,
                              double *r0, double *r1)
{
  shift_rows(B, M, zp, r0);
  shift_rows(B, N, zn, r1);
  for (size_t i = 0; i < (M + N) * B; i++) zp[i] = exp_dom(zp[i]);
  normalise_rows(B, M, zp, r0);
  normalise_rows(B, N, zn, r1);
}

/* ---- estimators: row loss and d(row loss)/d(score) ---------------------- */

/* Prototype: x = P - Q with P = sum_m a_m s+_m, Q = sum_n b_n s-_n, and
 * loss = softplus(-x). With the attention differentiated,
 * dP/ds+_k = a_k (1 + (s+_k - P) / c_pos) and dQ/ds-_k = b_k (1 + g (s-_k - Q)
 * / c_neg); detached, they are a_k and b_k. */
VBPR_INLINE void est_prototype(const vbpr__loss_cfg *cfg, block_ws *w, double *loss)
{
  size_t M = cfg->M, N = cfg->N, B = w->B;
  double *P = w->r0, *Q = w->r1, *sig = w->r2;
  for (size_t r = 0; r < B; r++) P[r] = w->zp[r] * w->sp[r];
  for (size_t m = 1; m < M; m++)
    for (size_t r = 0; r < B; r++) P[r] += w->zp[m * B + r] * w->sp[m * B + r];
  for (size_t r = 0; r < B; r++) Q[r] = w->zn[r] * w->sn[r];
  for (size_t n = 1; n < N; n++)
    for (size_t r = 0; r < B; r++) Q[r] += w->zn[n * B + r] * w->sn[n * B + r];
  for (size_t r = 0; r < B; r++) loss[r] = Q[r] - P[r]; /* -x */
  softplus_sigmoid_v(B, loss, loss, sig); /* sig = sigmoid(-x) = -dloss/dx */
  bool detached = cfg->estimator == VBPR_ESTIMATOR_PROTOTYPE_DETACHED;
  double ip = detached ? 0.0 : 1.0 / cfg->c_pos;
  double in = detached ? 0.0 : (double)cfg->sign / cfg->c_neg;
  for (size_t m = 0; m < M; m++)
    for (size_t r = 0; r < B; r++) {
      size_t i = m * B + r;
      w->dp[i] = -sig[r] * w->zp[i] * (1.0 + (w->sp[i] - P[r]) * ip);
    }
  for (size_t n = 0; n < N; n++)
    for (size_t r = 0; r < B; r++) {
      size_t i = n * B + r;
      w->dn[i] = sig[r] * w->zn[i] * (1.0 + (w->sn[i] - Q[r]) * in);
    }
}

/* ELBO: loss = sum_m a_m sum_n b_n softplus(-(s+_m - s-_n)), attention
 * constant:
 *   dloss/ds+_m = -a_m sum_n b_n sigmoid(-(s+_m - s-_n)),
 *   dloss/ds-_n = b_n sum_m a_m sigmoid(-(s+_m - s-_n)). */
VBPR_INLINE void est_elbo(const vbpr__loss_cfg *cfg, block_ws *w, double *loss)
{
  size_t M = cfg->M, N = cfg->N, B = w->B;
  double *spl = w->r0, *sig = w->r1, *lm = w->r2, *acc = w->r3;
  for (size_t i = 0; i < N * B; i++) w->dn[i] = 0.0;
  for (size_t r = 0; r < B; r++) loss[r] = 0.0;
  for (size_t m = 0; m < M; m++) {
    const double *a = w->zp + m * B, *s = w->sp + m * B;
    for (size_t r = 0; r < B; r++) lm[r] = acc[r] = 0.0;
    for (size_t n = 0; n < N; n++) {
      const double *b = w->zn + n * B, *t = w->sn + n * B;
      double *gn = w->dn + n * B;
      for (size_t r = 0; r < B; r++) spl[r] = t[r] - s[r];
      softplus_sigmoid_v(B, spl, spl, sig);
      for (size_t r = 0; r < B; r++) {
        lm[r] += b[r] * spl[r];
        acc[r] += b[r] * sig[r];
        gn[r] += a[r] * sig[r];
      }
    }
    for (size_t r = 0; r < B; r++) {
      loss[r] += a[r] * lm[r];
      w->dp[m * B + r] = -a[r] * acc[r];
    }
  }
  for (size_t i = 0; i < N * B; i++) w->dn[i] *= w->zn[i];
}

/* M = N = 1 (BPR): both attention weights are exactly 1 (a softmax of one
 * logit, whatever its prior or hardness term) and every estimator reduces
 * to loss = softplus(s- - s+), dloss/ds+ = -sigmoid(s- - s+) and
 * dloss/ds- = +sigmoid(s- - s+). Computed directly with the operations the
 * general path performs on these values, so the bits are the same:
 * one exponential per row instead of five. */
VBPR_INLINE void est_pair(block_ws *w, double *loss)
{
  size_t B = w->B;
  double *sig = w->r2;
  for (size_t r = 0; r < B; r++) loss[r] = w->sn[r] - w->sp[r];
  softplus_sigmoid_v(B, loss, loss, sig);
  for (size_t r = 0; r < B; r++) {
    w->zp[r] = w->zn[r] = 1.0;
    w->dp[r] = -sig[r];
    w->dn[r] = sig[r];
  }
}

/* InfoNCE (sampled softmax) with one positive: logits z+ = s+ / t + lp+ and
 * z-_n = s-_n / t + lp-_n, loss = logsumexp(z+, z-_1..N) - z+. With beta the
 * softmax of the negatives' logits alone (the attention reported) and
 * q = 1 - softmax(z)_+ the negatives' share of the whole softmax,
 *   dloss/ds+ = -q / t,   dloss/ds-_n = q beta_n / t.
 * The negatives are summed relative to their own maximum mx (sum S >= 1),
 * and the positive enters through e = exp(-|z+ - mx|) <= 1, so nothing
 * overflows; q is formed as a ratio of positive terms (no 1 - p
 * cancellation), and a small loss keeps its relative precision (log1p). */
VBPR_INLINE void est_infonce(const vbpr__loss_cfg *cfg, block_ws *w, double *loss)
{
  size_t N = cfg->N, B = w->B;
  double it = 1.0 / cfg->temperature;
  double *mx = w->r0, *S = w->r1, *e = w->r2, *q = w->r3, *zn = w->zn;
  for (size_t i = 0; i < N * B; i++) zn[i] = it * w->sn[i];
  if (w->ln != NULL)
    for (size_t i = 0; i < N * B; i++) zn[i] += w->ln[i];
  for (size_t r = 0; r < B; r++) mx[r] = zn[r];
  for (size_t k = 1; k < N; k++)
    for (size_t r = 0; r < B; r++) mx[r] = max2(mx[r], zn[k * B + r]);
  for (size_t k = 0; k < N; k++)
    for (size_t r = 0; r < B; r++) zn[k * B + r] = clamp_exp_arg(zn[k * B + r] - mx[r]);
  for (size_t i = 0; i < N * B; i++) zn[i] = exp_dom(zn[i]);
  for (size_t r = 0; r < B; r++) S[r] = zn[r];
  for (size_t k = 1; k < N; k++)
    for (size_t r = 0; r < B; r++) S[r] += zn[k * B + r];
  for (size_t r = 0; r < B; r++) {
    double zp = it * w->sp[r] + (w->lp != NULL ? w->lp[r] : 0.0);
    w->zp[r] = zp - mx[r]; /* d = z+ - mx, kept for the loss below */
    e[r] = clamp_exp_arg(-fabs(w->zp[r]));
  }
  for (size_t r = 0; r < B; r++) e[r] = exp_dom(e[r]);
  for (size_t r = 0; r < B; r++) {
    double d = w->zp[r];
    double neg = d >= 0 ? e[r] * S[r] : S[r]; /* negatives, relative to max(z+, mx) */
    double all = (d >= 0 ? 1.0 : e[r]) + neg;
    q[r] = neg / all;
    loss[r] = d >= 0 ? log1p(neg) : -d + log(all);
    S[r] = 1.0 / S[r];
  }
  for (size_t k = 0; k < N; k++)
    for (size_t r = 0; r < B; r++) zn[k * B + r] *= S[r]; /* beta */
  for (size_t r = 0; r < B; r++) {
    w->zp[r] = 1.0; /* alpha: the one positive */
    w->dp[r] = -q[r] * it;
  }
  for (size_t k = 0; k < N; k++)
    for (size_t r = 0; r < B; r++) w->dn[k * B + r] = q[r] * zn[k * B + r] * it;
}

/* The kind's row math on a block whose scores (and priors) are in place. */
VBPR_INLINE void block_core(const vbpr__loss_cfg *cfg, block_ws *w)
{
  size_t M = cfg->M, N = cfg->N, B = w->B;
  if (cfg->kind == VBPR_LOSS_INFONCE) {
    est_infonce(cfg, w, w->loss);
    return;
  }
  if (M == 1 && N == 1) {
    est_pair(w, w->loss);
    return;
  }
  attention_logits(B, M, w->sp, w->lp, 1.0 / cfg->c_pos, cfg->lam_pos, -1.0 / cfg->tau,
                   w->zp, w->dp, w->r0, w->r1);
  attention_logits(B, N, w->sn, w->ln, (double)cfg->sign / cfg->c_neg, cfg->lam_neg,
                   1.0 / cfg->tau, w->zn, w->dn, w->r0, w->r1);
  softmax_pair(B, M, N, w->zp, w->zn, w->r0, w->r1);
  if (cfg->estimator == VBPR_ESTIMATOR_ELBO)
    est_elbo(cfg, w, w->loss);
  else
    est_prototype(cfg, w, w->loss);
}

/* ---- the row kernel ------------------------------------------------------ */

/* First row of the block whose inputs are not all finite, or B. */
VBPR_INLINE size_t first_bad_row(const block_ws *w, size_t M, size_t N)
{
  size_t B = w->B;
  if (all_finite_d(w->sp, B * M) && all_finite_d(w->sn, B * N) &&
      (w->lp == NULL || all_finite_d(w->lp, B * M)) &&
      (w->ln == NULL || all_finite_d(w->ln, B * N)))
    return B;
  for (size_t r = 0; r < B; r++) {
    bool ok = true;
    for (size_t k = 0; k < M; k++)
      ok = ok && isfinite(w->sp[k * B + r]) && (w->lp == NULL || isfinite(w->lp[k * B + r]));
    for (size_t k = 0; k < N; k++)
      ok = ok && isfinite(w->sn[k * B + r]) && (w->ln == NULL || isfinite(w->ln[k * B + r]));
    if (!ok) return r;
  }
  return B;
}

/* Writes the wanted outputs of rows [0, n) of the block; returns the first
 * row where a float output overflows (or the loss is not finite), or n. */
VBPR_INLINE size_t store_rows(const vbpr__loss_cfg *cfg, const block_ws *w, size_t n,
                              const vbpr__rows_out *o)
{
  size_t M = cfg->M, N = cfg->N, B = w->B, bad = n;
  if (o->loss != NULL) memcpy(o->loss, w->loss, n * sizeof *w->loss);
  if (o->alpha != NULL) transpose_out(n, B, M, w->zp, o->alpha);
  if (o->beta != NULL) transpose_out(n, B, N, w->zn, o->beta);
  if (o->gp != NULL) transpose_out(n, B, M, w->dp, o->gp);
  if (o->gn != NULL) transpose_out(n, B, N, w->dn, o->gn);
  if (o->gpd != NULL) transpose_out_d(n, B, M, w->dp, o->gpd);
  if (o->gnd != NULL) transpose_out_d(n, B, N, w->dn, o->gnd);
  for (size_t r = n; r-- > 0;)
    if (!isfinite(w->loss[r]) ||
        (o->gp != NULL && (!all_finite(o->gp + r * M, M) || !all_finite(o->gn + r * N, N))))
      bad = r;
  return bad;
}

VBPR_INLINE size_t rows_impl(const vbpr__loss_cfg *cfg, size_t B, const vbpr__rows_in *in,
                             double *scratch, const vbpr__rows_out *out, bool *overflow)
{
  size_t M = cfg->M, N = cfg->N;
  block_ws w = carve(cfg, scratch, B);
  if (in->sp != NULL) {
    transpose_in(B, M, in->sp, w.sp);
    transpose_in(B, N, in->sn, w.sn);
    if (in->lpp != NULL) transpose_in(B, M, in->lpp, w.lp);
    if (in->lpn != NULL) transpose_in(B, N, in->lpn, w.ln);
  } else {
    transpose_in_d(B, M, in->spd, w.sp);
    transpose_in_d(B, N, in->snd, w.sn);
    if (in->lppd != NULL) transpose_in_d(B, M, in->lppd, w.lp);
    if (in->lpnd != NULL) transpose_in_d(B, N, in->lpnd, w.ln);
  }
  if (in->lpp == NULL && in->lppd == NULL) w.lp = NULL;
  if (in->lpn == NULL && in->lpnd == NULL) w.ln = NULL;
  /* rows are independent: a bad row spoils only its own column */
  size_t good = first_bad_row(&w, M, N);
  block_core(cfg, &w);
  size_t over = store_rows(cfg, &w, good, out);
  *overflow = over < good;
  return over < good ? over : good;
}

/* A block of one row (a per-sample host's call, the fused path's tuples)
 * gets its own instance, in which every loop over the rows is gone. Static:
 * a cloned function with external linkage would be exported (gcc gives its
 * ifunc symbol default visibility), so vbpr__loss_rows wraps it. */
VBPR_LOSS_CLONES
static size_t rows_dispatch(const vbpr__loss_cfg *cfg, size_t B, const vbpr__rows_in *in,
                            double *scratch, const vbpr__rows_out *out, bool *overflow)
{
  if (B == 1 && cfg->M == 2 && cfg->N == 4) {
    vbpr__loss_cfg c = *cfg;
    c.M = 2, c.N = 4;
    return rows_impl(&c, 1, in, scratch, out, overflow);
  }
  if (B == 1) return rows_impl(cfg, 1, in, scratch, out, overflow);
  return rows_impl(cfg, B, in, scratch, out, overflow);
}

size_t vbpr__loss_rows(const vbpr__loss_cfg *cfg, size_t B, const vbpr__rows_in *in,
                       double *scratch, const vbpr__rows_out *out, bool *overflow)
{
  return rows_dispatch(cfg, B, in, scratch, out, overflow);
}

/* ---- the forward over rows ---------------------------------------------- */

/* ps[r*M + i] = <user_r, pos_(r, i)> and ns[r*N + i] = <user_r, neg_(r, i)>
 * for the B rows of a block. */
VBPR_LOSS_CLONES
static void scores_block(size_t B, size_t dim, size_t M, size_t N, const float *user,
                         const float *pos, const float *neg, float *ps, float *ns)
{
  for (size_t r = 0; r < B; r++) {
    const float *u = user + r * dim;
    for (size_t i = 0; i < M; i++) ps[r * M + i] = vbpr__dot(u, pos + (r * M + i) * dim, dim);
    for (size_t i = 0; i < N; i++) ns[r * N + i] = vbpr__dot(u, neg + (r * N + i) * dim, dim);
  }
}

VBPR_LOSS_CLONES
static void scores_block_d(size_t B, size_t dim, size_t M, size_t N, const double *user,
                           const double *pos, const double *neg, double *ps, double *ns)
{
  for (size_t r = 0; r < B; r++) {
    const double *u = user + r * dim;
    for (size_t i = 0; i < M; i++)
      ps[r * M + i] = vbpr__dot_f64(u, pos + (r * M + i) * dim, dim);
    for (size_t i = 0; i < N; i++)
      ns[r * N + i] = vbpr__dot_f64(u, neg + (r * N + i) * dim, dim);
  }
}

/* The inputs and outputs of rows [r0, r0 + B) of a float job. */
static void block_args(const vbpr__fwd_job *j, size_t r0, size_t B, vbpr__rows_in *in,
                       vbpr__rows_out *out)
{
  size_t M = j->cfg->M, N = j->cfg->N, dim = j->dim;
  if (dim > 0) {
    scores_block(B, dim, M, N, j->user + r0 * dim, j->pos + r0 * M * dim,
                 j->neg + r0 * N * dim, j->ps_out + r0 * M, j->ns_out + r0 * N);
  }
  *in = (vbpr__rows_in){.sp = j->ps + r0 * M, .sn = j->ns + r0 * N,
                        .lpp = j->lpp ? j->lpp + r0 * M : NULL,
                        .lpn = j->lpn ? j->lpn + r0 * N : NULL};
  *out = (vbpr__rows_out){.loss = j->row_loss + r0, .alpha = j->alpha + r0 * M,
                          .beta = j->beta + r0 * N, .gp = j->gp + r0 * M,
                          .gn = j->gn + r0 * N};
}

/* The same for a double-precision job. */
static void block_args_d(const vbpr__fwd_job *j, size_t r0, size_t B, vbpr__rows_in *in,
                         vbpr__rows_out *out)
{
  size_t M = j->cfg->M, N = j->cfg->N, dim = j->dim;
  if (dim > 0) {
    scores_block_d(B, dim, M, N, j->user_d + r0 * dim, j->pos_d + r0 * M * dim,
                   j->neg_d + r0 * N * dim, j->ps_out_d + r0 * M, j->ns_out_d + r0 * N);
  }
  *in = (vbpr__rows_in){.spd = j->ps_d + r0 * M, .snd = j->ns_d + r0 * N,
                        .lppd = j->lpp_d ? j->lpp_d + r0 * M : NULL,
                        .lpnd = j->lpn_d ? j->lpn_d + r0 * N : NULL};
  *out = (vbpr__rows_out){.loss = j->row_loss + r0, .alpha = j->alpha + r0 * M,
                          .beta = j->beta + r0 * N, .gpd = j->gp_d + r0 * M,
                          .gnd = j->gn_d + r0 * N};
}

void vbpr__loss_fwd_range(void *job, size_t begin, size_t end, int tid)
{
  vbpr__fwd_job *j = job;
  const vbpr__loss_cfg *cfg = j->cfg;
  size_t BR = vbpr__loss_block_rows(cfg);
  double *scratch = j->scratch + (size_t)tid * vbpr__loss_scratch_per_thread(cfg);
  bool f64 = j->user_d != NULL || j->ps_d != NULL;
  j->bad_input[tid] = j->overflow[tid] = SIZE_MAX;
  for (size_t r0 = begin; r0 < end; r0 += BR) {
    size_t B = end - r0 < BR ? end - r0 : BR;
    vbpr__rows_in in;
    vbpr__rows_out out;
    if (f64)
      block_args_d(j, r0, B, &in, &out);
    else
      block_args(j, r0, B, &in, &out);
    bool over;
    size_t bad = vbpr__loss_rows(cfg, B, &in, scratch, &out, &over);
    if (bad < B && !over) {
      j->bad_input[tid] = r0 + bad; /* the call fails: nothing more to do */
      return;
    }
    if (bad < B && j->overflow[tid] == SIZE_MAX) j->overflow[tid] = r0 + bad;
  }
}

/* ---- the backward over rows --------------------------------------------- */

/* grad_item = c * user, and grad_user = c * item (first) or += c * item;
 * for T float or double. */
#define DEFINE_ITEM_GRAD(name, T)                                                \
  VBPR_INLINE void name(size_t dim, T c, bool first, const T *restrict u,       \
                        const T *restrict it, T *restrict gu, T *restrict gi)   \
  {                                                                             \
    if (first) {                                                                \
      for (size_t k = 0; k < dim; k++) gu[k] = c * it[k];                       \
    } else {                                                                    \
      for (size_t k = 0; k < dim; k++) gu[k] += c * it[k];                      \
    }                                                                           \
    for (size_t k = 0; k < dim; k++) gi[k] = c * u[k];                          \
  }
DEFINE_ITEM_GRAD(item_grad, float)
DEFINE_ITEM_GRAD(item_grad_d, double)

/* Gradients of rows [begin, end), item by item: each item is streamed once
 * (which the hardware prefetcher follows), while grad_user stays in L1. The
 * sum over items runs positives then negatives, the same on every path. */
VBPR_LOSS_CLONES
static void grads_range(const vbpr__bwd_job *j, size_t begin, size_t end)
{
  size_t M = j->M, N = j->N, dim = j->dim;
  for (size_t r = begin; r < end; r++) {
    const float *u = j->user + r * dim;
    float *gu = j->g_user + r * dim;
    for (size_t m = 0; m < M; m++) {
      size_t i = r * M + m;
      float c = (float)((double)j->gp[i] * j->scale);
      item_grad(dim, c, m == 0, u, j->pos + i * dim, gu, j->g_pos + i * dim);
    }
    for (size_t n = 0; n < N; n++) {
      size_t i = r * N + n;
      float c = (float)((double)j->gn[i] * j->scale);
      item_grad(dim, c, false, u, j->neg + i * dim, gu, j->g_neg + i * dim);
    }
  }
}

VBPR_LOSS_CLONES
static void grads_range_d(const vbpr__bwd_job *j, size_t begin, size_t end)
{
  size_t M = j->M, N = j->N, dim = j->dim;
  for (size_t r = begin; r < end; r++) {
    const double *u = j->user_d + r * dim;
    double *gu = j->g_user_d + r * dim;
    for (size_t m = 0; m < M; m++) {
      size_t i = r * M + m;
      item_grad_d(dim, j->gp_d[i] * j->scale, m == 0, u, j->pos_d + i * dim, gu,
                  j->g_pos_d + i * dim);
    }
    for (size_t n = 0; n < N; n++) {
      size_t i = r * N + n;
      item_grad_d(dim, j->gn_d[i] * j->scale, false, u, j->neg_d + i * dim, gu,
                  j->g_neg_d + i * dim);
    }
  }
}

static void score_grads(size_t n, double scale, const float *g, float *out)
{
  for (size_t i = 0; i < n; i++) out[i] = (float)((double)g[i] * scale);
}

static void score_grads_d(size_t n, double scale, const double *g, double *out)
{
  for (size_t i = 0; i < n; i++) out[i] = g[i] * scale;
}

void vbpr__loss_bwd_range(void *job, size_t begin, size_t end, int tid)
{
  (void)tid;
  vbpr__bwd_job *j = job;
  size_t M = j->M, N = j->N, nr = end - begin;
  if (j->gp_d != NULL) {
    if (j->g_ps_d != NULL) {
      score_grads_d(nr * M, j->scale, j->gp_d + begin * M, j->g_ps_d + begin * M);
      score_grads_d(nr * N, j->scale, j->gn_d + begin * N, j->g_ns_d + begin * N);
    }
    if (j->g_user_d != NULL) grads_range_d(j, begin, end);
    return;
  }
  if (j->g_ps != NULL) {
    score_grads(nr * M, j->scale, j->gp + begin * M, j->g_ps + begin * M);
    score_grads(nr * N, j->scale, j->gn + begin * N, j->g_ns + begin * N);
  }
  if (j->g_user != NULL) grads_range(j, begin, end);
}
