/* Internal to the loss object: the handle layout and the row kernels.
 * loss.c owns the public API (validation, state, errors); loss_kernel.c the
 * arithmetic. Not installed. */
#ifndef VBPR_LIB_LOSS_INTERNAL_H
#define VBPR_LIB_LOSS_INTERNAL_H

#include <stddef.h>

#include "vbpr/loss.h"
#include "vbpr/runtime.h"

/* Upper bound of the thread count one call uses: loss.c caps its split at
 * it, and the per-thread slots of the job structs are sized by it, so they
 * live on the stack and a call allocates nothing. The rows are memory-bound:
 * 64 threads already saturate memory bandwidth. */
#define VBPR__LOSS_MAX_THREADS (VBPR_MAX_THREADS < 64 ? VBPR_MAX_THREADS : 64)

/* What the kernels need to know about the parameters. */
typedef struct vbpr__loss_cfg {
  size_t M, N;
  double c_pos, c_neg;
  double lam_pos, lam_neg, tau;
  int estimator; /* vbpr_estimator */
  int sign;      /* g: +1 hard, -1 easy */
} vbpr__loss_cfg;

/* Failure kinds of the forward, by priority: a NaN or Inf input anywhere is
 * reported before any overflow. */
enum {
  VBPR__ROW_OK = 0,
  VBPR__ROW_BAD_INPUT = 1, /* NaN or Inf among a row's scores or priors */
  VBPR__ROW_OVERFLOW = 2   /* finite inputs, but a float result overflowed */
};

/* Rows are processed in blocks (structure of arrays) so that every
 * transcendental function runs in a long, vectorisable loop. */
size_t vbpr__loss_block_rows(const vbpr__loss_cfg *cfg);
/* Doubles of scratch one thread needs. */
size_t vbpr__loss_scratch_per_thread(const vbpr__loss_cfg *cfg);

/* The forward pass over rows. Scores come from `ps`/`ns` (score level) or
 * are computed from user/pos/neg into `ps_out`/`ns_out` (dim > 0). For every
 * row it writes alpha, beta, the derivative of that row's loss with respect
 * to each score (gp, gn; not yet scaled by grad_output / batch) and the row
 * loss. Per thread it records the first row with a non-finite input (and
 * then stops) and the first row whose results overflow float, SIZE_MAX for
 * none. */
typedef struct vbpr__fwd_job {
  const vbpr__loss_cfg *cfg;
  size_t dim; /* 0 at score level */
  const float *user, *pos, *neg;
  const float *ps, *ns;
  float *ps_out, *ns_out;
  const float *lpp, *lpn;
  float *alpha, *beta, *gp, *gn;
  double *row_loss;
  double *scratch; /* vbpr__loss_scratch_per_thread() doubles per thread */
  size_t bad_input[VBPR__LOSS_MAX_THREADS];
  size_t overflow[VBPR__LOSS_MAX_THREADS];
} vbpr__fwd_job;

void vbpr__loss_fwd_range(void *job, size_t begin, size_t end, int tid);

/* The backward pass over rows: score gradients times scale, and, when
 * dim > 0, the embedding gradients of the stored forward. */
typedef struct vbpr__bwd_job {
  size_t M, N, dim;
  double scale; /* grad_output / batch */
  const float *gp, *gn;
  const float *user, *pos, *neg;
  float *g_ps, *g_ns;             /* score level (or NULL) */
  float *g_user, *g_pos, *g_neg;  /* embedding level (or NULL) */
} vbpr__bwd_job;

void vbpr__loss_bwd_range(void *job, size_t begin, size_t end, int tid);

/* Numerically stable pieces, exposed for the white-box tests. */
double vbpr__softplus(double z);   /* ln(1 + e^z), never overflows */
double vbpr__sigmoid(double z);    /* 1 / (1 + e^-z) */
double vbpr__exp_nonpos(double x); /* e^x for x <= 0 */
double vbpr__log1p_unit(double e); /* ln(1 + e) for 0 <= e <= 1 */

typedef enum {
  VBPR__STORED_NONE = 0,
  VBPR__STORED_SCORES = 1,
  VBPR__STORED_EMBED = 2
} vbpr__stored;

struct vbpr_loss {
  vbpr_loss_kind kind;
  vbpr__loss_cfg cfg;

  /* the stored forward */
  vbpr__stored stored;
  size_t batch, dim;
  const float *user, *pos, *neg;

  /* workspaces, grown by vbpr__reserve and kept between calls */
  float *ws;        /* alpha, beta, gp, gn, ps, ns, each 64-byte aligned */
  size_t ws_cap;
  double *rows;     /* per-row losses */
  size_t rows_cap;
  double *scratch;  /* per-thread row scratch */
  size_t scratch_cap;
  float *alpha, *beta, *gp, *gn, *ps, *ns;
};

#endif
