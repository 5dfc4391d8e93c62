/* Threads: the thread-count setting and one persistent worker pool.
 *
 * The count is resolved once (first use: VBPR_NUM_THREADS, else the online
 * cores) and again on every vbpr_set_num_threads(); readers load an atomic,
 * so asking for it makes no system call (sysconf(_SC_NPROCESSORS_ONLN)
 * opens and reads /sys on glibc, 20 us per call).
 *
 * The pool (libuv/ggml style) starts lazily with the first job that wants a
 * second thread and grows when a job wants more workers than it has (after
 * vbpr_set_num_threads raised the count). A job is split into nt fixed
 * chunks, chunk c = [c*n/nt, (c+1)*n/nt) with tid c; the caller runs chunk
 * 0 and then, with the workers, claims the rest one at a time, so a job
 * completes even with fewer workers than chunks (a thread could not be
 * started, or a worker is slow to wake) and results never depend on who ran
 * which chunk. Idle workers spin briefly (jobs come in bursts: a forward
 * then a backward, the sampler then the loss then the optimizer; waking a
 * sleeping thread costs tens of microseconds in a VM, as much as a chunk),
 * then sleep on a condition variable. */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
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

vbpr_status vbpr_set_num_threads(size_t num_threads)
{
  if (num_threads > VBPR_MAX_THREADS)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "num_threads must be in [0, %d], got %zu",
                     VBPR_MAX_THREADS, num_threads);
  atomic_store(&resolved, resolve((int)num_threads));
  atomic_fetch_add(&setting_epoch, 1u);
  return VBPR_OK;
}

/* The resolved count, resolving it at first use. */
static int current_threads(void)
{
  int v = atomic_load_explicit(&resolved, memory_order_relaxed);
  if (VBPR_LIKELY(v > 0)) return v;
  /* First use: a concurrent vbpr_set_num_threads() wins over the default. */
  int expected = 0;
  atomic_compare_exchange_strong(&resolved, &expected, resolve(env_setting()));
  return atomic_load(&resolved);
}

size_t vbpr_get_num_threads(void) { return (size_t)current_threads(); }

int vbpr__threads_for(size_t work, size_t min_per_thread)
{
  int max = current_threads();
  if (min_per_thread == 0) min_per_thread = 1;
  size_t want = work / min_per_thread;
  if (want < 1) return 1;
  return want < (size_t)max ? (int)want : max;
}

/* ---- the pool ----------------------------------------------------------- */

enum {
  MAX_WORKERS = VBPR_MAX_THREADS - 1, /* the caller is the other thread */
  /* Polls of a spinning thread before it sleeps: about 0.1 ms with a 25 ns
   * pause (AMD Zen 4) and the yields; less on other processors. */
  SPIN_POLLS = 2048,
  /* A spinning thread yields every YIELD_EVERY polls: when it shares a core
   * (other processes, several host threads), the thread whose chunk it
   * waits for may be the one its spinning starves. Measured on 2 loaded
   * cores: 2 threads ran the loss at 0.55-0.9x the speed of 1 without the
   * yields, 0.9-1.1x with them; idle, 1.9x either way. */
  YIELD_EVERY = 32
};

/* The current job: written by the pool's owner before it publishes the job
 * in `ticket`, read by a thread only after it claimed one of its chunks,
 * when the job cannot complete (nor the next one be written) before that
 * chunk is done. */
static struct {
  vbpr__range_fn fn;
  void *ctx;
  size_t n;
} job;

/* Generation (bits 32-63), chunk count (16-31) and next unclaimed chunk
 * (0-15) of the current job. A new generation publishes a job; a chunk is
 * claimed by a compare-and-swap of the whole word, so a thread late from an
 * old job can never claim a chunk of a newer one. */
static _Atomic uint64_t ticket;
_Static_assert(VBPR_MAX_THREADS < 65536, "chunk counts must fit 16 bits");
static atomic_int pending;   /* chunks of the current job not finished */
static atomic_int sleepers;  /* workers asleep (or about to be) on P.wake */
static atomic_int n_workers; /* started and not yet joined; written under P.mu */
static atomic_bool stop;     /* workers exit (unload) */

