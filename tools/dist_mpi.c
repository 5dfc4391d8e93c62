/* vbpr-train over MPI: the collectives the library asks for, on
 * MPI_COMM_WORLD. Every wait has a deadline: a collective that does not
 * complete in time (a rank died, hung, or left early) ends the whole job
 * with MPI_Abort and a message, rather than leaving the others waiting. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "dist.h"

static int my_rank, my_size = 1;
static double timeout_s = 600;

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void end_job(const char *why)
{
  fprintf(stderr, "vbpr-train: rank %d: %s; ending the job\n", my_rank, why);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

/* Waits for a non-blocking collective until the deadline. */
static int wait_for(MPI_Request *req, const char *what)
{
  double deadline = now() + timeout_s;
  for (unsigned spins = 0;; spins++) {
    int done = 0;
    int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return rc;
    if (done) return MPI_SUCCESS;
    if ((spins & 1023) == 0 && now() > deadline) {
      char why[160];
      snprintf(why, sizeof why, "no answer from the other ranks in %s for %.0f s (a rank "
               "died, hangs, or left early; see --timeout)", what, timeout_s);
      end_job(why);
    }
    /* Spin briefly (the peer is usually about to answer), then sleep
     * between tests: on a busy machine a sleeping waiter leaves the cores
     * to the ranks it waits for, and wakes with the scheduler's favour. */
    if (spins > 2000) nanosleep(&(struct timespec){0, 20000}, NULL);
  }
}

/* MPI counts are int: big buffers go in pieces. */
enum { PIECE = 1 << 30 };

static int all_reduce_sum(void *ctx, size_t n, float *buf)
{
  (void)ctx;
  for (size_t at = 0; at < n; at += PIECE) {
    int count = (int)(n - at < PIECE ? n - at : PIECE);
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf + at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            &req);
    if (rc == MPI_SUCCESS) rc = wait_for(&req, "an all-reduce");
    if (rc != MPI_SUCCESS) return rc;
  }
  return 0;
}

static int all_gather_ids(void *ctx, size_t n, const int32_t *send, int32_t *recv)
{
  (void)ctx;
  if (n > INT_MAX) return -1;
  MPI_Request req;
  int rc = MPI_Iallgather(send, (int)n, MPI_INT32_T, recv, (int)n, MPI_INT32_T,
                          MPI_COMM_WORLD, &req);
  if (rc == MPI_SUCCESS) rc = wait_for(&req, "an all-gather");
  return rc == MPI_SUCCESS ? 0 : rc;
}

static void abort_job(void *ctx, vbpr_status st, const char *message)
{
  (void)ctx, (void)st;
  end_job(message);
}

static bool started; /* MPI_Init was called */

/* Started by a launcher (mpirun, mpiexec, srun)? Their environment says so;
 * otherwise MPI is not started at all, and the program is exactly the
 * one-process one (no singleton start-up). */
static bool launched(void)
{
  const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    if (getenv(vars[i]) != NULL) return true;
  return false;
}

void dist_init(int *argc, char ***argv, int *rank, int *size)
{
  *rank = 0;
  *size = 1;
  if (!launched()) return;
  started = true;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &my_size);
  *rank = my_rank;
  *size = my_size;
}

void dist_set_timeout(double seconds) { timeout_s = seconds; }

/* Every rank's one id, in rank order (malloc'd); ends the job on failure. */
static int32_t *gather_one(int32_t mine, const char *what)
{
  int32_t *all = malloc((size_t)my_size * sizeof *all);
  if (all == NULL || all_gather_ids(NULL, 1, &mine, all) != 0) end_job(what);
  return all;
}

bool dist_all_ok(bool ok, const char *what)
{
  if (my_size == 1) return ok;
  int32_t *flags = gather_one(ok ? 0 : 1, "cannot exchange the ranks' status");
  bool every = true;
  for (int r = 0; r < my_size; r++)
    if (flags[r] != 0) {
      every = false;
      if (r != my_rank) fprintf(stderr, "vbpr-train: rank %d: %s failed on rank %d\n",
                                my_rank, what, r);
    }
  free(flags);
  return every;
}

/* FNV-1a of the arguments after the program's name. */
static int32_t args_hash(int argc, char **argv)
{
  uint32_t h = 2166136261u;
  for (int i = 1; i < argc; i++)
    for (const char *p = argv[i];; p++) {
      h = (h ^ (unsigned char)*p) * 16777619u;
      if (*p == '\0') break;
    }
  return (int32_t)(h & 0x7fffffff);
}

bool dist_same_args(int argc, char **argv)
{
  if (my_size == 1) return true;
  int32_t *all = gather_one(args_hash(argc, argv), "cannot compare the ranks' arguments");
  bool same = true;
  for (int r = 1; r < my_size && same; r++)
    if (all[r] != all[0]) {
      fprintf(stderr, "vbpr-train: rank %d: rank %d was started with other arguments than "
              "rank 0; every rank needs the same flags\n", my_rank, r);
      same = false;
    }
  free(all);
  return same;
}

bool dist_attach(vbpr_trainer *tr)
{
  if (my_size == 1) return true;
  vbpr_collective c;
  vbpr_status st = vbpr_collective_init(&c, VBPR_COLLECTIVE_VERSION);
  c.rank = (size_t)my_rank;
  c.size = (size_t)my_size;
  c.all_reduce_sum = all_reduce_sum;
  c.all_gather_ids = all_gather_ids;
  c.abort_job = abort_job;
  if (st == VBPR_OK) st = vbpr_trainer_set_collective(tr, &c);
  if (st != VBPR_OK) cli_error("data-parallel training");
  return st == VBPR_OK;
}

void dist_finish(void)
{
  if (started) MPI_Finalize();
}
