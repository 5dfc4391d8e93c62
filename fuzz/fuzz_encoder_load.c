/* libFuzzer target for vbpr_encoder_load(): each input is a model file,
 * loaded into a small MF encoder (and a LightGCN one when that module is
 * built). A failed load must leave the encoder's parameters unchanged; a
 * successful one must give finite parameters. */
#include "fuzz_common.h"

#include <math.h>

#include "vbpr/dataset.h"
#include "vbpr/encoder.h"
#include "vbpr/runtime.h"

/* Sizes of the seed model files in fuzz/corpus/encoder_load/. */
#define FUZZ_USERS 3
#define FUZZ_ITEMS 5
#define FUZZ_DIM 4

static vbpr_encoder *encoders[2];
static float snapshot[2][(FUZZ_USERS + FUZZ_ITEMS) * FUZZ_DIM];

static void take(vbpr_encoder *enc, float *out)
{
  float *u = NULL, *i = NULL;
  FUZZ_REQUIRE(vbpr_encoder_table(enc, VBPR_TABLE_USERS, &u, NULL, NULL, NULL) == VBPR_OK);
  FUZZ_REQUIRE(vbpr_encoder_table(enc, VBPR_TABLE_ITEMS, &i, NULL, NULL, NULL) == VBPR_OK);
  memcpy(out, u, sizeof(float) * FUZZ_USERS * FUZZ_DIM);
  memcpy(out + FUZZ_USERS * FUZZ_DIM, i, sizeof(float) * FUZZ_ITEMS * FUZZ_DIM);
}

static vbpr_encoder *make_lightgcn(void)
{
  static const int32_t users[] = {0, 0, 1, 2, 2};
  static const int32_t items[] = {0, 3, 1, 2, 4};
  vbpr_dataset *ds = NULL;
  vbpr_encoder *enc = NULL;
  if (vbpr_dataset_create(FUZZ_USERS, FUZZ_ITEMS, 5, users, items, NULL, NULL, &ds) !=
      VBPR_OK)
    abort();
  if (vbpr_encoder_create_lightgcn(ds, FUZZ_DIM, 2, 7, &enc) != VBPR_OK) enc = NULL;
  vbpr_dataset_destroy(ds);
  return enc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  vbpr_set_num_threads(1);
  if (vbpr_encoder_create_mf(FUZZ_USERS, FUZZ_ITEMS, FUZZ_DIM, 7, &encoders[0]) != VBPR_OK)
    encoders[0] = NULL;
  encoders[1] = make_lightgcn();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path = fuzz_temp_path("model");
  if (size > (1u << 20) || fuzz_write_file(path, data, size) != 0) return 0;
  for (int e = 0; e < 2; e++) {
    vbpr_encoder *enc = encoders[e];
    float after[(FUZZ_USERS + FUZZ_ITEMS) * FUZZ_DIM];
    if (!enc) continue;
    take(enc, snapshot[e]);
    vbpr_status st = vbpr_encoder_load(enc, path);
    take(enc, after);
    if (st != VBPR_OK) {
      FUZZ_REQUIRE(memcmp(snapshot[e], after, sizeof after) == 0);
      continue;
    }
    for (size_t k = 0; k < sizeof after / sizeof after[0]; k++)
      FUZZ_REQUIRE(isfinite(after[k]));
  }
  return 0;
}
