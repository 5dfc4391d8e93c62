/* The registry of encoder kinds. The list comes from lib/encoder/meson.build
 * (generated encoder_kinds.h): each kind's file, or its stub when the module
 * is off, defines `vbpr__encoder_kind_<stem>`. Adding a kind therefore
 * changes no line here. */
#include "core/core.h"
#include "encoder/encoder_internal.h"
#include "encoder/encoder_kinds.h"

#define DECLARE_KIND(stem, ENUM) extern const vbpr__encoder_kind_info vbpr__encoder_kind_##stem;
VBPR__ENCODER_KINDS(DECLARE_KIND)

#define LIST_KIND(stem, ENUM) &vbpr__encoder_kind_##stem,
static const vbpr__encoder_kind_info *const kinds[] = {VBPR__ENCODER_KINDS(LIST_KIND)};

enum { NUM_KINDS = sizeof kinds / sizeof kinds[0] };

size_t vbpr__encoder_kind_count(void) { return NUM_KINDS; }

const vbpr__encoder_kind_info *vbpr__encoder_kind_at(size_t i)
{
  return i < NUM_KINDS ? kinds[i] : NULL;
}

const vbpr__encoder_kind_info *vbpr__encoder_kind_find(int kind)
{
  for (size_t i = 0; i < NUM_KINDS; i++)
    if ((int)kinds[i]->kind == kind) return kinds[i];
  return NULL;
}

const char *vbpr__encoder_kind_name(int kind)
{
  const vbpr__encoder_kind_info *k = vbpr__encoder_kind_find(kind);
  return k ? k->name : "?";
}

vbpr_status vbpr__encoder_create_for(int kind, const vbpr_dataset *train, int32_t dim,
                                     int32_t num_layers, uint64_t seed, vbpr_encoder **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  VBPR_CHECK_NULL(train);
  const vbpr__encoder_kind_info *k = vbpr__encoder_kind_find(kind);
  if (k == NULL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "unknown encoder kind %d", kind);
  return k->create(train, dim, num_layers, seed, out);
}

vbpr_status vbpr__encoder_unsupported(const vbpr__encoder_kind_info *info, const char *func)
{
  return vbpr__error(VBPR_ERR_UNSUPPORTED, func,
                     "this libvbpr was built without the '%s' module (meson -D%s=enabled)",
                     info->module, info->module);
}