/* Sleeping and waking, and the worker list. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake; /* to workers: a new job, or stop */
  pthread_cond_t done; /* to the caller: the job's last chunk finished */
  bool failed;         /* a thread failed to start at setting epoch failed_epoch */
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

static inline uint32_t gen_of(uint64_t t) { return (uint32_t)(t >> 32); }
static inline int nt_of(uint64_t t) { return (int)((t >> 16) & 0xffff); }
static inline int next_of(uint64_t t) { return (int)(t & 0xffff); }

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* One poll of a spin-wait: a pause, or now and then a yield. */
static inline void spin_pause(int i)
{
  if (i % YIELD_EVERY == YIELD_EVERY - 1)
    sched_yield();
  else
    cpu_relax();
}

static void run_chunk(vbpr__range_fn fn, void *ctx, size_t n, int nt, int c)
{
  /* (n / nt) * c + (n % nt) * c / nt == floor(n * c / nt) without overflow */
  size_t q = n / (size_t)nt, r = n % (size_t)nt, t = (size_t)c;
  fn(ctx, q * t + r * t / (size_t)nt, q * (t + 1) + r * (t + 1) / (size_t)nt, c);
}

/* Counts one chunk of the job done; the last one wakes the caller. */
static void chunk_done(void)
{
  if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) != 1) return;
  pthread_mutex_lock(&P.mu); /* so the caller cannot miss the signal */
  pthread_cond_signal(&P.done);
  pthread_mutex_unlock(&P.mu);
}

