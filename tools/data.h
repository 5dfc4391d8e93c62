/* vbpr-train: loading the train/test pair (files or built-in data). */
#ifndef VBPR_TOOLS_DATA_H
#define VBPR_TOOLS_DATA_H

#include "cli.h"

typedef struct data_pair {
  vbpr_dataset *train, *test;
} data_pair;

bool data_load(const cli_config *cfg, data_pair *out);
/* The built-in synthetic data set (seed cfg->synth_seed). */
bool data_synthetic(const cli_config *cfg, data_pair *out);
void data_free(data_pair *d);

#endif
