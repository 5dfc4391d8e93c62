/* Dataset options: a growable parameter set behind setters. */
#include <math.h>

#include "dataset/dataset_internal.h"

static const vbpr_dataset_options defaults = {
  VBPR_DATASET_FORMAT_AUTO, -1, VBPR_DATASET_DUP_MAX, 0, -1, -1, 0, 0, NULL,
};

void vbpr__options_resolve(const vbpr_dataset_options *opts, vbpr_dataset_options *out)
{
  *out = opts ? *opts : defaults;
}

vbpr_status vbpr_dataset_options_create(vbpr_dataset_options **out)
{
  VBPR_CHECK_NULL(out);
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

static const char *option_name(vbpr_dataset_option o)
{
  switch (o) {
  case VBPR_DATASET_OPT_FORMAT: return "VBPR_DATASET_OPT_FORMAT";
  case VBPR_DATASET_OPT_HEADER: return "VBPR_DATASET_OPT_HEADER";
  case VBPR_DATASET_OPT_DUPLICATES: return "VBPR_DATASET_OPT_DUPLICATES";
  case VBPR_DATASET_OPT_NUM_USERS: return "VBPR_DATASET_OPT_NUM_USERS";
  case VBPR_DATASET_OPT_NUM_ITEMS: return "VBPR_DATASET_OPT_NUM_ITEMS";
  case VBPR_DATASET_OPT_MIN_USERS: return "VBPR_DATASET_OPT_MIN_USERS";
  case VBPR_DATASET_OPT_MIN_ITEMS: return "VBPR_DATASET_OPT_MIN_ITEMS";
  case VBPR_DATASET_OPT_REMAP_IDS: return "VBPR_DATASET_OPT_REMAP_IDS";
  }
  return NULL;
}

/* Allowed range of each option. */
static void option_range(vbpr_dataset_option o, double *lo, double *hi)
{
  switch (o) {
  case VBPR_DATASET_OPT_FORMAT: *lo = 0; *hi = 2; return;
  case VBPR_DATASET_OPT_HEADER: *lo = -1; *hi = 1; return;
  case VBPR_DATASET_OPT_DUPLICATES: *lo = 0; *hi = 4; return;
  case VBPR_DATASET_OPT_NUM_USERS:
  case VBPR_DATASET_OPT_NUM_ITEMS: *lo = -1; *hi = INT32_MAX; return;
  case VBPR_DATASET_OPT_MIN_USERS:
  case VBPR_DATASET_OPT_MIN_ITEMS: *lo = 0; *hi = INT32_MAX; return;
  case VBPR_DATASET_OPT_REMAP_IDS: *lo = 0; *hi = 1; return;
  }
  *lo = *hi = 0;
}

vbpr_status vbpr_dataset_options_set(vbpr_dataset_options *opts, vbpr_dataset_option option,
                                     double value)
{
  VBPR_CHECK_NULL(opts);
  const char *name = option_name(option);
  if (name == NULL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "option %d is not a vbpr_dataset_option",
                     (int)option);
  double lo, hi;
  option_range(option, &lo, &hi);
  if (!(value >= lo && value <= hi) || value != floor(value))
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "%s must be an integer in [%.0f, %.0f], got %g",
                     name, lo, hi, value);
  int64_t v = (int64_t)value;
  switch (option) {
  case VBPR_DATASET_OPT_FORMAT: opts->format = (int)v; break;
  case VBPR_DATASET_OPT_HEADER: opts->header = (int)v; break;
  case VBPR_DATASET_OPT_DUPLICATES: opts->dup = (int)v; break;
  case VBPR_DATASET_OPT_NUM_USERS: opts->num_users = v; break;
  case VBPR_DATASET_OPT_NUM_ITEMS: opts->num_items = v; break;
  case VBPR_DATASET_OPT_MIN_USERS: opts->min_users = v; break;
  case VBPR_DATASET_OPT_MIN_ITEMS: opts->min_items = v; break;
  case VBPR_DATASET_OPT_REMAP_IDS: opts->remap = (int)v; break;
  }
  return VBPR_OK;
}

vbpr_status vbpr_dataset_options_get(const vbpr_dataset_options *opts,
                                     vbpr_dataset_option option, double *value)
{
  VBPR_CHECK_NULL(opts);
  VBPR_CHECK_NULL(value);
  switch (option) {
  case VBPR_DATASET_OPT_FORMAT: *value = opts->format; return VBPR_OK;
  case VBPR_DATASET_OPT_HEADER: *value = opts->header; return VBPR_OK;
  case VBPR_DATASET_OPT_DUPLICATES: *value = opts->dup; return VBPR_OK;
  case VBPR_DATASET_OPT_NUM_USERS: *value = (double)opts->num_users; return VBPR_OK;
  case VBPR_DATASET_OPT_NUM_ITEMS: *value = (double)opts->num_items; return VBPR_OK;
  case VBPR_DATASET_OPT_MIN_USERS: *value = (double)opts->min_users; return VBPR_OK;
  case VBPR_DATASET_OPT_MIN_ITEMS: *value = (double)opts->min_items; return VBPR_OK;
  case VBPR_DATASET_OPT_REMAP_IDS: *value = opts->remap; return VBPR_OK;
  }
  return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "option %d is not a vbpr_dataset_option",
                   (int)option);
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
