/*
 * Internal core of libvbpr: errors, checked memory, RNG, threads.
 * Not installed. Internal symbols use the vbpr__ prefix and are hidden.
 */
#ifndef VBPR_LIB_CORE_H
#define VBPR_LIB_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbpr/common.h"

#if defined(__GNUC__) || defined(__clang__)
#  define VBPR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#  define VBPR_LIKELY(x) __builtin_expect(!!(x), 1)
#  define VBPR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define VBPR_PRINTF(f, a)
#  define VBPR_LIKELY(x) (x)
#  define VBPR_UNLIKELY(x) (x)
#endif

/* ---- errors ------------------------------------------------------------ */

/* Records "func: message" as the calling thread's last error; returns status
 * so that failures read `return vbpr__error(...)`. */
vbpr_status vbpr__error(vbpr_status status, const char *func, const char *fmt, ...)
    VBPR_PRINTF(3, 4);

/* In a public function, __func__ is the public name the user called. */
#define VBPR_FAIL(status, ...) vbpr__error((status), __func__, __VA_ARGS__)

/* Fail with INVALID_ARGUMENT when a required pointer is NULL. */
#define VBPR_CHECK_NULL(ptr)                                                 \
  do {                                                                       \
    if ((ptr) == NULL)                                                       \
      return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "%s must not be NULL", #ptr); \
  } while (0)

/* ---- memory ------------------------------------------------------------ */

/* a*b into *out; false (and *out untouched) when it overflows size_t. */
static inline bool vbpr__mul_ok(size_t a, size_t b, size_t *out)
{
#if defined(__GNUC__) || defined(__clang__)
  size_t r;
  if (__builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
#else
  if (a != 0 && b > SIZE_MAX / a) return false;
  *out = a * b;
  return true;
#endif
}

static inline bool vbpr__add_ok(size_t a, size_t b, size_t *out)
{
  if (b > SIZE_MAX - a) return false;
  *out = a + b;
  return true;
}

/* All library allocations go through these, so that allocation failure can
 * be injected in tests. Each returns NULL on failure or overflow; the
 * *_array forms check n*size. Zero-size requests return a unique pointer. */
void *vbpr__malloc(size_t size);
void *vbpr__calloc(size_t n, size_t size);
void *vbpr__malloc_array(size_t n, size_t size);
void *vbpr__realloc_array(void *p, size_t n, size_t size);
/* 64-byte aligned, for vectorised loops; free with vbpr__free. */
void *vbpr__aligned_array(size_t n, size_t size);
void vbpr__free(void *p);

/* Allocation-failure injection (test builds): the n-th allocation from now
 * fails (1 = the next one); 0 turns injection off. Returns allocations made
 * since the last arm. Compiled in only with VBPR_FAULT_INJECTION. */
void vbpr__fault_arm(long n);
long vbpr__fault_count(void);

/* Grows a buffer to hold at least n elements of size bytes (aligned); keeps
 * the old one on failure. For workspaces kept in handles. */
vbpr_status vbpr__reserve(void **buf, size_t *cap, size_t n, size_t size,
                          const char *func);

/* ---- numbers ----------------------------------------------------------- */

/* Index of the first NaN or infinity in x[0, n), or n when all are finite.
 * Vectorised: the scan is an integer OR over blocks. */
size_t vbpr__find_nonfinite(const float *x, size_t n);

/* ---- random numbers ---------------------------------------------------- */

/* Counter-based generator: the stream is a pure function of (key, counter),
 * so results do not depend on how work is split across threads. */
typedef struct vbpr__rng {
  uint64_t state;
} vbpr__rng;

static inline uint64_t vbpr__mix64(uint64_t z)
{
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Seeds a stream for (seed, a, b), e.g. (seed, epoch, row). */
static inline void vbpr__rng_init(vbpr__rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
  r->state = vbpr__mix64(seed ^ vbpr__mix64(a + UINT64_C(0x9e3779b97f4a7c15) *
                                                  (vbpr__mix64(b) | 1)));
}

static inline uint64_t vbpr__rng_next(vbpr__rng *r)
{
  r->state += UINT64_C(0x9e3779b97f4a7c15);
  return vbpr__mix64(r->state);
}

/* Uniform in [0, n), n >= 1, without modulo bias (Lemire). */
static inline uint32_t vbpr__rng_below(vbpr__rng *r, uint32_t n)
{
  uint64_t m = (uint64_t)(uint32_t)vbpr__rng_next(r) * n;
  uint32_t lo = (uint32_t)m;
  if (lo < n) {
    uint32_t t = (uint32_t)(-n) % n;
    while (lo < t) {
      m = (uint64_t)(uint32_t)vbpr__rng_next(r) * n;
      lo = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

/* Uniform double in [0, 1). */
static inline double vbpr__rng_uniform(vbpr__rng *r)
{
  return (double)(vbpr__rng_next(r) >> 11) * 0x1.0p-53;
}

/* Standard normal (Box-Muller). */
double vbpr__rng_normal(vbpr__rng *r);

/* ---- threads ----------------------------------------------------------- */

/* Threads to use for a job of `work` units when each thread should get at
 * least `min_per_thread`; between 1 and vbpr_get_num_threads(). */
int vbpr__threads_for(size_t work, size_t min_per_thread);

/* Calls fn(ctx, begin, end, tid) over [0, n) split into nt = min(nthreads,
 * n) contiguous chunks; chunk c is always [c*n/nt, (c+1)*n/nt) with tid c,
 * whichever thread runs it, so results do not depend on the thread count.
 * The chunks run on the persistent pool (threads.c) and the calling thread.
 * It cannot fail: it runs the chunks inline, in order, when nthreads <= 1,
 * when called from inside a chunk (nested), while another host thread's job
 * holds the pool, or when no thread can be started. Thread-safe. A call that
 * uses the pool may make system calls (to wake or wait for workers, or to
 * yield while it spins); with nthreads <= 1 it makes none. */
typedef void (*vbpr__range_fn)(void *ctx, size_t begin, size_t end, int tid);
void vbpr__parallel_for(size_t n, int nthreads, vbpr__range_fn fn, void *ctx);

#endif /* VBPR_LIB_CORE_H */
