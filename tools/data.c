#include <stdlib.h>

#include "data.h"

static bool set_opt(vbpr_dataset_options *o, vbpr_dataset_options_param k, double v)
{
  if (vbpr_dataset_options_set(o, k, v) == VBPR_OK) return true;
  fprintf(stderr, "vbpr-train: %s\n", vbpr_last_error());
  return false;
}

/* The item universe from --items-from: the largest of that file's. */
static bool universe_from(const char *path, int format, vbpr_dataset_options *opts)
{
  vbpr_dataset_options *o = NULL;
  vbpr_dataset *ref = NULL;
  bool ok = vbpr_dataset_options_create(&o) == VBPR_OK &&
            set_opt(o, VBPR_DATASET_OPTIONS_FORMAT, format);
  if (ok && vbpr_dataset_load(path, o, &ref) != VBPR_OK) {
    fprintf(stderr, "vbpr-train: %s\n", vbpr_last_error());
    ok = false;
  }
  if (ok)
    ok = set_opt(opts, VBPR_DATASET_OPTIONS_MIN_ITEMS, vbpr_dataset_num_items(ref)) &&
         set_opt(opts, VBPR_DATASET_OPTIONS_MIN_USERS, vbpr_dataset_num_users(ref));
  vbpr_dataset_destroy(ref);
  vbpr_dataset_options_destroy(o);
  return ok;
}

static bool load_files(const cli_config *cfg, data_pair *out)
{
  vbpr_dataset_options *opts = NULL;
  if (vbpr_dataset_options_create(&opts) != VBPR_OK) {
    fprintf(stderr, "vbpr-train: %s\n", vbpr_last_error());
    return false;
  }
  bool ok = set_opt(opts, VBPR_DATASET_OPTIONS_FORMAT, cfg->format);
  if (ok && cfg->num_items > 0) ok = set_opt(opts, VBPR_DATASET_OPTIONS_NUM_ITEMS, (double)cfg->num_items);
  if (ok && cfg->items_from) ok = universe_from(cfg->items_from, cfg->format, opts);
  if (ok && vbpr_dataset_load_pair(cfg->train_path, cfg->test_path, opts, &out->train,
                                   &out->test) != VBPR_OK) {
    fprintf(stderr, "vbpr-train: %s\n", vbpr_last_error());
    ok = false;
  }
  vbpr_dataset_options_destroy(opts);
  if (ok && !cfg->quiet)
    printf("data: %s (%lld interactions), %s (%lld); %d users, %d items\n", cfg->train_path,
           (long long)vbpr_dataset_num_interactions(out->train), cfg->test_path,
           (long long)vbpr_dataset_num_interactions(out->test),
           (int)vbpr_dataset_num_users(out->train), (int)vbpr_dataset_num_items(out->train));
  return ok;
}

bool data_load(const cli_config *cfg, data_pair *out)
{
  if (cfg->train_path != NULL) return load_files(cfg, out);
  return data_synthetic(cfg, out);
}

void data_free(data_pair *d)
{
  vbpr_dataset_destroy(d->train);
  vbpr_dataset_destroy(d->test);
  d->train = d->test = NULL;
}