/* Claims and runs chunks of job generation `gen` while any are left. */
static void claim_chunks(uint32_t gen)
{
  uint64_t t = atomic_load_explicit(&ticket, memory_order_acquire);
  while (gen_of(t) == gen && next_of(t) < nt_of(t)) {
    if (!atomic_compare_exchange_weak_explicit(&ticket, &t, t + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue; /* t reloaded */
    run_chunk(job.fn, job.ctx, job.n, nt_of(t), next_of(t));
    chunk_done();
    t = atomic_load_explicit(&ticket, memory_order_acquire);
  }
}

/* A worker's wait for a generation after `seen`: spin, then sleep. */
static uint32_t wait_for_job(uint32_t seen)
{
  for (int i = 0; i < SPIN_POLLS; i++) {
    uint32_t g = gen_of(atomic_load_explicit(&ticket, memory_order_acquire));
    if (g != seen || atomic_load_explicit(&stop, memory_order_relaxed)) return g;
    spin_pause(i);
  }
  pthread_mutex_lock(&P.mu);
  /* seq_cst, paired with the publisher: either it sees this sleeper and
   * signals (after this thread waits: it holds mu until then), or this
   * thread sees its new generation. */
  atomic_fetch_add(&sleepers, 1);
  uint32_t g;
  while ((g = gen_of(atomic_load(&ticket))) == seen && !atomic_load(&stop))
    pthread_cond_wait(&P.wake, &P.mu);
  atomic_fetch_sub(&sleepers, 1);
  pthread_mutex_unlock(&P.mu);
  return g;
}

static void *worker_main(void *arg)
{
  uint32_t seen = (uint32_t)(uintptr_t)arg; /* the generation before its first job */
  for (;;) {
    seen = wait_for_job(seen);
    if (atomic_load(&stop)) break; /* chunks still unclaimed are the caller's */
    claim_chunks(seen);
  }
  return NULL;
}

/* fork: hold mu across it so the child copies the worker list whole, then
 * give the child an empty pool (its workers do not exist there) and drop a
 * job another parent thread was running; the child starts workers lazily. */
static void atfork_prepare(void) { pthread_mutex_lock(&P.mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&P.mu); }
static void atfork_child(void)
{
  pthread_mutex_init(&P.mu, NULL);
  pthread_cond_init(&P.wake, NULL);
  pthread_cond_init(&P.done, NULL);
  P.failed = false;
  atomic_store(&ticket, atomic_load(&ticket) & ~(uint64_t)0xffffffff);
  atomic_store(&pending, 0);
  atomic_store(&sleepers, 0);
  atomic_store(&n_workers, 0);
  atomic_store(&stop, false);
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
static bool start_worker(uint32_t gen)
{
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  bool ok = pthread_create(&t, NULL, worker_main, (void *)(uintptr_t)gen) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (ok) {
    int i = atomic_load_explicit(&n_workers, memory_order_relaxed);
    workers[i] = t;
    atomic_store_explicit(&n_workers, i + 1, memory_order_relaxed);
  }
  return ok;
}

/* Grows the pool towards `want` workers (the pool's owner, between jobs).
 * After a failed start it does not retry (system calls on every job) until
 * the thread count is set again. */
static void grow(int want)
{
  if (want > MAX_WORKERS) want = MAX_WORKERS;
  unsigned epoch = atomic_load_explicit(&setting_epoch, memory_order_relaxed);
  uint32_t gen = gen_of(atomic_load(&ticket));
  pthread_mutex_lock(&P.mu);
  /* under mu: the unload destructor joins exactly the workers it sees */
  if (!(P.failed && P.failed_epoch == epoch))
    while (!atomic_load(&stop) && atomic_load(&n_workers) < want)
      if (!start_worker(gen)) {
        P.failed = true;
        P.failed_epoch = epoch;
        break;
      }
  pthread_mutex_unlock(&P.mu);
}

/* Wakes up to k sleeping workers for a job just published. */
static void wake_workers(int k)
{
  if (atomic_load(&sleepers) == 0) return; /* seq_cst: see wait_for_job */
  pthread_mutex_lock(&P.mu);
  int m = atomic_load(&sleepers);
  for (int i = 0; i < k && i < m; i++) pthread_cond_signal(&P.wake);
  pthread_mutex_unlock(&P.mu);
}

/* The caller's wait for the job's last chunk: spin, then sleep. */
static void wait_for_chunks(void)
{
  for (int i = 0; i < SPIN_POLLS; i++) {
    if (atomic_load_explicit(&pending, memory_order_acquire) == 0) return;
    spin_pause(i);
  }
  pthread_mutex_lock(&P.mu);
  while (atomic_load_explicit(&pending, memory_order_acquire) > 0)
    pthread_cond_wait(&P.done, &P.mu);
  pthread_mutex_unlock(&P.mu);
}

/* Publishes the job, runs chunk 0 and claims the rest with the workers,
 * and waits for the chunks the workers claimed. */
static void run_on_pool(size_t n, int nt, vbpr__range_fn fn, void *ctx)
{
  if (atomic_load_explicit(&n_workers, memory_order_relaxed) < nt - 1) grow(nt - 1);
  job.fn = fn, job.ctx = ctx, job.n = n;
  atomic_store_explicit(&pending, nt, memory_order_relaxed);
  uint32_t gen = gen_of(atomic_load_explicit(&ticket, memory_order_relaxed)) + 1;
  /* chunk 0 is the caller's: the job starts with chunk 1 unclaimed */
  atomic_store(&ticket, (uint64_t)gen << 32 | (uint64_t)nt << 16 | 1u); /* seq_cst */
  wake_workers(nt - 1);
  run_chunk(fn, ctx, n, nt, 0);
  if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) == 1) return;
  claim_chunks(gen);
  wait_for_chunks();
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
  /* nested, another caller's job, unloaded, or more chunks than a ticket holds */
  if (nt > VBPR_MAX_THREADS || atomic_load_explicit(&torn_down, memory_order_relaxed) ||
      atomic_exchange_explicit(&busy, true, memory_order_acquire)) {
    run_inline(n, nt, fn, ctx);
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
  atomic_store(&stop, true);
  pthread_cond_broadcast(&P.wake);
  int n = atomic_load(&n_workers);
  pthread_mutex_unlock(&P.mu);
  for (int i = 0; i < n; i++) pthread_join(workers[i], NULL);
  pthread_mutex_lock(&P.mu);
  atomic_store(&n_workers, 0);
  pthread_mutex_unlock(&P.mu);
}
