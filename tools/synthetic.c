#include "data.h"

bool data_synthetic(const cli_config *cfg, data_pair *out)
{
  vbpr_synthetic *syn = NULL;
  vbpr_status st = vbpr_synthetic_create(&syn);
  if (st == VBPR_OK) st = vbpr_synthetic_set(syn, VBPR_SYNTHETIC_SEED, cfg->synth_seed);
  if (st == VBPR_OK && cfg->synth_noise >= 0)
    st = vbpr_synthetic_set(syn, VBPR_SYNTHETIC_FALSE_POSITIVES, cfg->synth_noise);
  /* For the noise report: ratings say which interactions were injected. */
  if (st == VBPR_OK && cfg->noise_path)
    st = vbpr_synthetic_set(syn, VBPR_SYNTHETIC_LABELS, 1);
  if (st == VBPR_OK) st = vbpr_synthetic_generate(syn, &out->train, &out->test);
  vbpr_synthetic_destroy(syn);
  if (st != VBPR_OK) {
    fprintf(stderr, "vbpr-train: built-in data: %s\n", vbpr_last_error());
    return false;
  }
  if (!cfg->quiet)
    printf("data: built-in synthetic (seed %.0f, %.0f%% false positives): %d users, %d items, "
           "%lld train and %lld test interactions\n",
           cfg->synth_seed, 100.0 * (cfg->synth_noise >= 0 ? cfg->synth_noise : 0),
           (int)vbpr_dataset_num_users(out->train), (int)vbpr_dataset_num_items(out->train),
           (long long)vbpr_dataset_num_interactions(out->train),
           (long long)vbpr_dataset_num_interactions(out->test));
  return true;
}
