#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"
#include "vbpr/runtime.h"

#define VBPR_MAX_THREADS 4096

static atomic_int setting = -1; /* -1: not yet read from the environment */

static int online_cores(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (n > VBPR_MAX_THREADS ? VBPR_MAX_THREADS : (int)n);
}

static int env_default(void)
{
  const char *s = getenv("VBPR_NUM_THREADS");
  if (s == NULL || *s == '\0') return 0;
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < 0 || v > VBPR_MAX_THREADS) return 0;
  return (int)v;
}

vbpr_status vbpr_set_num_threads(int num_threads)
{
  if (num_threads < 0 || num_threads > VBPR_MAX_THREADS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "num_threads must be in [0, %d], got %d", VBPR_MAX_THREADS,
                     num_threads);
  atomic_store(&setting, num_threads);
  return VBPR_OK;
}

int vbpr_get_num_threads(void)
{
  int v = atomic_load(&setting);
  if (v < 0) {
    int expected = -1;
    atomic_compare_exchange_strong(&setting, &expected, env_default());
    v = atomic_load(&setting);
  }
  return v == 0 ? online_cores() : v;
}

int vbpr__threads_for(size_t work, size_t min_per_thread)
{
  int max = vbpr_get_num_threads();
  if (min_per_thread == 0) min_per_thread = 1;
  size_t want = work / min_per_thread;
  if (want < 1) return 1;
  return want < (size_t)max ? (int)want : max;
}

typedef struct job {
  vbpr__range_fn fn;
  void *ctx;
  size_t begin, end;
  int tid;
} job;

static void *run_job(void *arg)
{
  job *j = arg;
  j->fn(j->ctx, j->begin, j->end, j->tid);
  return NULL;
}

enum { STACK_JOBS = 64 };

void vbpr__parallel_for(size_t n, int nthreads, vbpr__range_fn fn, void *ctx)
{
  if (n == 0) return;
  if (nthreads <= 1 || n == 1) {
    fn(ctx, 0, n, 0);
    return;
  }
  if ((size_t)nthreads > n) nthreads = (int)n;
  if (nthreads > STACK_JOBS) nthreads = STACK_JOBS;
  job jobs[STACK_JOBS];
  pthread_t tids[STACK_JOBS];
  bool started[STACK_JOBS];
  for (int t = 0; t < nthreads; t++) {
    /* (n / nt) * t + (n % nt) * t / nt == floor(n * t / nt) without overflow */
    size_t q = n / (size_t)nthreads, r = n % (size_t)nthreads;
    jobs[t] = (job){fn, ctx, q * (size_t)t + r * (size_t)t / (size_t)nthreads,
                    q * (size_t)(t + 1) + r * (size_t)(t + 1) / (size_t)nthreads, t};
  }
  for (int t = 1; t < nthreads; t++)
    started[t] = pthread_create(&tids[t], NULL, run_job, &jobs[t]) == 0;
  run_job(&jobs[0]);
  for (int t = 1; t < nthreads; t++) {
    if (started[t])
      pthread_join(tids[t], NULL);
    else
      run_job(&jobs[t]); /* could not start a thread: do its share here */
  }
}
