/* Steady-state calls as a per-sample training loop makes them: batch-1
 * fused loss calls (Variational BPR, default M 2 N 4, dim 64) with the
 * default thread setting, between two marker system calls that syscalls.sh
 * finds in an strace log. The library must make no system call in between.
 *
 * Usage: steady_loss CALLS */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vbpr/error.h"
#include "vbpr/loss.h"
#include "vbpr/runtime.h"

enum { DIM = 64, M = 2, N = 4, WARM_UP = 100 };

static float user[DIM], pos[M * DIM], neg[N * DIM];
static float g_user[DIM], g_pos[M * DIM], g_neg[N * DIM];

static int step(vbpr_loss *loss, long i)
{
  float l = 0.0f;
  user[i % DIM] = 0.01f * (float)(i % 7); /* vary the input a little */
  if (vbpr_loss_forward_backward(loss, 1, DIM, user, pos, neg, NULL, NULL, 1.0f, &l,
                                 g_user, g_pos, g_neg) != VBPR_OK ||
      vbpr_get_num_threads() < 1) {
    fprintf(stderr, "steady_loss: call %ld failed: %s\n", i, vbpr_last_error());
    return 1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  long calls = argc > 1 ? atol(argv[1]) : 1000;
  for (int j = 0; j < DIM; j++) user[j] = 0.1f;
  for (int j = 0; j < M * DIM; j++) pos[j] = 0.05f * (float)(j % 3);
  for (int j = 0; j < N * DIM; j++) neg[j] = -0.05f * (float)(j % 5);
  vbpr_loss *loss = NULL;
  if (vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss) != VBPR_OK) {
    fprintf(stderr, "steady_loss: %s\n", vbpr_last_error());
    return 1;
  }
  int rc = 0;
  for (long i = 0; i < WARM_UP && rc == 0; i++) rc = step(loss, i);
  /* markers: failing calls with a path strace prints, made by this thread */
  (void)access("/vbpr-steady-begin", F_OK);
  for (long i = 0; i < calls && rc == 0; i++) rc = step(loss, i);
  (void)access("/vbpr-steady-end", F_OK);
  vbpr_loss_destroy(loss);
  return rc;
}
