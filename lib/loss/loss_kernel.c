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
#include "loss/loss_internal.h"

/* The hot functions (marked VBPR_LOSS_CLONES; everything they call is forced
 * inline into them) are built for the baseline ISA and, where the toolchain
 * can dispatch at load time (GCC/Clang ifunc on x86-64 glibc), also for
 * AVX2; the best one for the CPU is picked once. (An AVX-512 clone measured
 * slower on Zen 4: the work per row is too short for the wider registers.)
 * The clones compute exactly the same thing: each lane does the same
 * operations in the same order, no FMA contraction is enabled (ISO C mode),
 * and every reduction order is written out. */
/* Not under ThreadSanitizer: gcc instruments the ifunc resolvers, which run
 * during relocation, before the TSan runtime exists. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute) && \
    !defined(VBPR_LOSS_NO_CLONES) && !defined(__SANITIZE_THREAD__)
#  if __has_attribute(target_clones)
#    define VBPR_LOSS_CLONES __attribute__((target_clones("avx2", "default")))
#  endif
#endif
#ifndef VBPR_LOSS_CLONES
#  define VBPR_LOSS_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define VBPR_INLINE static inline __attribute__((always_inline))
#else
#  define VBPR_INLINE static inline
#endif

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

/* ---- block layout ------------------------------------------------------- */

/* Scratch of one thread for a block of B rows. Everything is stored
 * transposed, score-major: element (row r, score k) of a side is at
 * [k * B + r]. Each per-row reduction (max, sum, weighted sum) then runs
 * over k in the outer loop and over the rows in a contiguous inner loop,
 * which vectorises whatever M and N are. */
typedef struct block_ws {
  size_t B;        /* rows in this block (the stride of a column) */
  double *sp, *sn; /* [M][B], [N][B]: the scores */
  double *zp, *zn; /* logits, then attention weights alpha, beta */
  double *dp, *dn; /* hardness temporaries, then d row loss / d score */
  double *r0, *r1, *r2, *r3; /* [B] per-row temporaries */
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
  return 3 * B * (cfg->M + cfg->N) + 4 * B;
}

/* Views of a thread's scratch for a block of B <= block_rows rows. */
static block_ws carve(const vbpr__loss_cfg *cfg, double *s, size_t B)
{
  size_t M = cfg->M, N = cfg->N;
  block_ws w;
  w.B = B;
  w.sp = s, s += B * M;
  w.sn = s, s += B * N;
  w.zp = s, s += B * M;
  w.zn = s, s += B * N;
  w.dp = s, s += B * M;
  w.dn = s, s += B * N;
  w.r0 = s, s += B;
  w.r1 = s, s += B;
  w.r2 = s, s += B;
  w.r3 = s;
  return w;
}

/* dst[k * B + r] = src[r * n + k] for the B rows of a block. */
VBPR_INLINE void transpose_in_n(size_t B, size_t n, const float *src, double *dst)
{
  for (size_t r = 0; r < B; r++)
    for (size_t k = 0; k < n; k++) dst[k * B + r] = (double)src[r * n + k];
}

/* dst[r * n + k] = src[k * B + r], rounded to float. */
VBPR_INLINE void transpose_out_n(size_t B, size_t n, const double *src, float *dst)
{
  for (size_t r = 0; r < B; r++)
    for (size_t k = 0; k < n; k++) dst[r * n + k] = (float)src[k * B + r];
}

/* The common small n get a constant n, so that the compiler turns the
 * transposition into vector shuffles instead of scalar moves. */
VBPR_INLINE void transpose_in(size_t B, size_t n, const float *src, double *dst)
{
  switch (n) {
  case 1: transpose_in_n(B, 1, src, dst); break;
  case 2: transpose_in_n(B, 2, src, dst); break;
  case 4: transpose_in_n(B, 4, src, dst); break;
  case 8: transpose_in_n(B, 8, src, dst); break;
  default: transpose_in_n(B, n, src, dst); break;
  }
}

VBPR_INLINE void transpose_out(size_t B, size_t n, const double *src, float *dst)
{
  switch (n) {
  case 1: transpose_out_n(B, 1, src, dst); break;
  case 2: transpose_out_n(B, 2, src, dst); break;
  case 4: transpose_out_n(B, 4, src, dst); break;
  case 8: transpose_out_n(B, 8, src, dst); break;
  default: transpose_out_n(B, n, src, dst); break;
  }
}

/* ---- attention ---------------------------------------------------------- */

/* Per-row softmax of z [n][B] in place; the row maximum is subtracted so no
 * exponent is positive and every row sum is >= 1. mx is scratch [B]. */
