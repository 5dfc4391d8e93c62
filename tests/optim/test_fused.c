/* The fused path (vbpr_optim_step_tuples) and the row-wise optimizers
 * (Adagrad, sparse Adam): against a sequential double-precision reference
 * that computes each tuple's loss gradient from the loss test's independent
 * reference and applies the update rule as written; argument checks,
 * skipped non-finite tuples, determinism on one thread. Black-box. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../loss/ref_loss.h"
#include "testutil.h"
#include "vbpr/error.h"
#include "vbpr/loss.h"
#include "vbpr/optim.h"
#include "vbpr/runtime.h"

enum { NU = 16, NI = 64, DIM = 5, COUNT = 24 };

static double val(int i, int salt)
{
  uint32_t s = (uint32_t)(i + 1) * 2654435761u ^ (uint32_t)salt * 40503u;
  s ^= s >> 15;
  s *= 2246822519u;
  s ^= s >> 13;
  return (double)(s >> 8) / (1 << 24) * 2.0 - 1.0;
}

/* ---- a problem and its reference ---------------------------------------- */

typedef struct problem {
  vbpr_loss_kind kind;
  ref_cfg c;     /* variational parameters; c_neg is InfoNCE's temperature */
  int M, N;
  bool priors;
  float ut[NU * DIM], it[NI * DIM];
  int32_t users[COUNT], pos[COUNT * 3], neg[COUNT * 6];
  float lpp[NI], lpn[NI];
} problem;

/* Tuples whose groups of four consecutive tuples share no row (so that the
 * fused path's grouping cannot matter), while later groups reuse rows. */
static void make_problem(problem *p, vbpr_loss_kind kind, ref_cfg c, bool priors, int salt)
{
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->c = c;
  p->M = c.M, p->N = c.N;
  p->priors = priors;
  for (int i = 0; i < NU * DIM; i++) p->ut[i] = (float)(0.3 * val(i, salt));
  for (int i = 0; i < NI * DIM; i++) p->it[i] = (float)(0.3 * val(i, salt + 1));
  for (int i = 0; i < NI; i++) {
    p->lpp[i] = (float)(0.5 * val(i, salt + 2));
    p->lpn[i] = (float)(0.5 * val(i, salt + 3));
  }
  int per = p->M + p->N;
  for (int g = 0; g < COUNT / 4; g++) {
    int order[NI];
    for (int i = 0; i < NI; i++) order[i] = i;
    for (int i = NI - 1; i > 0; i--) { /* a shuffle keyed by the group */
      int x = (int)((val(i, salt * 7 + g) + 1.0) / 2.0 * (i + 1)) % (i + 1), t = order[i];
      order[i] = order[x], order[x] = t;
    }
    for (int k = 0; k < 4; k++) {
      int t = g * 4 + k;
      p->users[t] = (g * 5 + k * 3) % NU;
      for (int m = 0; m < p->M; m++) p->pos[t * p->M + m] = order[k * per + m];
      for (int n = 0; n < p->N; n++) p->neg[t * p->N + n] = order[k * per + p->M + n];
    }
  }
}

static vbpr_loss *make_loss(const problem *p)
{
  vbpr_loss *l = NULL;
  ck_assert_ok(vbpr_loss_create(p->kind, &l));
  if (p->kind == VBPR_LOSS_INFONCE) {
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, p->N));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_TEMPERATURE, p->c.c_neg));
  } else if (p->kind == VBPR_LOSS_VARIATIONAL) {
    const ref_cfg *c = &p->c;
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_POS, c->M));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NUM_NEG, c->N));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_C_POS, c->c_pos));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_C_NEG, c->c_neg));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_ESTIMATOR, c->est));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NEG_ATTENTION, c->sign));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_POS_HARDNESS, c->lam_pos));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_NEG_HARDNESS, c->lam_neg));
    ck_assert_ok(vbpr_loss_set(l, VBPR_LOSS_HARDNESS_TAU, c->tau));
  }
  return l;
}

