/* Matrix factorisation: the embedding of an id is its table row. Forward,
 * backward and gradients are the common code of encoder.c; this file only
 * builds the handle, and exists in every build so that the constructor's
 * symbol does too. */
#include "core/core.h"
#include "encoder/encoder_impl.h"
#include "vbpr_config.h"

/* The reference code initialises both tables with Normal(0, 0.01^2). */
#define MF_DEFAULT_STD 0.01

vbpr_status vbpr_encoder_create_mf(int32_t num_users, int32_t num_items, int32_t dim,
                                   uint64_t seed, vbpr_encoder **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
#if VBPR_HAVE_MF
  vbpr_status st = vbpr__encoder_check_sizes(num_users, num_items, dim, __func__);
  if (st != VBPR_OK) return st;
  return vbpr__encoder_alloc(VBPR_ENCODER_MF, num_users, num_items, dim,
                             VBPR_INIT_NORMAL, MF_DEFAULT_STD, seed, out, __func__);
#else
  (void)num_users;
  (void)num_items;
  (void)dim;
  (void)seed;
  return VBPR_FAIL(VBPR_ERR_UNSUPPORTED,
                   "this libvbpr was built without the 'mf' module (meson -Dmf=enabled)");
#endif
}
