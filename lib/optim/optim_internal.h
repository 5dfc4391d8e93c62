/* The row-wise update of the optimizers that can update a table row by row
 * (SGD, row-wise Adagrad, sparse Adam): one definition, used by the
 * optimizer's own row steps (optim.c) and inlined into the fused training
 * path (fused.c), which updates each row of a tuple in place. Internal; not
 * installed.
 *
 * The state lives in the optimizer's slot (optim.c, opt_slot): Adam's
 * moments m, v [rows * width], Adagrad's accumulator acc [rows], sparse
 * Adam's running powers pw [2 * rows] (beta1^t, beta2^t of the row's own
 * update count t). A vbpr__row_opt borrows them for one call. */
#ifndef VBPR_LIB_OPTIM_INTERNAL_H
#define VBPR_LIB_OPTIM_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "vbpr/optim.h"

typedef struct vbpr__row_opt {
  vbpr_optim_kind kind; /* SGD, ADAGRAD or SPARSE_ADAM */
  size_t width;         /* elements per row */
  double lr;            /* as set (the dense steps round it the same way) */
  float wd, eps;
  double beta1, beta2;  /* sparse Adam: the decays, in double for the powers */
  float w1, b2, omb2;   /* and (float)(1 - beta1), beta2, (float)(1 - beta2) */
  float *m, *v;  /* SPARSE_ADAM moments [rows * width] */
  float *acc;    /* ADAGRAD accumulators [rows] */
  double *pw;    /* SPARSE_ADAM: beta1^t, beta2^t per row [2 * rows] */
} vbpr__row_opt;

/* True for the kinds a vbpr__row_opt can run. */
static inline bool vbpr__optim_row_wise(vbpr_optim_kind kind)
{
  return kind == VBPR_OPTIM_SGD || kind == VBPR_OPTIM_ADAGRAD ||
         kind == VBPR_OPTIM_SPARSE_ADAM;
}

/* Prepares `slot` of `opt` for row-wise steps of a [rows x width] table and
 * borrows its state into *ro: the first use sizes the slot and allocates
 * (zeroed moments and accumulators, powers 1); a slot used before must hold
 * the same number of elements and the same row width. VBPR_ERR_UNSUPPORTED
 * for a kind that is not row-wise. */
vbpr_status vbpr__optim_rows_begin(vbpr_optim *opt, int32_t slot, size_t rows, size_t width,
                                   vbpr__row_opt *ro, const char *func);

/* Counts one step of a prepared slot (vbpr_optim_slot_steps). */
void vbpr__optim_count_step(vbpr_optim *opt, int32_t slot);

/* One update of row `row`, p [width], with the gradient c * x (x [width];
 * the fused path passes the user row for an item, c = 1 and the summed
 * gradient for the user), to which the weight decay is added here:
 * g = c x + wd p, as every kind does.
 *  - SGD: p -= lr * g, as the dense SGD step.
 *  - ADAGRAD (row-wise, as FBGEMM's): acc_row += mean_k g_k^2;
 *    p -= lr g / (sqrt(acc_row) + eps).
 *  - SPARSE_ADAM: Adam with the row's own update count t for the bias
 *    corrections (beta^t kept as running products), the same arithmetic as
 *    the dense Adam step otherwise.
 * In two halves so that a caller updating several rows can run the first
 * half of all of them before the second: vbpr__row_scale gives Adagrad's
 * step factor (and accumulates), whose square root and division would
 * otherwise stall each row's update in turn. Must not be called for one row
 * from two threads at once, except on the fused path, which documents its
 * races (Hogwild). */
static inline float vbpr__row_scale(const vbpr__row_opt *o, size_t row,
                                    const float *restrict p, float c,
                                    const float *restrict x)
{
  if (o->kind != VBPR_OPTIM_ADAGRAD) return -(float)o->lr;
  const size_t n = o->width;
  const float wd = o->wd;
  float s8[8] = {0}, tail = 0;
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (size_t l = 0; l < 8; l++) {
      float gk = c * x[k + l] + wd * p[k + l];
      s8[l] += gk * gk;
    }
  for (; k < n; k++) {
    float gk = c * x[k] + wd * p[k];
    tail += gk * gk;
  }
  float ss = (((s8[0] + s8[4]) + (s8[1] + s8[5])) + ((s8[2] + s8[6]) + (s8[3] + s8[7]))) +
             tail;
  float a = o->acc[row] + ss / (float)n;
  o->acc[row] = a;
  return -(float)o->lr / (sqrtf(a) + o->eps);
}

static inline void vbpr__row_apply(const vbpr__row_opt *o, size_t row, float *restrict p,
                                   float c, const float *restrict x, float scale)
{
  const size_t n = o->width;
  const float wd = o->wd;
  if (o->kind != VBPR_OPTIM_SPARSE_ADAM) { /* SGD, ADAGRAD: p += scale * g */
    for (size_t k = 0; k < n; k++) p[k] += scale * (c * x[k] + wd * p[k]);
    return;
  }
  double *pw = o->pw + 2 * row;
  double p1 = pw[0] * o->beta1, p2 = pw[1] * o->beta2;
  pw[0] = p1, pw[1] = p2;
  const float step = -(float)(o->lr / (1.0 - p1));
  const float bc2 = (float)sqrt(1.0 - p2), eps = o->eps;
  const float w = o->w1, b2 = o->b2, omb2 = o->omb2, omw = 1.0f - w;
  const bool small = fabsf(w) < 0.5f; /* torch.lerp's two formulas */
  float *restrict m = o->m + row * n, *restrict v = o->v + row * n;
  for (size_t k = 0; k < n; k++) {
    float gk = c * x[k] + wd * p[k];
    float mk = small ? m[k] + w * (gk - m[k]) : gk - (gk - m[k]) * omw;
    float vk = v[k] * b2 + omb2 * gk * gk;
    m[k] = mk;
    v[k] = vk;
    p[k] += step * (mk / (sqrtf(vk) / bc2 + eps));
  }
}

/* Both halves for one row. */
static inline void vbpr__row_update(const vbpr__row_opt *o, size_t row, float *restrict p,
                                    float c, const float *restrict x)
{
  vbpr__row_apply(o, row, p, c, x, vbpr__row_scale(o, row, p, c, x));
}

#endif
