/* Dataset loading: time and memory to load the Gowalla training file (and
 * ml-100k), against the size of the CSR it produces.
 *
 * Usage: bench_dataset [data_dir] [runs]   (data_dir defaults to
 * $VBPR_DATA_DIR; runs to 7; times are medians over runs). The memory
 * figure is the peak resident set growth during the first load of each
 * file (VmHWM from /proc/self/status, reset through /proc/self/clear_refs
 * between files), so it counts the parser's temporary buffers too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../bench_util.h"
#include "vbpr/dataset.h"
#include "vbpr/error.h"

/* "VmRSS" or "VmHWM" in kB; getrusage's peak when /proc is missing. */
static long status_kb(const char *key)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
  if (f) fclose(f);
  if (v < 0) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    v = ru.ru_maxrss;
  }
  return v;
}

static double csr_mb(const vbpr_dataset *ds)
{
  double users = vbpr_dataset_num_users(ds), items = vbpr_dataset_num_items(ds);
  double nnz = (double)vbpr_dataset_num_interactions(ds);
  double bytes = 8 * (users + 1) + 4 * nnz + (vbpr_dataset_has_ratings(ds) ? 4 * nnz : 0) +
                 16 * items; /* offsets, items, ratings, counts and rating sums */
  return bytes / 1048576.0;
}

/* Memory is reported for the first file only: later loads reuse pages the
 * allocator kept from earlier ones, so their growth would read as ~0. */
static int bench_file(const char *dir, const char *name, int runs, int report_memory)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  double *t = malloc((size_t)runs * sizeof *t);
  FILE *f = fopen("/proc/self/clear_refs", "w"); /* "5" resets the peak (Linux >= 4.0) */
  int reset = f != NULL && fputs("5", f) >= 0;
  if (f != NULL && fclose(f) != 0) reset = 0;
  long rss0 = status_kb("VmRSS"), peak = 0;
  vbpr_dataset *ds = NULL;
  for (int r = 0; r < runs; r++) {
    vbpr_dataset_destroy(ds);
    double t0 = bench_seconds();
    if (vbpr_dataset_load(path, NULL, &ds) != VBPR_OK) {
      fprintf(stderr, "bench_dataset: %s\n", vbpr_last_error());
      free(t);
      return 1;
    }
    t[r] = bench_seconds() - t0;
    if (r == 0) peak = status_kb("VmHWM") - rss0;
  }
  double ms = 1e3 * bench_median(t, runs);
  printf("%-20s users %6zu items %6zu interactions %7lld | load median %6.1f ms "
         "(%4.1f M interactions/s)",
         name, vbpr_dataset_num_users(ds), vbpr_dataset_num_items(ds),
         (long long)vbpr_dataset_num_interactions(ds), ms,
         (double)vbpr_dataset_num_interactions(ds) / ms / 1e3);
  if (report_memory)
    printf(" | peak RSS growth %4.1f MB%s, CSR %4.1f MB, peak/CSR %.2f", peak / 1024.0,
           reset ? "" : " (peak not reset: upper bound)", csr_mb(ds), peak / 1024.0 / csr_mb(ds));
  printf("\n");
  vbpr_dataset_destroy(ds);
  free(t);
  return 0;
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : getenv("VBPR_DATA_DIR");
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (dir == NULL || runs < 1) {
    fprintf(stderr, "usage: bench_dataset [data_dir] [runs]  (or set VBPR_DATA_DIR)\n");
    return 2;
  }
  /* Gowalla first, so that its peak is not hidden by an earlier one */
  int rc = bench_file(dir, "gowalla/train.txt", runs, 1);
  if (rc == 0) rc = bench_file(dir, "gowalla/test.txt", runs, 0);
  if (rc == 0) rc = bench_file(dir, "ml-100k/ratings.tsv", runs, 0);
  return rc;
}