/* d row loss / d score of one tuple, in double. */
static void ref_score_grads(const problem *p, const double *sp, const double *sn,
                            const double *lpp, const double *lpn, double *gp, double *gn)
{
  if (p->kind == VBPR_LOSS_INFONCE) { /* softmax over [z+, z-]: (p - onehot) / t */
    double t = p->c.c_neg, z[REF_MAX + 1], w[REF_MAX + 1] = {0};
    z[0] = sp[0] / t + (lpp ? lpp[0] : 0);
    for (int n = 0; n < p->N; n++) z[n + 1] = sn[n] / t + (lpn ? lpn[n] : 0);
    ref_softmax(p->N + 1, z, w);
    gp[0] = (w[0] - 1.0) / t;
    for (int n = 0; n < p->N; n++) gn[n] = w[n + 1] / t;
    return;
  }
  ref_frozen f;
  ref_freeze(&p->c, sp, sn, lpp, lpn, &f);
  ref_row_grad(&p->c, sp, sn, &f, gp, gn);
}

/* The row-wise optimizers as written, in double. */
typedef struct ref_opt {
  vbpr_optim_kind kind;
  double lr, wd, eps, b1, b2;
  double acc[NU + NI], m[(NU + NI) * DIM], v[(NU + NI) * DIM];
  int t[NU + NI];
} ref_opt;

static void ref_update(ref_opt *o, int node, double *row, const double *g0)
{
  double g[DIM];
  for (int k = 0; k < DIM; k++) g[k] = g0[k] + o->wd * row[k];
  if (o->kind == VBPR_OPTIM_SGD) {
    for (int k = 0; k < DIM; k++) row[k] -= o->lr * g[k];
  } else if (o->kind == VBPR_OPTIM_ADAGRAD) {
    double ss = 0;
    for (int k = 0; k < DIM; k++) ss += g[k] * g[k];
    o->acc[node] += ss / DIM;
    for (int k = 0; k < DIM; k++) row[k] -= o->lr * g[k] / (sqrt(o->acc[node]) + o->eps);
  } else {
    int t = ++o->t[node];
    for (int k = 0; k < DIM; k++) {
      double *m = &o->m[node * DIM + k], *v = &o->v[node * DIM + k];
      *m = o->b1 * *m + (1 - o->b1) * g[k];
      *v = o->b2 * *v + (1 - o->b2) * g[k] * g[k];
      double mh = *m / (1 - pow(o->b1, t)), vh = *v / (1 - pow(o->b2, t));
      row[k] -= o->lr * mh / (sqrt(vh) + o->eps);
    }
  }
}

/* Applies every tuple in order to double copies of the tables. */
static void reference(const problem *p, ref_opt *o, double *ut, double *it)
{
  for (int t = 0; t < COUNT; t++) {
    double sp[REF_MAX], sn[REF_MAX], gp[REF_MAX], gn[REF_MAX], lpp[REF_MAX], lpn[REF_MAX];
    double *u = ut + p->users[t] * DIM;
    for (int k = 0; k < p->M + p->N; k++) {
      int id = k < p->M ? p->pos[t * p->M + k] : p->neg[t * p->N + k - p->M];
      double s = 0;
      for (int x = 0; x < DIM; x++) s += u[x] * it[id * DIM + x];
      if (k < p->M) sp[k] = s, lpp[k] = p->lpp[id];
      else sn[k - p->M] = s, lpn[k - p->M] = p->lpn[id];
    }
    ref_score_grads(p, sp, sn, p->priors ? lpp : NULL, p->priors ? lpn : NULL, gp, gn);
    double gu[DIM] = {0}, gi[DIM];
    for (int k = 0; k < p->M + p->N; k++) {
      int id = k < p->M ? p->pos[t * p->M + k] : p->neg[t * p->N + k - p->M];
      double c = k < p->M ? gp[k] : gn[k - p->M];
      for (int x = 0; x < DIM; x++) gu[x] += c * it[id * DIM + x];
    }
    for (int k = 0; k < p->M + p->N; k++) {
      int id = k < p->M ? p->pos[t * p->M + k] : p->neg[t * p->N + k - p->M];
      double c = k < p->M ? gp[k] : gn[k - p->M];
      for (int x = 0; x < DIM; x++) gi[x] = c * u[x];
      ref_update(o, NU + id, it + id * DIM, gi);
    }
    ref_update(o, p->users[t], u, gu);
  }
}

static const ref_cfg bpr_c = {1, 1, 4, 4, 0, 0, 0.5, 1, 1};

