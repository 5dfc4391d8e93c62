/* Threads: the thread-count setting and one persistent worker pool.
 *
 * The count is resolved once (first use: VBPR_NUM_THREADS, else the online
 * cores) and again on every vbpr_set_num_threads(); readers load an atomic,
 * so asking for it makes no system call (sysconf(_SC_NPROCESSORS_ONLN)
 * opens and reads /sys on glibc, 20 us per call).
 *
 * The pool (libuv/ggml style) starts lazily with the first job that wants a
 * second thread and grows when a job wants more workers than it has (after
 * vbpr_set_num_threads raised the count). Idle workers sleep on a condition
 * variable. A job is split into nt fixed chunks, chunk c = [c*n/nt,
 * (c+1)*n/nt) with tid c; the caller runs chunk 0 and then, with the
 * workers, claims the rest one at a time, so a job completes even with
 * fewer workers than chunks (a thread could not be started, or a worker is
 * slow to wake) and results never depend on who ran which chunk. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"
#include "vbpr/runtime.h"

/* ---- the thread count --------------------------------------------------- */

/* The resolved count, in [1, VBPR_MAX_THREADS]; 0 until first resolved. */
static atomic_int resolved;
/* Bumped by every vbpr_set_num_threads(): the pool retries starting threads
 * that failed to start only after the setting changed. */
static atomic_uint setting_epoch;

static int online_cores(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (n > VBPR_MAX_THREADS ? VBPR_MAX_THREADS : (int)n);
}

/* The VBPR_NUM_THREADS value, 0 (one per core) when unset or invalid. */
static int env_setting(void)
{
  const char *s = getenv("VBPR_NUM_THREADS");
  if (s == NULL || *s == '\0') return 0;
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < 0 || v > VBPR_MAX_THREADS) return 0;
  return (int)v;
}

static int resolve(int setting)
{
  return setting == 0 ? online_cores() : setting;
}

vbpr_status vbpr_set_num_threads(int num_threads)
{
  if (num_threads < 0 || num_threads > VBPR_MAX_THREADS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT,
                     "num_threads must be in [0, %d], got %d", VBPR_MAX_THREADS,
                     num_threads);
  atomic_store(&resolved, resolve(num_threads));
  atomic_fetch_add(&setting_epoch, 1u);
  return VBPR_OK;
}

int vbpr_get_num_threads(void)
{
  int v = atomic_load_explicit(&resolved, memory_order_relaxed);
  if (VBPR_LIKELY(v > 0)) return v;
  /* First use: a concurrent vbpr_set_num_threads() wins over the default. */
  int expected = 0;
  atomic_compare_exchange_strong(&resolved, &expected, resolve(env_setting()));
  return atomic_load(&resolved);
}

int vbpr__threads_for(size_t work, size_t min_per_thread)
{
  int max = vbpr_get_num_threads();
  if (min_per_thread == 0) min_per_thread = 1;
  size_t want = work / min_per_thread;
  if (want < 1) return 1;
  return want < (size_t)max ? (int)want : max;
}

/* ---- the pool ----------------------------------------------------------- */

enum { MAX_WORKERS = VBPR_MAX_THREADS - 1 }; /* the caller is the other one */

/* Everything below `mu` is read and written with `mu` held. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake; /* to workers: a chunk can be claimed, or stop */
  pthread_cond_t done; /* to the caller: the job's last chunk finished */
  vbpr__range_fn fn;   /* the current job; nothing to claim when next >= nt */
  void *ctx;
  size_t n;
  int nt, next, pending;
  int n_workers; /* started and not yet joined */
  bool stop;     /* workers exit (unload) */
  bool failed;   /* a thread failed to start at setting epoch failed_epoch */
  unsigned failed_epoch;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};
static pthread_t workers[MAX_WORKERS];

/* Held by the one caller whose job the pool runs. Another caller meanwhile
 * (another host thread, or a chunk calling vbpr__parallel_for: nested) runs
 * its job inline rather than wait: no host thread ever blocks behind
 * another handle's job, nesting cannot deadlock, and the results are the
 * same; host threads that run several handles at once supply their own
 * parallelism. */
static atomic_bool busy;
/* Set at unload: the workers are gone, later jobs run inline. */
static atomic_bool torn_down;

static void run_chunk(vbpr__range_fn fn, void *ctx, size_t n, int nt, int c)
{
  /* (n / nt) * c + (n % nt) * c / nt == floor(n * c / nt) without overflow */
  size_t q = n / (size_t)nt, r = n % (size_t)nt, t = (size_t)c;
  fn(ctx, q * t + r * t / (size_t)nt, q * (t + 1) + r * (t + 1) / (size_t)nt, c);
}

/* Claims and runs chunks while any are left; mu held on entry and exit. */
static void drain(void)
{
  while (P.next < P.nt) {
    int c = P.next++;
    vbpr__range_fn fn = P.fn;
    void *ctx = P.ctx;
    size_t n = P.n;
    int nt = P.nt;
    pthread_mutex_unlock(&P.mu);
    run_chunk(fn, ctx, n, nt, c);
    pthread_mutex_lock(&P.mu);
    if (--P.pending == 0) pthread_cond_signal(&P.done);
  }
}

