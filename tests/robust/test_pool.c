/* The worker pool behind vbpr__parallel_for: every chunk is the fixed range
 * [c*n/nt, (c+1)*n/nt) with tid c, run exactly once, for any thread count;
 * also when calls nest, come from several host threads at once, follow a
 * fork, or follow changes of the thread count. Suite 'robust', so it also
 * runs under ThreadSanitizer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "testutil.h"
#include "vbpr/error.h"
#include "vbpr/runtime.h"

enum { MAX_NT = 128 };

typedef struct slot {
  size_t begin, end;
  uint64_t sum;
  int calls;
  pthread_t thread;
  bool nested_ok;
} slot;

typedef struct job {
  slot *slots; /* one per chunk */
  bool nest;   /* each chunk also runs a nested vbpr__parallel_for */
  bool inline_expected; /* ... which must run on the chunk's own thread */
} job;

static uint64_t f(size_t i)
{
  return (uint64_t)i * UINT64_C(2654435761) ^ (uint64_t)(i >> 3);
}

static uint64_t seq_sum(size_t begin, size_t end)
{
  uint64_t s = 0;
  for (size_t i = begin; i < end; i++) s += f(i);
  return s;
}

typedef struct inner {
  uint64_t sums[8];
  size_t base;
  pthread_t thread;
  atomic_bool same_thread;
} inner;

static void inner_chunk(void *p, size_t begin, size_t end, int tid)
{
  inner *in = p;
  in->sums[tid] = seq_sum(in->base + begin, in->base + end);
  if (!pthread_equal(pthread_self(), in->thread)) atomic_store(&in->same_thread, false);
}

/* A nested call gives the sequential sums; inside a job that holds the
 * pool it runs inline, on the thread of the enclosing chunk. */
static bool nested_matches(size_t begin, size_t end, bool inline_expected)
{
  inner in = {.base = begin, .thread = pthread_self(), .same_thread = true};
  vbpr__parallel_for(end - begin, 8, inner_chunk, &in);
  int nt = end - begin < 8 ? (int)(end - begin) : 8;
  uint64_t s = 0;
  for (int t = 0; t < nt; t++) s += in.sums[t];
  return s == seq_sum(begin, end) && (!inline_expected || atomic_load(&in.same_thread));
}

static void record(void *p, size_t begin, size_t end, int tid)
{
  job *j = p;
  slot *s = &j->slots[tid];
  s->begin = begin;
  s->end = end;
  s->sum = seq_sum(begin, end);
  s->calls++;
  s->thread = pthread_self();
  s->nested_ok = !j->nest || nested_matches(begin, end, j->inline_expected);
}

/* Runs one job and checks every chunk; false on any mismatch. Asserts
 * nothing, so that host threads may call it. */
static bool run_job(size_t n, int nthreads, bool nest, bool inline_expected)
{
  slot slots[MAX_NT];
  memset(slots, 0, sizeof slots);
  job j = {slots, nest, inline_expected};
  vbpr__parallel_for(n, nthreads, record, &j);
  int nt = nthreads < 1 ? 1 : ((size_t)nthreads > n ? (int)n : nthreads);
  if (n == 0) nt = 0;
  uint64_t total = 0;
  for (int c = 0; c < nt; c++) {
    size_t b = (size_t)((uint64_t)n * (uint64_t)c / (uint64_t)nt);
    size_t e = (size_t)((uint64_t)n * (uint64_t)(c + 1) / (uint64_t)nt);
    if (slots[c].calls != 1 || slots[c].begin != b || slots[c].end != e ||
        !slots[c].nested_ok)
      return false;
    total += slots[c].sum;
  }
  for (int c = nt; c < MAX_NT; c++)
    if (slots[c].calls != 0) return false;
  return total == seq_sum(0, n);
}

static bool run_and_check(size_t n, int nthreads, bool nest)
{
  return run_job(n, nthreads, nest, false);
}