/* _i: loss configuration x optimizer. */
START_TEST(step_tuples_matches_the_sequential_reference)
{
  const struct {
    vbpr_loss_kind kind;
    ref_cfg c;
    bool priors;
  } losses[] = {
    {VBPR_LOSS_BPR, bpr_c, false},
    {VBPR_LOSS_VARIATIONAL, {2, 4, 0.8, 1.3, 0, 0, 0.5, 1, 1}, true},
    {VBPR_LOSS_VARIATIONAL, {3, 2, 1.1, 0.6, 0.7, 1.3, 0.6, 2, -1}, false},
    {VBPR_LOSS_VARIATIONAL, {2, 3, 0.9, 1.7, 0, 0.5, 0.5, 3, -1}, true},
    {VBPR_LOSS_INFONCE, {1, 6, 0, 0.4, 0, 0, 0, 0, 0}, true},
  };
  const vbpr_optim_kind kinds[] = {VBPR_OPTIM_SGD, VBPR_OPTIM_ADAGRAD, VBPR_OPTIM_SPARSE_ADAM};
  int li = _i / 3;
  vbpr_optim_kind ok = kinds[_i % 3];
  problem p;
  make_problem(&p, losses[li].kind, losses[li].c, losses[li].priors, 10 + _i);
  ck_assert_ok(vbpr_set_num_threads(1));
  vbpr_loss *l = make_loss(&p);
  vbpr_optim *o = NULL;
  ck_assert_ok(vbpr_optim_create(ok, &o));
  double lr = ok == VBPR_OPTIM_SGD ? 0.3 : ok == VBPR_OPTIM_ADAGRAD ? 0.05 : 0.01;
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_LR, lr));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_WEIGHT_DECAY, 0.01));
  static ref_opt r;
  memset(&r, 0, sizeof r);
  r = (ref_opt){ok, lr, 0.01, 1e-8, 0.9, 0.999, {0}, {0}, {0}, {0}};
  double ut[NU * DIM], it[NI * DIM];
  for (int i = 0; i < NU * DIM; i++) ut[i] = p.ut[i];
  for (int i = 0; i < NI * DIM; i++) it[i] = p.it[i];
  double mean = -1;
  /* twice over the tuples, in two calls: state carries over */
  for (int rep = 0; rep < 2; rep++) {
    ck_assert_ok(vbpr_optim_step_tuples(o, l, 2, NU, NI, DIM, p.ut, p.it, COUNT, p.users,
                                        p.pos, p.neg, p.priors ? p.lpp : NULL,
                                        p.priors ? p.lpn : NULL, &mean));
    reference(&p, &r, ut, it);
  }
  ck_assert(isfinite(mean) && mean > 0);
  double mx = 0;
  for (int i = 0; i < NU * DIM; i++) mx = fmax(mx, fabs(ut[i]));
  for (int i = 0; i < NI * DIM; i++) mx = fmax(mx, fabs(it[i]));
  for (int i = 0; i < NU * DIM; i++)
    ck_assert_msg(fabs(p.ut[i] - ut[i]) <= 2e-5 * mx, "case %d: user table [%d] %.8g vs %.8g",
                  _i, i, (double)p.ut[i], ut[i]);
  for (int i = 0; i < NI * DIM; i++)
    ck_assert_msg(fabs(p.it[i] - it[i]) <= 2e-5 * mx, "case %d: item table [%d] %.8g vs %.8g",
                  _i, i, (double)p.it[i], it[i]);
  /* the rows moved: the check is not vacuous */
  problem q;
  make_problem(&q, losses[li].kind, losses[li].c, losses[li].priors, 10 + _i);
  double moved = 0;
  for (int i = 0; i < NI * DIM; i++) moved = fmax(moved, fabs(q.it[i] - p.it[i]));
  ck_assert_msg(moved > 1e-3, "case %d: nothing moved (%g)", _i, moved);
  int64_t steps = 0;
  ck_assert_ok(vbpr_optim_slot_steps(o, 3, &steps));
  ck_assert_int_eq(steps, 2);
  vbpr_optim_destroy(o);
  vbpr_loss_destroy(l);
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

/* ---- arguments ------------------------------------------------------------ */

static bool same_tables(const problem *a, const problem *b)
{
  return memcmp(a->ut, b->ut, sizeof a->ut) == 0 && memcmp(a->it, b->it, sizeof a->it) == 0;
}

