/* vbpr-train: data-parallel training over MPI when built with it
 * (-Dmpi=auto finds Open MPI); dist_mpi.c or, without MPI, dist_none.c
 * (one process, nothing changes). The library never links MPI: this glue
 * hands it MPI's collectives through a vbpr_collective table. */
#ifndef VBPR_TOOLS_DIST_H
#define VBPR_TOOLS_DIST_H

#include <stdbool.h>

#include "vbpr/vbpr.h"

/* Starts MPI (under mpirun) and returns this process's rank and the
 * number of ranks; 0 and 1 without MPI. */
void dist_init(int *argc, char ***argv, int *rank, int *size);

/* Seconds a rank waits in a collective before it ends the job (a rank
 * that died or left early would otherwise leave the others waiting). */
void dist_set_timeout(double seconds);

/* Every rank learns whether every rank is ok; a rank that is not has
 * printed why. Returns false on every rank when one is not, after
 * printing "vbpr-train: rank R: <what> failed" on each. */
bool dist_all_ok(bool ok, const char *what);

/* True when every rank was started with the same arguments; otherwise
 * every rank prints which rank differs and returns false. */
bool dist_same_args(int argc, char **argv);

/* Makes the trainer data-parallel over MPI_COMM_WORLD (no-op for 1 rank). */
bool dist_attach(vbpr_trainer *tr);

/* Ends MPI (before the process exits). */
void dist_finish(void);

#endif
