/* A sampler in a checkpoint: every parameter through the public table (so
 * parameters added later are saved without a line here) and the position
 * in the current epoch. Row r of an epoch depends only on (seed, epoch, r,
 * the parameters and the data), so nothing else is needed to continue
 * where the saved sampler stood. */
#include "core/core.h"
#include "vbpr/error.h"
#include "sampler/sampler_internal.h"
#include "sampler/sampler_state.h"

void vbpr__sampler_state_write(const void *obj, vbpr__ckpt_writer *w)
{
  const vbpr_sampler *s = obj;
  uint32_t n = 0;
  while (vbpr_sampler_param_name((vbpr_sampler_param)(n + 1)) != NULL) n++;
  vbpr__ckpt_put_u32(w, n);
  for (uint32_t p = 1; p <= n; p++) {
    double v = 0;
    vbpr_sampler_get(s, (vbpr_sampler_param)p, &v);
    vbpr__ckpt_put_u32(w, p);
    vbpr__ckpt_put_f64(w, v);
  }
  vbpr__ckpt_put_u64(w, (uint64_t)s->position);
}

static vbpr_status set(vbpr_sampler *s, vbpr__ckpt_reader *r, uint32_t p, double v)
{
  if (vbpr_sampler_set(s, (vbpr_sampler_param)p, v) != VBPR_OK)
    return vbpr__ckpt_bad(r, "sampler parameter %u = %g refused (%s)", (unsigned)p, v,
                          vbpr_last_error());
  return VBPR_OK;
}

vbpr_status vbpr__sampler_state_read(vbpr_sampler *s, vbpr__ckpt_reader *r)
{
  uint32_t n = vbpr__ckpt_get_u32(r);
  double epoch = -1;
  /* Setting a parameter restarts the epoch: EPOCH goes last, then the
   * position. */
  for (uint32_t i = 0; i < n && r->st == VBPR_OK; i++) {
    uint32_t p = vbpr__ckpt_get_u32(r);
    double v = vbpr__ckpt_get_f64(r);
    if (r->st != VBPR_OK) break;
    if (p == VBPR_SAMPLER_EPOCH) epoch = v;
    else if (set(s, r, p, v) != VBPR_OK) return r->st;
  }
  uint64_t position = vbpr__ckpt_get_u64(r);
  if (r->st == VBPR_OK && epoch < 0) return vbpr__ckpt_bad(r, "no epoch");
  if (r->st == VBPR_OK && set(s, r, VBPR_SAMPLER_EPOCH, epoch) != VBPR_OK) return r->st;
  if (r->st == VBPR_OK && position > vbpr_sampler_rows_per_epoch(s))
    return vbpr__ckpt_bad(r, "position %llu beyond the epoch's %zu rows",
                          (unsigned long long)position, vbpr_sampler_rows_per_epoch(s));
  vbpr_status st = vbpr__ckpt_done(r);
  if (st == VBPR_OK) s->position = (int64_t)position;
  return st;
}