VBPR_INLINE void softmax_rows(size_t B, size_t n, double *z, double *mx)
{
  for (size_t r = 0; r < B; r++) mx[r] = z[r];
  for (size_t k = 1; k < n; k++)
    for (size_t r = 0; r < B; r++) mx[r] = max2(mx[r], z[k * B + r]);
  for (size_t k = 0; k < n; k++)
    for (size_t r = 0; r < B; r++) z[k * B + r] = clamp_exp_arg(z[k * B + r] - mx[r]);
  for (size_t i = 0; i < n * B; i++) z[i] = exp_dom(z[i]);
  for (size_t r = 0; r < B; r++) mx[r] = z[r]; /* from here on, the row sums */
  for (size_t k = 1; k < n; k++)
    for (size_t r = 0; r < B; r++) mx[r] += z[k * B + r];
  for (size_t r = 0; r < B; r++) mx[r] = 1.0 / mx[r];
  for (size_t k = 0; k < n; k++)
    for (size_t r = 0; r < B; r++) z[k * B + r] *= mx[r];
}

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

/* Attention weights of one side of a block into z [n][B]:
 *   z = softmax_k(f * s_k + lp_k + lam * hardness_k),  f = sign / c.
 * lp is row-major [B][n] as the caller passed it; t [n][B] and r0, r1 [B]
 * are scratch. */
