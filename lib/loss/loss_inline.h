/* Inline pieces of the loss kernel that the fused training path
 * (lib/optim/fused.c) compiles into its own loops: inner products and the
 * dispatch of the hot functions to the best ISA. One definition, so that a
 * score is summed in the same order on every path. Internal; not installed. */
#ifndef VBPR_LIB_LOSS_INLINE_H
#define VBPR_LIB_LOSS_INLINE_H

#include <stddef.h>

/* The hot functions (marked VBPR_LOSS_CLONES; everything they call is forced
 * inline into them) are built for the baseline ISA and, where the toolchain
 * can dispatch at load time (GCC/Clang ifunc on x86-64 glibc), also for
 * AVX2; the best one for the CPU is picked once. (An AVX-512 clone measured
 * slower on Zen 4: the work per row is too short for the wider registers.)
 * The clones compute exactly the same thing: each lane does the same
 * operations in the same order, no FMA contraction is enabled (ISO C mode),
 * and every reduction order is written out. */
/* Not under ThreadSanitizer: gcc instruments the ifunc resolvers, which run
 * during relocation, before the TSan runtime exists. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute) && \
    !defined(VBPR_LOSS_NO_CLONES) && !defined(__SANITIZE_THREAD__)
#  if __has_attribute(target_clones)
#    define VBPR_LOSS_CLONES __attribute__((target_clones("avx2", "default")))
#  endif
#endif
#ifndef VBPR_LOSS_CLONES
#  define VBPR_LOSS_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define VBPR_INLINE static inline __attribute__((always_inline))
#else
#  define VBPR_INLINE static inline
#endif

/* Sixteen independent partial sums, which the compiler maps to vector
 * registers without reassociating anything itself, then a fixed pairwise
 * reduction; the dim % 16 tail is summed separately so that the partial
 * sums are never indexed by a variable (which would keep them in memory). */
VBPR_INLINE float vbpr__dot(const float *restrict a, const float *restrict b, size_t n)
{
  float acc[16] = {0}, tail = 0.0f;
  size_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (size_t l = 0; l < 16; l++) acc[l] += a[k + l] * b[k + l];
  for (; k < n; k++) tail += a[k] * b[k];
  float s8[8], s4[4];
  for (size_t l = 0; l < 8; l++) s8[l] = acc[l] + acc[l + 8];
  for (size_t l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
  return ((s4[0] + s4[2]) + (s4[1] + s4[3])) + tail;
}

/* The same in double, eight partial sums (two AVX2 registers). */
VBPR_INLINE double vbpr__dot_f64(const double *restrict a, const double *restrict b,
                                 size_t n)
{
  double acc[8] = {0}, tail = 0.0;
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (size_t l = 0; l < 8; l++) acc[l] += a[k + l] * b[k + l];
  for (; k < n; k++) tail += a[k] * b[k];
  double s4[4];
  for (size_t l = 0; l < 4; l++) s4[l] = acc[l] + acc[l + 4];
  return ((s4[0] + s4[2]) + (s4[1] + s4[3])) + tail;
}

#endif
