/*
 * libvbpr: data-parallel training inside the host's distributed engine.
 *
 * The library never links MPI, NCCL or gloo. A host that trains on several
 * processes ("ranks") hands it a small table of callbacks over its own
 * engine (vbpr_collective): an all-reduce (sum) of a float buffer, an
 * all-gather of int32 ids, its rank and the number of ranks, and an
 * optional way to end the job. With it:
 *
 *  - the trainer trains data-parallel (vbpr_trainer_set_collective()):
 *    each rank draws its share of every global batch (the sampler's RANK
 *    and WORLD_SIZE), computes the gradients of its rows, the ranks sum
 *    them, and every rank applies the same optimizer step, so the ranks
 *    keep identical parameters, equal (to float rounding) to those of one
 *    process with the same seed and global batch;
 *  - a host with its own loop calls vbpr_collective_reduce_encoder()
 *    between vbpr_encoder_backward() and vbpr_optim_step_encoder(), and
 *    vbpr_collective_evaluate() instead of vbpr_evaluator_run().
 *
 * What is exchanged: the gradients of MF tables sparsely (the union of the
 * rows the ranks touched: an all-gather of row ids, then an all-reduce of
 * those rows only); dense gradients (LightGCN, whose backward reaches every
 * row) by an all-reduce of the whole tables. Evaluation is split by users;
 * the per-user counts are gathered exactly, so every rank gets the metrics
 * of one process, bit for bit.
 *
 * Failures: a step that fails on one rank (bad input, NaN, out of memory)
 * fails on every rank, with the same status and a message naming the rank
 * and its error, instead of leaving the others waiting in a collective:
 * each exchange first shares every rank's status. When a callback itself
 * fails (returns non-zero), the ranks can no longer stay in step: the
 * library calls the table's `abort_job` (if set) so that the host ends the
 * job (MPI_Abort), then returns VBPR_ERR_IO.
 *
 * Every rank must make the same calls in the same order (as with MPI
 * collectives). The callbacks are called on the thread that called the
 * library, never concurrently.
 */
#ifndef VBPR_COLLECTIVE_H
#define VBPR_COLLECTIVE_H

#include "vbpr/common.h"
#include "vbpr/encoder.h"
#include "vbpr/eval.h"
#include "vbpr/train.h"

VBPR_BEGIN_DECLS

/** The layout version of vbpr_collective this header describes. */
#define VBPR_COLLECTIVE_VERSION 1

/** Largest number of ranks (the sampler's WORLD_SIZE bound). */
#define VBPR_COLLECTIVE_MAX_RANKS 65536

/**
 * The host's collectives, in the style of libgit2's option structs: fill
 * it with vbpr_collective_init() (which sets `version` and clears the
 * rest), then set the fields. New fields are only ever appended, with a
 * new VBPR_COLLECTIVE_VERSION; the library reads only the fields of the
 * version the host was built with. The library copies the table: it need
 * not outlive the call that takes it, but `ctx` must outlive its use.
 *
 * Callbacks return 0 on success and anything else on failure; they are
 * collective: every rank calls them in the same order with the same n.
 */
typedef struct vbpr_collective {
  /** VBPR_COLLECTIVE_VERSION of the host's header (set by _init). */
  unsigned version;
  /** This process's rank, in [0, size). */
  size_t rank;
  /** Number of ranks, in [1, VBPR_COLLECTIVE_MAX_RANKS]. */
  size_t size;
  /** Passed to every callback. */
  void *ctx;
  /** Required: buf[0..n) = the element-wise sum over the ranks of their
   * buf (MPI_Allreduce with MPI_IN_PLACE, MPI_FLOAT, MPI_SUM). n >= 1. */
  int (*all_reduce_sum)(void *ctx, size_t n, float *buf);
  /** Required: recv[r*n .. r*n+n) = rank r's send[0..n), for every rank r
   * (MPI_Allgather of MPI_INT32_T). n >= 1; recv holds size * n. */
  int (*all_gather_ids)(void *ctx, size_t n, const int32_t *send, int32_t *recv);
  /** Optional (NULL: not called): the ranks can no longer stay in step (a
   * callback failed); the host should end the whole job, e.g. with
   * MPI_Abort. @p message says why. If it returns, the library returns
   * VBPR_ERR_IO. */
  void (*abort_job)(void *ctx, vbpr_status status, const char *message);
} vbpr_collective;

