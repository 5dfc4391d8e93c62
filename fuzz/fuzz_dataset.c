/* libFuzzer target for vbpr_dataset_load(): each input is a data file,
 * loaded with several option sets, and every dataset that loads is checked
 * against the CSR invariants of include/vbpr/dataset.h.
 * Compiled twice: -DFUZZ_FORMAT=1 (TABLE, ml-100k style) and
 * -DFUZZ_FORMAT=2 (USER_LISTS, gowalla style). */
#include "fuzz_common.h"

#include "vbpr/dataset.h"
#include "vbpr/runtime.h"

#ifndef FUZZ_FORMAT
#  define FUZZ_FORMAT 1
#endif

/* Option sets tried on every input: the forced format with defaults, the
 * forced format with remapped ids and other duplicate policies, and AUTO. */
static const double option_sets[][5] = {
  /* format,      header, duplicates,           remap, num_users */
  {FUZZ_FORMAT,   -1,     VBPR_DATASET_DUPLICATES_MAX,  0,    -1},
  {FUZZ_FORMAT,    1,     VBPR_DATASET_DUPLICATES_MEAN, 1,    -1},
  {VBPR_DATASET_FORMAT_AUTO, 0, VBPR_DATASET_DUPLICATES_SUM, 0, 5},
};

static void check_dataset(const vbpr_dataset *ds)
{
  int32_t nu = vbpr_dataset_num_users(ds), ni = vbpr_dataset_num_items(ds);
  int64_t nnz = vbpr_dataset_num_interactions(ds);
  const int64_t *off = NULL;
  const int32_t *items = NULL;
  const float *ratings = NULL;
  FUZZ_REQUIRE(nu >= 0 && ni >= 0 && nnz >= 0);
  FUZZ_REQUIRE(vbpr_dataset_csr(ds, &off, &items, &ratings) == VBPR_OK);
  FUZZ_REQUIRE(off[0] == 0 && off[nu] == nnz);
  for (int32_t u = 0; u < nu; u++) {
    FUZZ_REQUIRE(off[u] <= off[u + 1]);
    for (int64_t k = off[u]; k < off[u + 1]; k++) {
      FUZZ_REQUIRE(items[k] >= 0 && items[k] < ni);
      FUZZ_REQUIRE(k == off[u] || items[k - 1] < items[k]);
      FUZZ_REQUIRE(vbpr_dataset_contains(ds, u, items[k]) == 1);
    }
  }
  const int64_t *counts = NULL;
  FUZZ_REQUIRE(vbpr_dataset_item_counts(ds, &counts) == VBPR_OK);
  int64_t total = 0;
  for (int32_t i = 0; i < ni; i++) total += counts[i];
  FUZZ_REQUIRE(total == nnz);
  const int64_t *raw = NULL;
  FUZZ_REQUIRE(vbpr_dataset_raw_user_ids(ds, &raw) == VBPR_OK);
  if (raw) {
    for (int32_t u = 0; u < nu; u++) {
      int32_t back = -1;
      if (raw[u] < 0) continue;
      FUZZ_REQUIRE(vbpr_dataset_find_user(ds, raw[u], &back) == VBPR_OK && back == u);
    }
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  vbpr_set_num_threads(1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path = fuzz_temp_path(FUZZ_FORMAT == 1 ? "table" : "lists");
  if (size > (1u << 20) || fuzz_write_file(path, data, size) != 0) return 0;
  for (size_t s = 0; s < sizeof option_sets / sizeof option_sets[0]; s++) {
    vbpr_dataset_options *opts = NULL;
    FUZZ_REQUIRE(vbpr_dataset_options_create(&opts) == VBPR_OK);
    static const vbpr_dataset_options_param keys[5] = {
      VBPR_DATASET_OPTIONS_FORMAT, VBPR_DATASET_OPTIONS_HEADER, VBPR_DATASET_OPTIONS_DUPLICATES,
      VBPR_DATASET_OPTIONS_REMAP_IDS, VBPR_DATASET_OPTIONS_NUM_USERS};
    for (int k = 0; k < 5; k++)
      FUZZ_REQUIRE(vbpr_dataset_options_set(opts, keys[k], option_sets[s][k]) == VBPR_OK);
    vbpr_dataset *ds = NULL;
    vbpr_status st = vbpr_dataset_load(path, opts, &ds);
    if (st == VBPR_OK) {
      FUZZ_REQUIRE(ds != NULL);
      check_dataset(ds);
      vbpr_dataset_destroy(ds);
    } else {
      FUZZ_REQUIRE(ds == NULL);
    }
    vbpr_dataset_options_destroy(opts);
  }
  return 0;
}
