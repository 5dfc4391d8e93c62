#include <math.h>
#include <string.h>

#include "core/core.h"

size_t vbpr__find_nonfinite(const float *x, size_t n)
{
  /* An exponent of all ones marks NaN and infinity. Integer ORs may be
   * reordered (a float sum may not), so the block loop vectorises, and one
   * branch per block keeps it cheap. */
  const size_t block = 512;
  for (size_t b = 0; b < n; b += block) {
    size_t e = b + block < n ? b + block : n;
    uint32_t bad = 0;
    for (size_t i = b; i < e; i++) {
      uint32_t u;
      memcpy(&u, &x[i], sizeof u);
      bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    if (VBPR_UNLIKELY(bad))
      for (size_t i = b; i < e; i++)
        if (!isfinite(x[i])) return i;
  }
  return n;
}
