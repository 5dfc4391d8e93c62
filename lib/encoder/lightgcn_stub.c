/* The "lightgcn" module switched off (meson -Dlightgcn=disabled): the
 * constructor and the registry entry stay, so every build exports the same
 * symbols and knows the same kinds (a LightGCN model file is still
 * recognised); creating a LightGCN encoder is VBPR_ERR_UNSUPPORTED. */
#include "core/core.h"
#include "encoder/encoder_internal.h"

static vbpr_status lgcn_create_for(const vbpr_dataset *train, int32_t dim,
                                   int32_t num_layers, uint64_t seed, vbpr_encoder **out);

const vbpr__encoder_kind_info vbpr__encoder_kind_lightgcn = {
  .kind = VBPR_ENCODER_LIGHTGCN,
  .name = "LightGCN",
  .module = "lightgcn",
  .min_layers = 1,
  .max_layers = VBPR_LIGHTGCN_MAX_LAYERS,
  .built = false,
  .create = lgcn_create_for,
  .init = VBPR_INIT_XAVIER_NORMAL,
  .init_scale = 1.0,
};

static vbpr_status lgcn_create_for(const vbpr_dataset *train, int32_t dim,
                                   int32_t num_layers, uint64_t seed, vbpr_encoder **out)
{
  (void)train, (void)dim, (void)num_layers, (void)seed;
  *out = NULL;
  return vbpr__encoder_unsupported(&vbpr__encoder_kind_lightgcn,
                                   "vbpr_encoder_create_lightgcn");
}

vbpr_status vbpr_encoder_create_lightgcn(const vbpr_dataset *ds, size_t dim,
                                         size_t num_layers, uint64_t seed,
                                         vbpr_encoder **out)
{
  (void)ds, (void)dim, (void)num_layers, (void)seed;
  VBPR_CHECK_NULL(out);
  *out = NULL;
  return vbpr__encoder_unsupported(&vbpr__encoder_kind_lightgcn, __func__);
}
