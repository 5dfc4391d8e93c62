#include <math.h>

#include "core/core.h"

double vbpr__rng_normal(vbpr__rng *r)
{
  /* Box-Muller; u1 in (0, 1] so the log is finite. */
  double u1 = 1.0 - vbpr__rng_uniform(r);
  double u2 = vbpr__rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}
