/* Internal to the loss object: the handle layout and the row kernels.
 * loss.c owns the public API (validation, state, errors); loss_kernel.c the
 * arithmetic. Not installed. */
#ifndef VBPR_LIB_LOSS_INTERNAL_H
#define VBPR_LIB_LOSS_INTERNAL_H

#include <stdbool.h>
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
  /* The kind's row math: VBPR_LOSS_INFONCE, or anything else (0 included)
   * for the BPR / Variational BPR family, where BPR is M = N = 1. */
  int kind;
  double temperature; /* InfoNCE */
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

/* ---- the row kernel ------------------------------------------------------
 * The one implementation of the score-level math, for every kind (BPR,
 * Variational BPR with all its estimators, attention signs, priors and
 * hardness, InfoNCE) and every path: the public calls (batched over threads
 * below, or at once for small batches) and the fused training path
 * (lib/optim/fused.c), which feeds it a few tuples at a time.
 *
 * It maps the scores of B rows (1 <= B <= vbpr__loss_block_rows(cfg)),
 * row-major, float or double, and optional log-priors, to each row's loss
 * and the derivative of that row's loss with respect to each score (not
 * scaled by anything), and the attention weights. Every output pointer may
 * be NULL (not wanted). `scratch` holds vbpr__loss_scratch_per_thread(cfg)
 * doubles. Each row is computed the same way whatever B is: the results of
 * a row never depend on how rows are grouped. */
typedef struct vbpr__rows_in {
  const float *sp, *sn, *lpp, *lpn;      /* float scores [B*M], [B*N] and priors */
  const double *spd, *snd, *lppd, *lpnd; /* or the same in double (sp == NULL) */
} vbpr__rows_in;

typedef struct vbpr__rows_out {
  double *loss;              /* [B] row losses */
  float *alpha, *beta;       /* [B*M], [B*N] attention weights */
  float *gp, *gn;            /* d row loss / d score, rounded to float */
  double *gpd, *gnd;         /* the same in double */
} vbpr__rows_out;

/* Runs the row math; returns the first row whose inputs are not all finite
 * (nothing of that row or later ones is written then) or, with
 * *overflow set, the first row whose float results overflow (every row is
 * written); B when all is well. */
size_t vbpr__loss_rows(const vbpr__loss_cfg *cfg, size_t B, const vbpr__rows_in *in,
                       double *scratch, const vbpr__rows_out *out, bool *overflow);

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
  /* double precision (vbpr_loss_*_f64): these instead of their float
   * counterparts above (user_d != NULL or ps_d != NULL selects it); the
   * score gradients go to gp_d, gn_d, and gp, gn stay unused */
  const double *user_d, *pos_d, *neg_d, *ps_d, *ns_d, *lpp_d, *lpn_d;
  double *ps_out_d, *ns_out_d, *gp_d, *gn_d;
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
  /* double precision: used when gp_d != NULL, instead of the above */
  const double *gp_d, *gn_d;
  const double *user_d, *pos_d, *neg_d;
  double *g_ps_d, *g_ns_d, *g_user_d, *g_pos_d, *g_neg_d;
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
  VBPR__STORED_EMBED = 2,
  VBPR__STORED_F64 = 3 /* a double-precision call: attention and row losses only */
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
  double *wsd;      /* the double-precision calls: gp, ps, gn, ns in double */
  size_t wsd_cap;
  double *gp_d, *gn_d, *ps_d, *ns_d;
};

#endif