START_TEST(step_tuples_checks_before_updating)
{
  problem p, orig;
  make_problem(&p, VBPR_LOSS_VARIATIONAL, (ref_cfg){2, 4, 4, 4, 0, 0, 0.5, 1, 1}, false, 3);
  orig = p;
  vbpr_loss *l = make_loss(&p);
  vbpr_optim *o = NULL, *adam = NULL;
  ck_assert_ok(vbpr_optim_create(VBPR_OPTIM_ADAGRAD, &o));
  ck_assert_ok(vbpr_optim_create(VBPR_OPTIM_ADAM, &adam));
  double mean = 7;
  ck_assert_status(vbpr_optim_step_tuples(adam, l, 0, NU, NI, DIM, p.ut, p.it, COUNT,
                                          p.users, p.pos, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_UNSUPPORTED);
  ck_assert_ptr_nonnull(strstr(vbpr_last_error(), "row-wise"));
  ck_assert_status(vbpr_optim_step_tuples(o, NULL, 0, NU, NI, DIM, p.ut, p.it, COUNT,
                                          p.users, p.pos, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step_tuples(o, l, 0, NU, NI, DIM, p.ut, p.it, COUNT, p.users,
                                          NULL, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step_tuples(o, l, VBPR_OPTIM_MAX_SLOTS - 1, NU, NI, DIM, p.ut,
                                          p.it, COUNT, p.users, p.pos, p.neg, NULL, NULL,
                                          &mean),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step_tuples(o, l, 0, NU, NI, 0, p.ut, p.it, COUNT, p.users,
                                          p.pos, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_status(vbpr_optim_step_tuples(o, l, 0, NU, SIZE_MAX / 2, DIM, p.ut, p.it, COUNT,
                                          p.users, p.pos, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_INVALID_ARGUMENT);
  /* an id out of range anywhere: nothing moves */
  p.neg[COUNT * 4 - 1] = NI;
  ck_assert_status(vbpr_optim_step_tuples(o, l, 0, NU, NI, DIM, p.ut, p.it, COUNT, p.users,
                                          p.pos, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_OUT_OF_RANGE);
  ck_assert_msg(strstr(vbpr_last_error(), "neg[95] = 64 is out of range [0, 64)"), "%s",
                vbpr_last_error());
  p.neg[COUNT * 4 - 1] = orig.neg[COUNT * 4 - 1];
  p.users[3] = -1;
  ck_assert_status(vbpr_optim_step_tuples(o, l, 0, NU, NI, DIM, p.ut, p.it, COUNT, p.users,
                                          p.pos, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_OUT_OF_RANGE);
  p.users[3] = orig.users[3];
  ck_assert(same_tables(&p, &orig) && mean == 7);
  /* a slot used for other rows is refused */
  float buf[10] = {0}, g[10] = {0};
  ck_assert_ok(vbpr_optim_step(o, 5, 10, buf, g));
  ck_assert_status(vbpr_optim_step_tuples(o, l, 4, NU, NI, DIM, p.ut, p.it, COUNT, p.users,
                                          p.pos, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_INVALID_ARGUMENT);
  ck_assert(same_tables(&p, &orig));
  /* zero tuples: nothing to do, fine */
  ck_assert_ok(vbpr_optim_step_tuples(o, l, 0, NU, NI, DIM, p.ut, p.it, 0, NULL, NULL, NULL,
                                      NULL, NULL, &mean));
  ck_assert(same_tables(&p, &orig) && mean == 0);
  vbpr_optim_destroy(o), vbpr_optim_destroy(adam);
  vbpr_loss_destroy(l);
}
END_TEST

/* A tuple touching a row with a NaN is skipped and reported; the others are
 * applied, the NaN row stays as it was. */
START_TEST(step_tuples_skips_non_finite_tuples)
{
  problem p, orig;
  make_problem(&p, VBPR_LOSS_BPR, bpr_c, false, 5);
  int bad_user = p.users[6];
  p.ut[bad_user * DIM + 2] = NAN;
  orig = p;
  vbpr_loss *l = make_loss(&p);
  vbpr_optim *o = NULL;
  ck_assert_ok(vbpr_optim_create(VBPR_OPTIM_SGD, &o));
  double mean = -1;
  ck_assert_status(vbpr_optim_step_tuples(o, l, 0, NU, NI, DIM, p.ut, p.it, COUNT, p.users,
                                          p.pos, p.neg, NULL, NULL, &mean),
                   VBPR_ERR_NUMERIC);
  int first = 0;
  while (p.users[first] != bad_user) first++;
  char want[64];
  snprintf(want, sizeof want, "the first tuple %d (user %d)", first, bad_user);
  ck_assert_msg(strstr(vbpr_last_error(), want), "%s", vbpr_last_error());
  ck_assert(isfinite(mean) && mean > 0);
  for (int k = 0; k < DIM; k++)
    ck_assert(memcmp(&p.ut[bad_user * DIM + k], &orig.ut[bad_user * DIM + k], 4) == 0);
  ck_assert(!same_tables(&p, &orig));
  for (int i = 0; i < NI * DIM; i++) ck_assert(isfinite(p.it[i]));
  vbpr_optim_destroy(o);
  vbpr_loss_destroy(l);
}
END_TEST

/* One thread: the same call on the same input gives the same bits. Two
 * threads (Hogwild) on a larger problem: the loss falls just as well. */
START_TEST(step_tuples_is_deterministic_on_one_thread)
{
  enum { U = 300, I = 500, D = 16, C = 20000 };
  float *t1 = malloc((U + I) * D * 4), *t2 = malloc((U + I) * D * 4);
  int32_t *users = malloc(C * 4), *pos = malloc(C * 2 * 4), *neg = malloc(C * 4 * 4);
  ck_assert(t1 && t2 && users && pos && neg);
  for (int i = 0; i < (U + I) * D; i++) t1[i] = (float)(0.1 * val(i, 77));
  for (int i = 0; i < C; i++) users[i] = (int32_t)((val(i, 1) + 1) / 2 * U) % U;
  for (int i = 0; i < C * 2; i++) pos[i] = (int32_t)(users[i / 2] * 7 + i % 2) % 40;
  for (int i = 0; i < C * 4; i++) neg[i] = 40 + (int32_t)((val(i, 2) + 1) / 2 * (I - 40)) % (I - 40);
  double loss[3][3];
  for (int run = 0; run < 3; run++) {
    memcpy(t2, t1, (U + I) * D * 4);
    ck_assert_ok(vbpr_set_num_threads(run == 2 ? 2 : 1));
    vbpr_loss *l = NULL;
    vbpr_optim *o = NULL;
    ck_assert_ok(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &l));
    ck_assert_ok(vbpr_optim_create(VBPR_OPTIM_ADAGRAD, &o));
    for (int e = 0; e < 3; e++)
      ck_assert_ok(vbpr_optim_step_tuples(o, l, 0, U, I, D, t2, t2 + U * D, C, users, pos,
                                          neg, NULL, NULL, &loss[run][e]));
    if (run == 1) { /* same bits as run 0: compare the losses of every call */
      for (int e = 0; e < 3; e++) ck_assert(memcmp(&loss[0][e], &loss[1][e], 8) == 0);
    }
    vbpr_optim_destroy(o);
    vbpr_loss_destroy(l);
  }
  /* learning happened on every run, by about as much with two threads */
  for (int run = 0; run < 3; run++) ck_assert(loss[run][2] < 0.8 * loss[run][0]);
  ck_assert(fabs(loss[2][2] - loss[0][2]) <= 0.05 * loss[0][2]);
  ck_assert_ok(vbpr_set_num_threads(0));
  free(t1), free(t2), free(users), free(pos), free(neg);
}
END_TEST

/* ---- row-wise optimizers on their own ------------------------------------- */

/* vbpr_optim_step_rows with ADAGRAD and SPARSE_ADAM against the rules in
 * double: listed rows only, each with its own state. */
START_TEST(row_wise_kinds_follow_their_rules)
{
  vbpr_optim_kind kind = _i ? VBPR_OPTIM_SPARSE_ADAM : VBPR_OPTIM_ADAGRAD;
  enum { R = 6, D2 = DIM };
  float p[R * D2], g[R * D2];
  static ref_opt r;
  memset(&r, 0, sizeof r);
  r.kind = kind, r.lr = 0.02, r.wd = 0.1, r.eps = 1e-8, r.b1 = 0.9, r.b2 = 0.999;
  double ref[R * D2];
  for (int i = 0; i < R * D2; i++) ref[i] = p[i] = (float)val(i, 3);
  vbpr_optim *o = NULL;
  ck_assert_ok(vbpr_optim_create(kind, &o));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_LR, r.lr));
  ck_assert_ok(vbpr_optim_set(o, VBPR_OPTIM_WEIGHT_DECAY, r.wd));
  const int32_t rows[3][3] = {{0, 2, 2}, {2, 5, 1}, {4, 0, 2}};
  for (int step = 0; step < 3; step++) {
    for (int i = 0; i < R * D2; i++) g[i] = (float)val(i, 40 + step);
    ck_assert_ok(vbpr_optim_step_rows(o, 0, R, D2, p, g, 3, rows[step]));
    bool seen[R] = {false};
    for (int k = 0; k < 3; k++) {
      int row = rows[step][k];
      if (seen[row]) continue; /* a repeat counts once */
      seen[row] = true;
      double gd[D2];
      for (int x = 0; x < D2; x++) gd[x] = g[row * D2 + x];
      ref_update(&r, row, ref + row * D2, gd);
    }
  }
  for (int i = 0; i < R * D2; i++)
    ck_assert_msg(fabs(p[i] - ref[i]) <= 1e-5, "kind %d [%d]: %.8g vs %.8g", kind, i,
                  (double)p[i], ref[i]);
  /* row 3 was never listed: untouched */
  for (int x = 0; x < D2; x++) ck_assert(p[3 * D2 + x] == (float)val(3 * D2 + x, 3));
  /* the slot's row width is fixed */
  ck_assert_status(vbpr_optim_step_rows(o, 0, R * D2, 1, p, g, 1, rows[0]),
                   VBPR_ERR_INVALID_ARGUMENT);
  vbpr_optim_destroy(o);
}
END_TEST

/* A dense step is one row: sparse Adam then is Adam (up to rounding), and
 * Adagrad has one accumulator for the buffer. */
START_TEST(dense_step_is_one_row)
{
  float a[8], b[8], g[8];
  for (int i = 0; i < 8; i++) a[i] = b[i] = (float)val(i, 9);
  vbpr_optim *adam = NULL, *sparse = NULL;
  ck_assert_ok(vbpr_optim_create(VBPR_OPTIM_ADAM, &adam));
  ck_assert_ok(vbpr_optim_create(VBPR_OPTIM_SPARSE_ADAM, &sparse));
  for (int s = 0; s < 5; s++) {
    for (int i = 0; i < 8; i++) g[i] = (float)val(i, 20 + s);
    ck_assert_ok(vbpr_optim_step(adam, 0, 8, a, g));
    ck_assert_ok(vbpr_optim_step(sparse, 0, 8, b, g));
  }
  for (int i = 0; i < 8; i++) ck_assert(fabsf(a[i] - b[i]) <= 1e-6f);
  vbpr_optim *ada = NULL;
  ck_assert_ok(vbpr_optim_create(VBPR_OPTIM_ADAGRAD, &ada));
  for (int i = 0; i < 8; i++) a[i] = 1.0f, g[i] = i < 4 ? 1.0f : 3.0f;
  ck_assert_ok(vbpr_optim_step(ada, 0, 8, a, g));
  /* acc = mean g^2 = 5: every element moves by lr * g / sqrt(5) */
  for (int i = 0; i < 8; i++)
    ck_assert(fabs(a[i] - (1.0 - 0.05 * g[i] / sqrt(5.0))) <= 1e-6);
  vbpr_param_bounds bd;
  ck_assert_ok(vbpr_optim_param_bounds(VBPR_OPTIM_ADAGRAD, VBPR_OPTIM_LR, &bd));
  ck_assert(bd.def == 0.05);
  vbpr_optim_destroy(adam), vbpr_optim_destroy(sparse), vbpr_optim_destroy(ada);
}
END_TEST

static Suite *fused_suite(void)
{
  Suite *s = suite_create("fused");
  TCase *t = tcase_create("step_tuples");
  tcase_add_loop_test(t, step_tuples_matches_the_sequential_reference, 0, 15);
  tcase_add_test(t, step_tuples_checks_before_updating);
  tcase_add_test(t, step_tuples_skips_non_finite_tuples);
  tcase_add_test(t, step_tuples_is_deterministic_on_one_thread);
  suite_add_tcase(s, t);
  t = tcase_create("row_wise");
  tcase_add_loop_test(t, row_wise_kinds_follow_their_rules, 0, 2);
  tcase_add_test(t, dense_step_is_one_row);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return test_run_suite(fused_suite()); }