START_TEST(chunks_fixed_and_sums_sequential)
{
  ck_assert_ok(vbpr_set_num_threads(8));
  static const size_t ns[] = {0, 1, 2, 3, 7, 64, 1000, 4097};
  static const int nts[] = {0, 1, 2, 3, 4, 5, 8, 16, 33, 100};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
    for (size_t k = 0; k < sizeof nts / sizeof nts[0]; k++)
      ck_assert_msg(run_and_check(ns[i], nts[k], false), "n %zu nthreads %d", ns[i],
                    nts[k]);
  for (int rep = 0; rep < 2000; rep++) /* many calls reuse the same workers */
    ck_assert_msg(run_and_check(100 + (size_t)rep % 37, 2 + rep % 6, false), "rep %d", rep);
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

START_TEST(nested_calls_run_inline)
{
  ck_assert_ok(vbpr_set_num_threads(4));
  /* one host thread: the outer job holds the pool, the inner ones cannot */
  for (int rep = 0; rep < 50; rep++)
    ck_assert_msg(run_job(1000 + (size_t)rep, 2 + rep % 5, true, true), "rep %d", rep);
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

/* Chunk 0 runs on the caller and waits (10 s at most) until another chunk
 * has started: only a worker running at the same time can start it. */
typedef struct meet {
  atomic_int started;
  atomic_bool met;
} meet;

static void meet_chunk(void *p, size_t begin, size_t end, int tid)
{
  meet *m = p;
  (void)begin, (void)end;
  if (tid != 0) {
    atomic_fetch_add(&m->started, 1);
    return;
  }
  struct timespec pause = {0, 1000000};
  for (int i = 0; i < 10000 && atomic_load(&m->started) == 0; i++) nanosleep(&pause, NULL);
  atomic_store(&m->met, atomic_load(&m->started) > 0);
}

static bool workers_run_concurrently(void)
{
  meet m = {0};
  vbpr__parallel_for(2, 2, meet_chunk, &m);
  return atomic_load(&m.met);
}

START_TEST(workers_run_concurrently_with_the_caller)
{
  ck_assert_ok(vbpr_set_num_threads(2));
  ck_assert(workers_run_concurrently());
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

enum { HOSTS = 4, HOST_CALLS = 300 };

static void *host_main(void *arg)
{
  intptr_t id = (intptr_t)arg;
  bool ok = true;
  for (int i = 0; i < HOST_CALLS && ok; i++) {
    size_t n = 50 + (size_t)((i * 7 + id * 13) % 500);
    int nt = 1 + (int)((i + id) % 9);
    ok = run_and_check(n, nt, i % 10 == 0);
  }
  return ok ? (void *)1 : NULL;
}

/* The thread count changes under running jobs. */
static void *setter_main(void *arg)
{
  (void)arg;
  for (int i = 0; i < HOST_CALLS; i++)
    if (vbpr_set_num_threads(1 + i % 7) != VBPR_OK) return NULL;
  return (void *)1;
}

START_TEST(host_threads_at_once)
{
  pthread_t t[HOSTS + 1];
  for (intptr_t i = 0; i < HOSTS; i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, host_main, (void *)i), 0);
  ck_assert_int_eq(pthread_create(&t[HOSTS], NULL, setter_main, NULL), 0);
  for (int i = 0; i <= HOSTS; i++) {
    void *ok = NULL;
    pthread_join(t[i], &ok);
    ck_assert_msg(ok != NULL, "host thread %d saw a wrong result", i);
  }
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

/* ThreadSanitizer cannot follow threads started after a multi-threaded
 * fork (it reuses the ids of the parent's threads): under it the child only
 * exits, which still checks that fork does not deadlock on the pool. */
#if defined(__SANITIZE_THREAD__)
#  define UNDER_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define UNDER_TSAN 1
#  endif
#endif
#ifndef UNDER_TSAN
#  define UNDER_TSAN 0
#endif

/* The child of a fork gets an empty pool and starts its own workers. */
static int child_checks(void)
{
  if (UNDER_TSAN) return 0;
  if (!run_and_check(1000, 4, false) || !workers_run_concurrently() ||
      vbpr_set_num_threads(6) != VBPR_OK || !run_and_check(5000, 6, true))
    return 1;
  return 0;
}

START_TEST(fork_child_starts_a_fresh_pool)
{
  ck_assert_ok(vbpr_set_num_threads(4));
  ck_assert(run_and_check(1000, 4, false)); /* the parent's pool is started */
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    alarm(60); /* a child waiting on workers that do not exist would hang */
    exit(child_checks()); /* exit: the child's pool is torn down as well */
  }
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
  ck_assert(run_and_check(1000, 4, false)); /* the parent's pool still works */
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

START_TEST(thread_count_changes_up_and_down)
{
  static const int counts[] = {2, 16, 1, 3, 64, 2, 0, 7};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    ck_assert_ok(vbpr_set_num_threads(counts[i]));
    int nt = vbpr_get_num_threads();
    ck_assert_int_ge(nt, 1);
    if (counts[i] > 0) ck_assert_int_eq(nt, counts[i]);
    ck_assert_int_eq(vbpr__threads_for(SIZE_MAX, 1), nt);
    for (int rep = 0; rep < 20; rep++)
      ck_assert_msg(run_and_check(3000 + (size_t)rep, nt, rep % 4 == 0), "count %d",
                    counts[i]);
  }
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

/* The cap is real: a job may ask for VBPR_MAX_THREADS chunks (the pool
 * grows to VBPR_MAX_THREADS - 1 workers, or runs what it cannot start on
 * the caller). VBPR_TEST_POOL_MAX_THREADS lowers it under valgrind, whose
 * default thread limit is 500. */
typedef struct wide {
  uint64_t *sums;
} wide;

static void wide_chunk(void *p, size_t begin, size_t end, int tid)
{
  wide *w = p;
  w->sums[tid] = seq_sum(begin, end);
}

START_TEST(max_threads_supported)
{
  int max = VBPR_MAX_THREADS;
  const char *lim = getenv("VBPR_TEST_POOL_MAX_THREADS");
  if (lim != NULL && atoi(lim) > 1 && atoi(lim) < max) max = atoi(lim);
  ck_assert_ok(vbpr_set_num_threads(max));
  ck_assert_status(vbpr_set_num_threads(VBPR_MAX_THREADS + 1), VBPR_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(vbpr_get_num_threads(), max);
  uint64_t *sums = calloc((size_t)max, sizeof *sums);
  ck_assert_ptr_nonnull(sums);
  wide w = {sums};
  size_t n = 3 * (size_t)max + 5;
  for (int rep = 0; rep < 3; rep++) {
    memset(sums, 0, (size_t)max * sizeof *sums);
    vbpr__parallel_for(n, max, wide_chunk, &w);
    uint64_t total = 0;
    for (int t = 0; t < max; t++) total += sums[t];
    ck_assert(total == seq_sum(0, n));
  }
  free(sums);
  ck_assert_ok(vbpr_set_num_threads(0));
}
END_TEST

int main(void)
{
  Suite *s = suite_create("robust_pool");
  TCase *tc = tcase_create("pool");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, chunks_fixed_and_sums_sequential);
  tcase_add_test(tc, nested_calls_run_inline);
  tcase_add_test(tc, workers_run_concurrently_with_the_caller);
  tcase_add_test(tc, host_threads_at_once);
  tcase_add_test(tc, fork_child_starts_a_fresh_pool);
  tcase_add_test(tc, thread_count_changes_up_and_down);
  tcase_add_test(tc, max_threads_supported);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
