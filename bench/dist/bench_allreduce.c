/* The collectives of a data-parallel step on this machine's MPI, for the
 * communication model of doc/scaling.md:
 *
 *   mpirun -np 2 bench_allreduce [REPEATS]
 *
 * Rank 0 prints the median time of an MPI_Allreduce (sum, in place) of the
 * float buffers a Gowalla MF batch exchanges (the union's gradient rows,
 * 13.3 MB; the whole dense gradient, 36.3 MB; a small one for the latency)
 * and of the all-gather of the touched item ids (16k ids per rank). */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../bench_util.h"

static double time_reduce(float *buf, int n, int reps)
{
  double t[64];
  for (int r = -1; r < reps; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_seconds();
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (r >= 0) t[r] = bench_seconds() - t0;
  }
  return bench_median(t, reps);
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
    double t = time_reduce(buf, sizes[i], reps);
    if (rank == 0)
      printf("%d ranks: all-reduce %-22s %9.3f ms  (%.2f GB/s of buffer)\n", size, names[i],
             1e3 * t, sizes[i] * 4.0 / t / 1e9);
  }
  double t = time_gather(ids, ids + 16384, 16384, reps);
  if (rank == 0) printf("%d ranks: all-gather of 16384 ids per rank  %9.3f ms\n", size, 1e3 * t);
  free(buf);
  free(ids);
  MPI_Finalize();
  return 0;
}
