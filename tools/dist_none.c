/* vbpr-train without MPI: one process. */
#include "dist.h"

void dist_init(int *argc, char ***argv, int *rank, int *size)
{
  (void)argc, (void)argv;
  *rank = 0;
  *size = 1;
}

void dist_set_timeout(double seconds) { (void)seconds; }
bool dist_all_ok(bool ok, const char *what) { (void)what; return ok; }
bool dist_same_args(int argc, char **argv) { (void)argc, (void)argv; return true; }
bool dist_attach(vbpr_trainer *tr) { (void)tr; return true; }
void dist_finish(void) {}
