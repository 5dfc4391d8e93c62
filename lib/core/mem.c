#if defined(__linux__)
#  define _DEFAULT_SOURCE 1 /* madvise, MADV_HUGEPAGE */
#  include <sys/mman.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* Arrays of at least this many bytes (embedding tables, optimizer state)
 * are aligned to 2 MB and offered transparent huge pages: rows read at
 * random (the fused path, lazy optimizer steps) then miss the TLB far less
 * often. Where the system leaves huge pages to madvise, this is what makes
 * it use them; elsewhere the call is a harmless hint. */
#define HUGE_ARRAY ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

#ifdef VBPR_FAULT_INJECTION
#include <stdatomic.h>
static atomic_long fault_countdown; /* 0: off */
static atomic_long fault_allocs;

void vbpr__fault_arm(long n)
{
  atomic_store(&fault_allocs, 0);
  atomic_store(&fault_countdown, n);
}

long vbpr__fault_count(void) { return atomic_load(&fault_allocs); }

static bool fault_now(void)
{
  atomic_fetch_add(&fault_allocs, 1);
  long c = atomic_load(&fault_countdown);
  if (c <= 0) return false;
  return atomic_fetch_sub(&fault_countdown, 1) == 1;
}
#else
void vbpr__fault_arm(long n) { (void)n; }
long vbpr__fault_count(void) { return 0; }
static inline bool fault_now(void) { return false; }
#endif

void *vbpr__malloc(size_t size)
{
  if (fault_now()) return NULL;
  return malloc(size ? size : 1);
}

void *vbpr__calloc(size_t n, size_t size)
{
  size_t total;
  if (!vbpr__mul_ok(n, size, &total) || fault_now()) return NULL;
  return calloc(total ? total : 1, 1);
}

void *vbpr__malloc_array(size_t n, size_t size)
{
  size_t total;
  if (!vbpr__mul_ok(n, size, &total)) return NULL;
  return vbpr__malloc(total);
}

void *vbpr__realloc_array(void *p, size_t n, size_t size)
{
  size_t total;
  if (!vbpr__mul_ok(n, size, &total) || fault_now()) return NULL;
  return realloc(p, total ? total : 1);
}

void *vbpr__aligned_array(size_t n, size_t size)
{
  size_t total;
  void *p = NULL;
  if (!vbpr__mul_ok(n, size, &total) || fault_now()) return NULL;
  size_t align = total >= HUGE_ARRAY ? HUGE_PAGE : 64;
  if (posix_memalign(&p, align, total ? total : 64) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (total >= HUGE_ARRAY) (void)madvise(p, total, MADV_HUGEPAGE);
#endif
  return p;
}

void vbpr__free(void *p) { free(p); }

vbpr_status vbpr__reserve(void **buf, size_t *cap, size_t n, size_t size,
                          const char *func)
{
  if (n <= *cap && *buf != NULL) return VBPR_OK;
  void *p = vbpr__aligned_array(n, size);
  if (p == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func,
                       "cannot allocate a workspace of %zu x %zu bytes", n, size);
  vbpr__free(*buf);
  *buf = p;
  *cap = n;
  return VBPR_OK;
}
