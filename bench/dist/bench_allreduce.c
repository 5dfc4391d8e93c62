/* The collectives of a data-parallel step on this machine's MPI, for the
 * communication model of doc/scaling.md:
 *
 *   mpirun -np 2 bench_allreduce [REPEATS]
 *
 * Rank 0 prints the median time of an MPI_Allreduce (sum, in place) of the
 * float buffers a Gowalla MF batch exchanges (the union's gradient rows,
 * 13.3 MB; the whole dense gradient, 36.3 MB; a small one for the latency)
 * and of the all-gather of the touched item ids (16k ids per rank), both
 * as wall time and as rank 0's CPU time (which a busy machine inflates
 * less: a rank waiting for a descheduled peer costs wall time only), and
 * the packing of the union's 26,025 gradient rows (random rows of the
 * 70,839 x 128 table) into the buffer and back. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"

static double cpu_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Median wall time per call; *cpu gets the median CPU time per call. */
static double time_reduce(float *buf, int n, int reps, double *cpu)
{
  double t[64], c[64];
  for (int r = -1; r < reps; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_seconds(), c0 = cpu_seconds();
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (r >= 0) t[r] = bench_seconds() - t0, c[r] = cpu_seconds() - c0;
  }
  *cpu = bench_median(c, reps);
  return bench_median(t, reps);
}

/* CPU time of packing `rows` random rows of a [total x dim] table into a
 * buffer and unpacking them back (median over reps). */
static double time_pack(float *table, float *buf, int total, int rows, int dim, int reps)
{
  int *ids = malloc((size_t)rows * sizeof *ids);
  double c[64];
  uint32_t x = 12345;
  for (int i = 0; i < rows; i++) ids[i] = (int)((x = x * 1664525u + 1013904223u) % (uint32_t)total);
  for (int r = -1; r < reps; r++) {
    double c0 = cpu_seconds();
    for (int i = 0; i < rows; i++)
      memcpy(buf + (size_t)i * dim, table + (size_t)ids[i] * dim, (size_t)dim * sizeof *buf);
    for (int i = 0; i < rows; i++)
      memcpy(table + (size_t)ids[i] * dim, buf + (size_t)i * dim, (size_t)dim * sizeof *buf);
    if (r >= 0) c[r] = cpu_seconds() - c0;
  }
  free(ids);
  return bench_median(c, reps);
}

static double time_gather(int32_t *send, int32_t *recv, int n, int reps)
{
  double t[64];
  for (int r = -1; r < reps; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_seconds();
    MPI_Allgather(send, n, MPI_INT32_T, recv, n, MPI_INT32_T, MPI_COMM_WORLD);
    if (r >= 0) t[r] = bench_seconds() - t0;
  }
  return bench_median(t, reps);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size, reps = argc > 1 ? atoi(argv[1]) : 20;
  if (reps < 1 || reps > 64) reps = 20;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int sizes[] = {1, 26025 * 128, (29858 + 40981) * 128};
  const char *names[] = {"1 float (latency)", "union rows, 13.3 MB", "dense, 36.3 MB"};
  float *buf = calloc((size_t)sizes[2], sizeof *buf);
  int32_t *ids = calloc((size_t)16384 * (size_t)(size + 1), sizeof *ids);
  if (buf == NULL || ids == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
  for (int i = 0; i < 3; i++) {
    double cpu = 0, t = time_reduce(buf, sizes[i], reps, &cpu);
    if (rank == 0)
      printf("%d ranks: all-reduce %-22s %9.3f ms wall, %9.3f ms CPU\n", size, names[i],
             1e3 * t, 1e3 * cpu);
  }
  double t = time_gather(ids, ids + 16384, 16384, reps);
  if (rank == 0) printf("%d ranks: all-gather of 16384 ids per rank  %9.3f ms\n", size, 1e3 * t);
  float *union_buf = malloc((size_t)sizes[1] * sizeof *union_buf);
  if (union_buf == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
  double pack = time_pack(buf, union_buf, 29858 + 40981, 26025, 128, reps);
  if (rank == 0) printf("pack and unpack of the union's 26025 rows: %9.3f ms CPU\n", 1e3 * pack);
  free(union_buf);
  free(buf);
  free(ids);
  MPI_Finalize();
  return 0;
}