/**
 * Clears @p c and sets its version.
 * @param version  VBPR_COLLECTIVE_VERSION
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (NULL); VBPR_ERR_UNSUPPORTED
 *   (a version this library does not know: a header newer than it).
 */
VBPR_API vbpr_status vbpr_collective_init(vbpr_collective *c, unsigned version);

/**
 * Makes @p tr train data-parallel over @p c (copied), or single-process
 * again with NULL. Call it before vbpr_trainer_prepare() (VBPR_ERR_STATE
 * after): prepare sets the sampler's RANK and WORLD_SIZE from @p c. Every
 * rank must give its trainer the same parameters, data and seed; the
 * trainer checks the ones that would make the ranks fall out of step
 * (batch, M, N, rows per epoch, epoch, table sizes) at every epoch and
 * fails on every rank when they differ.
 *
 * Then vbpr_trainer_epoch(), _fit() and _evaluate() are collective: every
 * rank calls them together. The reported losses are the global batch's,
 * the progress callback is called on every rank, and a stop asked by the
 * callback on any rank stops every rank at the same batch (agreed before
 * the next one). Data-parallel training uses the batched path; other
 * training paths are refused with VBPR_ERR_UNSUPPORTED.
 *
 * @return VBPR_OK; VBPR_ERR_INVALID_ARGUMENT (a required callback missing,
 *   rank >= size, size out of range); VBPR_ERR_UNSUPPORTED (unknown
 *   version); VBPR_ERR_STATE (after prepare).
 */
VBPR_API vbpr_status vbpr_trainer_set_collective(vbpr_trainer *tr,
                                                 const vbpr_collective *c);

/**
 * Sums the encoder's gradients over the ranks, for a host with its own
 * loop: after vbpr_encoder_backward() (or with no backward at all on a
 * rank whose share of the batch was empty, after vbpr_encoder_zero_grad())
 * and before vbpr_optim_step_encoder(). Afterwards every rank holds the
 * same gradient and the same touched rows (their union), so the same
 * optimizer step keeps the parameters equal.
 *
 * The loss is a mean over rows: for the sum of the ranks' gradients to be
 * the gradient of the global batch, give vbpr_loss_backward() (or
 * _forward_backward()) grad_output = rows of this rank / rows of the
 * global batch.
 *
 * @param local  this rank's status for the step so far: VBPR_OK, or the
 *               error its forward, loss or backward returned (its message
 *               still in vbpr_last_error()). The ranks share it first: when
 *               any rank failed, every rank returns that rank's status,
 *               with a message naming the rank and its error, and no
 *               gradient is exchanged.
 * @param n      number of extra values in @p sums (may be 0)
 * @param sums   [n] values summed over the ranks with the gradients (such
 *               as loss * rows, for the global batch's loss); NULL if n==0
 * It allocates its exchange buffers per call (a few times the union's
 * gradient rows); the trainer's data-parallel path keeps them instead.
 *
 * @return VBPR_OK; the failing rank's status; VBPR_ERR_INVALID_ARGUMENT;
 *   VBPR_ERR_OUT_OF_MEMORY; VBPR_ERR_IO (a callback failed: see above).
 */
VBPR_API vbpr_status vbpr_collective_reduce_encoder(const vbpr_collective *c,
                                                    vbpr_encoder *enc, vbpr_status local,
                                                    size_t n, float *sums);

/**
 * vbpr_evaluator_run() split by users over the ranks: each rank ranks the
 * items for its contiguous share of the evaluated users, the per-user
 * counts are gathered exactly, and every rank ends with the same results,
 * equal bit for bit to a single process's run (metrics, per-user values).
 * Every rank passes the same tables (identical parameters).
 *
 * @return as vbpr_evaluator_run(), from whichever rank failed (every rank
 *   returns it); VBPR_ERR_IO when a callback failed.
 */
VBPR_API vbpr_status vbpr_collective_evaluate(const vbpr_collective *c, vbpr_evaluator *ev,
                                              size_t num_users, size_t num_items,
                                              size_t dim, const float *user_emb,
                                              const float *item_emb);

VBPR_END_DECLS

#endif /* VBPR_COLLECTIVE_H */
