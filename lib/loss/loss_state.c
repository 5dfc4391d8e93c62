/* A loss in a checkpoint: its kind and the value of every parameter that
 * applies to it, found through the public parameter functions, so that
 * parameters added later are saved without a line here. The loss has no
 * other state between batches (its stored forward is not needed). */
#include "core/core.h"
#include "vbpr/error.h"
#include "loss/loss_state.h"

/* Parameter values are explicit enum values far below this. */
#define MAX_PARAM 256

static bool applies(vbpr_loss_kind kind, int p)
{
  vbpr_param_bounds b;
  vbpr_status st = vbpr_loss_param_bounds(kind, (vbpr_loss_param)p, &b);
  return st == VBPR_OK;
}

void vbpr__loss_state_write(const void *obj, vbpr__ckpt_writer *w)
{
  const vbpr_loss *loss = obj;
  vbpr_loss_kind kind = vbpr_loss_get_kind(loss);
  uint32_t n = 0;
  for (int p = 1; p < MAX_PARAM; p++) n += applies(kind, p);
  vbpr__ckpt_put_u32(w, (uint32_t)kind);
  vbpr__ckpt_put_u32(w, n);
  for (int p = 1; p < MAX_PARAM; p++) {
    double v = 0;
    if (!applies(kind, p) || vbpr_loss_get(loss, (vbpr_loss_param)p, &v) != VBPR_OK) continue;
    vbpr__ckpt_put_u32(w, (uint32_t)p);
    vbpr__ckpt_put_f64(w, v);
  }
}

static vbpr_status set_param(void *loss, uint32_t p, double v)
{
  return vbpr_loss_set(loss, (vbpr_loss_param)p, v);
}

vbpr_status vbpr__loss_state_read(vbpr_loss *loss, vbpr__ckpt_reader *r)
{
  uint32_t kind = vbpr__ckpt_get_u32(r);
  if (r->st == VBPR_OK && kind != (uint32_t)vbpr_loss_get_kind(loss))
    return vbpr__ckpt_bad(r, "loss kind %u, the trainer's is %d", (unsigned)kind,
                          (int)vbpr_loss_get_kind(loss));
  if (vbpr__ckpt_get_params(r, loss, set_param, "loss") != VBPR_OK) return r->st;
  return vbpr__ckpt_done(r);
}