static void *worker_main(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&P.mu);
  for (;;) {
    while (!P.stop && P.next >= P.nt) pthread_cond_wait(&P.wake, &P.mu);
    if (P.stop) break; /* chunks still unclaimed are the caller's */
    drain();
  }
  pthread_mutex_unlock(&P.mu);
  return NULL;
}

/* fork: hold mu across it so the child copies a consistent pool, then give
 * the child an empty pool (its workers do not exist there) and clear a job
 * another parent thread was running; the child starts fresh workers lazily. */
static void atfork_prepare(void) { pthread_mutex_lock(&P.mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&P.mu); }
static void atfork_child(void)
{
  pthread_mutex_init(&P.mu, NULL);
  pthread_cond_init(&P.wake, NULL);
  pthread_cond_init(&P.done, NULL);
  P.fn = NULL, P.ctx = NULL, P.n = 0;
  P.nt = P.next = P.pending = 0;
  P.n_workers = 0;
  P.stop = P.failed = false;
  atomic_store(&busy, false);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static bool atfork_ok;
static void register_atfork(void)
{
  atfork_ok = pthread_atfork(atfork_prepare, atfork_parent, atfork_child) == 0;
}

/* Starts one worker with every signal blocked, so that signals meant for
 * the host go to its own threads. mu held. */
static bool start_worker(void)
{
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  bool ok = pthread_create(&t, NULL, worker_main, NULL) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (ok) workers[P.n_workers++] = t;
  return ok;
}

/* Grows the pool towards `want` workers; mu held, by the pool's owner.
 * After a failed start it does not retry (system calls on every job) until
 * the thread count is set again. */
static void grow_locked(int want)
{
  if (want > MAX_WORKERS) want = MAX_WORKERS;
  unsigned epoch = atomic_load_explicit(&setting_epoch, memory_order_relaxed);
  if (P.failed && P.failed_epoch == epoch) return;
  /* under mu: the unload destructor joins exactly the workers it sees */
  while (!P.stop && P.n_workers < want) {
    if (!start_worker()) {
      P.failed = true;
      P.failed_epoch = epoch;
      return;
    }
  }
}

/* Posts the job, runs chunk 0 and whatever is left, waits for the workers. */
static void run_on_pool(size_t n, int nt, vbpr__range_fn fn, void *ctx)
{
  pthread_mutex_lock(&P.mu);
  if (P.n_workers < nt - 1) grow_locked(nt - 1);
  P.fn = fn, P.ctx = ctx, P.n = n;
  P.nt = nt, P.next = 1, P.pending = nt;
  int wake = nt - 1 < P.n_workers ? nt - 1 : P.n_workers;
  for (int i = 0; i < wake; i++) pthread_cond_signal(&P.wake);
  pthread_mutex_unlock(&P.mu);
  run_chunk(fn, ctx, n, nt, 0);
  pthread_mutex_lock(&P.mu);
  P.pending--;
  drain();
  while (P.pending > 0) pthread_cond_wait(&P.done, &P.mu);
  pthread_mutex_unlock(&P.mu);
}

static void run_inline(size_t n, int nt, vbpr__range_fn fn, void *ctx)
{
  for (int c = 0; c < nt; c++) run_chunk(fn, ctx, n, nt, c);
}

void vbpr__parallel_for(size_t n, int nthreads, vbpr__range_fn fn, void *ctx)
{
  if (n == 0) return;
  if (nthreads <= 1 || n == 1) {
    fn(ctx, 0, n, 0);
    return;
  }
  int nt = (size_t)nthreads > n ? (int)n : nthreads;
  if (atomic_load_explicit(&torn_down, memory_order_relaxed) ||
      atomic_exchange_explicit(&busy, true, memory_order_acquire)) {
    run_inline(n, nt, fn, ctx); /* nested, another caller's job, or unloaded */
    return;
  }
  pthread_once(&atfork_once, register_atfork);
  if (atfork_ok) /* a pool that fork could break would be worse than none */
    run_on_pool(n, nt, fn, ctx);
  else
    run_inline(n, nt, fn, ctx);
  atomic_store_explicit(&busy, false, memory_order_release);
}

/* Unload (exit, dlclose): stop and join the workers, so that no thread runs
 * code about to be unmapped and leak checkers see every thread joined. A
 * job still running on another host thread completes: its caller claims
 * the chunks the departing workers leave. */
__attribute__((destructor)) static void pool_teardown(void)
{
  atomic_store(&torn_down, true);
  pthread_mutex_lock(&P.mu);
  P.stop = true;
  pthread_cond_broadcast(&P.wake);
  int n = P.n_workers;
  pthread_mutex_unlock(&P.mu);
  for (int i = 0; i < n; i++) pthread_join(workers[i], NULL);
  pthread_mutex_lock(&P.mu);
  P.n_workers = 0;
  pthread_mutex_unlock(&P.mu);
}
