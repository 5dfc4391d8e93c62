/* Dataset options: a growable parameter set behind setters. */
#include <math.h>

#include "core/params.h"
#include "dataset/dataset_internal.h"

static const vbpr_dataset_options defaults = {
  VBPR_DATASET_FORMAT_AUTO, -1, VBPR_DATASET_DUPLICATES_MAX, 0, -1, -1, 0, 0, NULL,
};

void vbpr__options_resolve(const vbpr_dataset_options *opts, vbpr_dataset_options *out)
{
  *out = opts ? *opts : defaults;
}

vbpr_status vbpr_dataset_options_create(vbpr_dataset_options **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  vbpr_dataset_options *o = vbpr__malloc(sizeof *o);
  if (o == NULL) return VBPR_FAIL(VBPR_ERR_OUT_OF_MEMORY, "cannot allocate options");
  *o = defaults;
  *out = o;
  return VBPR_OK;
}

void vbpr_dataset_options_destroy(vbpr_dataset_options *opts)
{
  if (opts == NULL) return;
  vbpr__dataset_release(opts->ref);
  vbpr__free(opts);
}

static const vbpr__named_value format_names[] = {
  {"auto", VBPR_DATASET_FORMAT_AUTO},
  {"table", VBPR_DATASET_FORMAT_TABLE},
  {"user_lists", VBPR_DATASET_FORMAT_USER_LISTS},
  {"lists", VBPR_DATASET_FORMAT_USER_LISTS},
  {NULL, 0},
};

static const vbpr__named_value duplicates_names[] = {
  {"max", VBPR_DATASET_DUPLICATES_MAX},   {"last", VBPR_DATASET_DUPLICATES_LAST},
  {"first", VBPR_DATASET_DUPLICATES_FIRST}, {"mean", VBPR_DATASET_DUPLICATES_MEAN},
  {"sum", VBPR_DATASET_DUPLICATES_SUM},   {NULL, 0},
};

#define NAMED (VBPR_PARAM_INTEGRAL | VBPR_PARAM_NAMED)

static const vbpr__param_spec specs[] = {
  [VBPR_DATASET_OPTIONS_FORMAT] = {"format", 0, 2, VBPR_DATASET_FORMAT_AUTO, NAMED,
                                   format_names},
  [VBPR_DATASET_OPTIONS_HEADER] = {"header", -1, 1, -1, VBPR_PARAM_INTEGRAL, NULL},
  [VBPR_DATASET_OPTIONS_DUPLICATES] = {"duplicates", 0, 4, VBPR_DATASET_DUPLICATES_MAX,
                                       NAMED, duplicates_names},
  [VBPR_DATASET_OPTIONS_NUM_USERS] = {"num_users", -1, INT32_MAX, -1, VBPR_PARAM_INTEGRAL,
                                      NULL},
  [VBPR_DATASET_OPTIONS_NUM_ITEMS] = {"num_items", -1, INT32_MAX, -1, VBPR_PARAM_INTEGRAL,
                                      NULL},
  [VBPR_DATASET_OPTIONS_MIN_USERS] = {"min_users", 0, INT32_MAX, 0, VBPR_PARAM_INTEGRAL,
                                      NULL},
  [VBPR_DATASET_OPTIONS_MIN_ITEMS] = {"min_items", 0, INT32_MAX, 0, VBPR_PARAM_INTEGRAL,
                                      NULL},
  [VBPR_DATASET_OPTIONS_REMAP_IDS] = {"remap_ids", 0, 1, 0, VBPR_PARAM_INTEGRAL, NULL},
};
VBPR__DEFINE_PARAM_TABLE(table, specs, VBPR_DATASET_OPTIONS_REMAP_IDS,
                         "vbpr_dataset_options_param");

VBPR__PARAM_BOUNDS_API(dataset_options, vbpr_dataset_options_param, table)
VBPR__PARAM_NAME_API(dataset_options, vbpr_dataset_options_param, table)

vbpr_status vbpr_dataset_options_set(vbpr_dataset_options *opts,
                                     vbpr_dataset_options_param option, double value)
{
  VBPR_CHECK_NULL(opts);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(&table, (int)option, &spec, __func__);
  if (st == VBPR_OK) st = vbpr__param_check(spec, value, __func__);
  if (st != VBPR_OK) return st;
  int64_t v = (int64_t)value;
  switch (option) {
  case VBPR_DATASET_OPTIONS_FORMAT: opts->format = (int)v; break;
  case VBPR_DATASET_OPTIONS_HEADER: opts->header = (int)v; break;
  case VBPR_DATASET_OPTIONS_DUPLICATES: opts->dup = (int)v; break;
  case VBPR_DATASET_OPTIONS_NUM_USERS: opts->num_users = v; break;
  case VBPR_DATASET_OPTIONS_NUM_ITEMS: opts->num_items = v; break;
  case VBPR_DATASET_OPTIONS_MIN_USERS: opts->min_users = v; break;
  case VBPR_DATASET_OPTIONS_MIN_ITEMS: opts->min_items = v; break;
  case VBPR_DATASET_OPTIONS_REMAP_IDS: opts->remap = (int)v; break;
  }
  return VBPR_OK;
}

vbpr_status vbpr_dataset_options_get(const vbpr_dataset_options *opts,
                                     vbpr_dataset_options_param option, double *value)
{
  VBPR_CHECK_NULL(opts);
  VBPR_CHECK_NULL(value);
  const vbpr__param_spec *spec;
  vbpr_status st = vbpr__param_find(&table, (int)option, &spec, __func__);
  if (st != VBPR_OK) return st;
  switch (option) {
  case VBPR_DATASET_OPTIONS_FORMAT: *value = opts->format; break;
  case VBPR_DATASET_OPTIONS_HEADER: *value = opts->header; break;
  case VBPR_DATASET_OPTIONS_DUPLICATES: *value = opts->dup; break;
  case VBPR_DATASET_OPTIONS_NUM_USERS: *value = (double)opts->num_users; break;
  case VBPR_DATASET_OPTIONS_NUM_ITEMS: *value = (double)opts->num_items; break;
  case VBPR_DATASET_OPTIONS_MIN_USERS: *value = (double)opts->min_users; break;
  case VBPR_DATASET_OPTIONS_MIN_ITEMS: *value = (double)opts->min_items; break;
  case VBPR_DATASET_OPTIONS_REMAP_IDS: *value = opts->remap; break;
  }
  return VBPR_OK;
}

vbpr_status vbpr_dataset_options_set_reference(vbpr_dataset_options *opts,
                                               const vbpr_dataset *reference)
{
  VBPR_CHECK_NULL(opts);
  vbpr_dataset *old = opts->ref;
  opts->ref = vbpr__dataset_retain(reference);
  vbpr__dataset_release(old);
  return VBPR_OK;
}
