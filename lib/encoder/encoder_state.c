/* An encoder in a checkpoint: its shape, parameters (vbpr_encoder_param),
 * tables and the kind's own state. Gradients are not saved: a checkpoint
 * is taken between batches, where they are about to be zeroed. */
#include <math.h>

#include "core/core.h"
#include "encoder/encoder_impl.h"
#include "encoder/encoder_state.h"

void vbpr__encoder_state_write(const void *obj, vbpr__ckpt_writer *w)
{
  const vbpr_encoder *e = obj;
  const vbpr__param_table *t = e->ops->info->params;
  uint32_t n = 0;
  for (size_t p = 1; t != NULL && p < t->n; p++) n += t->spec[p].name != NULL;
  vbpr__ckpt_put_u32(w, (uint32_t)e->ops->info->kind);
  vbpr__ckpt_put_u32(w, (uint32_t)e->dim);
  vbpr__ckpt_put_u32(w, (uint32_t)e->num_layers);
  vbpr__ckpt_put_u64(w, (uint64_t)e->num_users);
  vbpr__ckpt_put_u64(w, (uint64_t)e->num_items);
  vbpr__ckpt_put_u32(w, n);
  for (size_t p = 1; t != NULL && p < t->n; p++) {
    if (t->spec[p].name == NULL) continue;
    vbpr__ckpt_put_u32(w, (uint32_t)p);
    vbpr__ckpt_put_f64(w, e->params[p]);
  }
  vbpr__ckpt_put_floats(w, e->n_elems, e->param);
  if (e->ops->state_write) e->ops->state_write(e, w);
}

static vbpr_status set_param(void *enc, uint32_t p, double v)
{
  return vbpr_encoder_set(enc, (vbpr_encoder_param)p, v);
}

vbpr_status vbpr__encoder_state_read(vbpr_encoder *e, vbpr__ckpt_reader *r)
{
  uint32_t kind = vbpr__ckpt_get_u32(r), dim = vbpr__ckpt_get_u32(r);
  uint32_t layers = vbpr__ckpt_get_u32(r);
  uint64_t nu = vbpr__ckpt_get_u64(r), ni = vbpr__ckpt_get_u64(r);
  if (r->st == VBPR_OK &&
      (kind != (uint32_t)e->ops->info->kind || dim != (uint32_t)e->dim ||
       layers != (uint32_t)e->num_layers || nu != (uint64_t)e->num_users ||
       ni != (uint64_t)e->num_items))
    return vbpr__ckpt_bad(r, "a %s encoder of %llu users, %llu items, dim %u, %u layers; "
                          "the trainer's is %s, %d, %d, %d, %d",
                          vbpr__encoder_kind_name((int)kind), (unsigned long long)nu,
                          (unsigned long long)ni, (unsigned)dim, (unsigned)layers,
                          e->ops->info->name, (int)e->num_users, (int)e->num_items,
                          (int)e->dim, (int)e->num_layers);
  if (vbpr__ckpt_get_params(r, e, set_param, "encoder") != VBPR_OK) return r->st;
  vbpr__ckpt_get_floats(r, e->n_elems, e->param);
  if (r->st == VBPR_OK && vbpr__find_nonfinite(e->param, e->n_elems) != e->n_elems)
    return vbpr__ckpt_bad(r, "a parameter is not finite");
  if (r->st == VBPR_OK && e->ops->state_read) e->ops->state_read(e, r);
  return vbpr__ckpt_done(r);
}