VBPR_INLINE void attention_rows(size_t B, size_t n, const double *s, const float *lp,
                                double f, double lam, double ht, double *z, double *t,
                                double *r0, double *r1)
{
  if (lam > 0.0) hardness_rows(B, n, s, ht, t, z, r0, r1);
  for (size_t i = 0; i < n * B; i++) z[i] = f * s[i];
  if (lp != NULL)
    for (size_t k = 0; k < n; k++)
      for (size_t r = 0; r < B; r++) z[k * B + r] += (double)lp[r * n + k];
  if (lam > 0.0)
    for (size_t i = 0; i < n * B; i++) z[i] += lam * t[i];
  softmax_rows(B, n, z, r0);
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

/* ---- one block of the forward ------------------------------------------- */

/* First row of the block whose inputs are not all finite, or B. */
VBPR_INLINE size_t first_bad_input(const vbpr__loss_cfg *cfg, size_t B, const float *sp,
                              const float *sn, const float *lpp, const float *lpn)
{
  size_t M = cfg->M, N = cfg->N;
  if (all_finite(sp, B * M) && all_finite(sn, B * N) &&
      (lpp == NULL || all_finite(lpp, B * M)) && (lpn == NULL || all_finite(lpn, B * N)))
    return B;
  for (size_t r = 0; r < B; r++)
    if (!all_finite(sp + r * M, M) || !all_finite(sn + r * N, N) ||
        (lpp != NULL && !all_finite(lpp + r * M, M)) ||
        (lpn != NULL && !all_finite(lpn + r * N, N)))
      return r;
  return B;
}

/* Writes alpha, beta and d loss / d score (as float) row-major; returns the
 * first row where a gradient overflows float (or whose loss is not finite),
 * or B. */
VBPR_INLINE size_t store_block(const vbpr__loss_cfg *cfg, const block_ws *w,
                               const double *loss, float *alpha, float *beta, float *gp,
                               float *gn)
{
  size_t M = cfg->M, N = cfg->N, B = w->B, bad = B;
  transpose_out(B, M, w->zp, alpha);
  transpose_out(B, N, w->zn, beta);
  transpose_out(B, M, w->dp, gp);
  transpose_out(B, N, w->dn, gn);
  for (size_t r = B; r-- > 0;)
    if (!isfinite(loss[r]) || !all_finite(gp + r * M, M) || !all_finite(gn + r * N, N))
      bad = r;
  return bad;
}

/* Attention, estimator and conversion to float for one block of w->B rows
 * with finite inputs; returns the first row whose results overflow float,
 * or w->B. */
VBPR_LOSS_CLONES
static size_t block_math(const vbpr__loss_cfg *cfg, const float *sp, const float *sn,
                         const float *lpp, const float *lpn, block_ws *w, double *loss,
                         float *alpha, float *beta, float *gp, float *gn)
{
  size_t M = cfg->M, N = cfg->N, B = w->B;
  transpose_in(B, M, sp, w->sp);
  transpose_in(B, N, sn, w->sn);
  attention_rows(B, M, w->sp, lpp, 1.0 / cfg->c_pos, cfg->lam_pos, -1.0 / cfg->tau,
                 w->zp, w->dp, w->r0, w->r1);
  attention_rows(B, N, w->sn, lpn, (double)cfg->sign / cfg->c_neg, cfg->lam_neg,
                 1.0 / cfg->tau, w->zn, w->dn, w->r0, w->r1);
  if (cfg->estimator == VBPR_ESTIMATOR_ELBO)
    est_elbo(cfg, w, loss);
  else
    est_prototype(cfg, w, loss);
  return store_block(cfg, w, loss, alpha, beta, gp, gn);
}

VBPR_LOSS_CLONES static void scores_block(size_t B, size_t dim, size_t cnt,
                                          const float *user, const float *items,
                                          float *out);

void vbpr__loss_fwd_range(void *job, size_t begin, size_t end, int tid)
{
  vbpr__fwd_job *j = job;
  const vbpr__loss_cfg *cfg = j->cfg;
  size_t M = cfg->M, N = cfg->N, dim = j->dim, BR = vbpr__loss_block_rows(cfg);
  double *scratch = j->scratch + (size_t)tid * vbpr__loss_scratch_per_thread(cfg);
  j->bad_input[tid] = j->overflow[tid] = SIZE_MAX;
  for (size_t r0 = begin; r0 < end; r0 += BR) {
    size_t B = end - r0 < BR ? end - r0 : BR;
    const float *sp = j->ps + r0 * M, *sn = j->ns + r0 * N;
    const float *lpp = j->lpp ? j->lpp + r0 * M : NULL;
    const float *lpn = j->lpn ? j->lpn + r0 * N : NULL;
    if (dim > 0) {
      const float *u = j->user + r0 * dim;
      scores_block(B, dim, M, u, j->pos + r0 * M * dim, j->ps_out + r0 * M);
      scores_block(B, dim, N, u, j->neg + r0 * N * dim, j->ns_out + r0 * N);
    }
    size_t bad = first_bad_input(cfg, B, sp, sn, lpp, lpn);
    if (bad < B) {
      j->bad_input[tid] = r0 + bad; /* the call fails: nothing more to do */
      return;
    }
    block_ws w = carve(cfg, scratch, B);
    bad = block_math(cfg, sp, sn, lpp, lpn, &w, j->row_loss + r0, j->alpha + r0 * M,
                     j->beta + r0 * N, j->gp + r0 * M, j->gn + r0 * N);
    if (bad < B && j->overflow[tid] == SIZE_MAX) j->overflow[tid] = r0 + bad;
  }
}

/* ---- embedding level ---------------------------------------------------- */

/* Sixteen independent partial sums, which the compiler maps to vector
 * registers without reassociating anything itself, then a fixed pairwise
 * reduction; the dim % 16 tail is summed separately so that the partial
 * sums are never indexed by a variable (which would keep them in memory). */
VBPR_INLINE float dot(const float *restrict a, const float *restrict b, size_t n)
{
  float acc[16] = {0}, tail = 0.0f;
  size_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (size_t l = 0; l < 16; l++) acc[l] += a[k + l] * b[k + l];
  for (; k < n; k++) tail += a[k] * b[k];
  float s8[8], s4[4];
  for (size_t l = 0; l < 8; l++) s8[l] = acc[l] + acc[l + 8];
  for (size_t l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
  return ((s4[0] + s4[2]) + (s4[1] + s4[3])) + tail;
}

/* out[r*cnt + i] = <user_r, item_(r, i)> for the B rows of a block. */
VBPR_LOSS_CLONES
static void scores_block(size_t B, size_t dim, size_t cnt, const float *user,
                         const float *items, float *out)
{
  for (size_t r = 0; r < B; r++)
    for (size_t i = 0; i < cnt; i++)
      out[r * cnt + i] = dot(user + r * dim, items + (r * cnt + i) * dim, dim);
}

/* grad_item = c * user, and grad_user = c * item (first) or += c * item. */
VBPR_INLINE void item_grad(size_t dim, float c, bool first, const float *restrict u,
                           const float *restrict it, float *restrict gu,
                           float *restrict gi)
{
  if (first) {
    for (size_t k = 0; k < dim; k++) gu[k] = c * it[k];
  } else {
    for (size_t k = 0; k < dim; k++) gu[k] += c * it[k];
  }
  for (size_t k = 0; k < dim; k++) gi[k] = c * u[k];
}

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

static void score_grads(size_t n, double scale, const float *g, float *out)
{
  for (size_t i = 0; i < n; i++) out[i] = (float)((double)g[i] * scale);
}

void vbpr__loss_bwd_range(void *job, size_t begin, size_t end, int tid)
{
  (void)tid;
  vbpr__bwd_job *j = job;
  size_t M = j->M, N = j->N;
  if (j->g_ps != NULL) {
    score_grads((end - begin) * M, j->scale, j->gp + begin * M, j->g_ps + begin * M);
    score_grads((end - begin) * N, j->scale, j->gn + begin * N, j->g_ns + begin * N);
  }
  if (j->g_user != NULL) grads_range(j, begin, end);
}
