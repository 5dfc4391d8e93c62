/* The "mf" module switched off (meson -Dmf=disabled): the constructor and
 * the registry entry stay, so every build exports the same symbols and
 * knows the same kinds; creating an MF encoder is VBPR_ERR_UNSUPPORTED. */
#include "core/core.h"
#include "encoder/encoder_internal.h"

static vbpr_status mf_create_for(const vbpr_dataset *train, int32_t dim, int32_t num_layers,
                                 uint64_t seed, vbpr_encoder **out);

const vbpr__encoder_kind_info vbpr__encoder_kind_mf = {
  .kind = VBPR_ENCODER_MF,
  .name = "MF",
  .module = "mf",
  .min_layers = 0,
  .max_layers = 0,
  .built = false,
  .create = mf_create_for,
  .init = VBPR_INIT_NORMAL,
  .init_scale = 0.01,
};

static vbpr_status mf_create_for(const vbpr_dataset *train, int32_t dim, int32_t num_layers,
                                 uint64_t seed, vbpr_encoder **out)
{
  (void)train, (void)dim, (void)num_layers, (void)seed;
  *out = NULL;
  return vbpr__encoder_unsupported(&vbpr__encoder_kind_mf, "vbpr_encoder_create_mf");
}

vbpr_status vbpr_encoder_create_mf(size_t num_users, size_t num_items, size_t dim,
                                   uint64_t seed, vbpr_encoder **out)
{
  (void)num_users, (void)num_items, (void)dim, (void)seed;
  VBPR_CHECK_NULL(out);
  *out = NULL;
  return vbpr__encoder_unsupported(&vbpr__encoder_kind_mf, __func__);
}
