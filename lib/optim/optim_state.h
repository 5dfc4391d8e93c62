/* An optimizer's part of a checkpoint (core/ckpt.h). Implemented at the
 * end of optim.c, beside the state it saves. */
#ifndef VBPR_LIB_OPTIM_STATE_H
#define VBPR_LIB_OPTIM_STATE_H

#include "core/ckpt.h"
#include "vbpr/optim.h"

#define VBPR__OPTIM_STATE_VERSION 1u

/* Section body: u32 kind; u32 count, count x (u32 parameter, f64 value);
 * u32 slots; per slot: u64 elements (0: unused), u64 step count, u32 1 if
 * it has Adam moments, then the moments m[elements] and v[elements]. */
void vbpr__optim_state_write(const void *opt, vbpr__ckpt_writer *w);
/* Restores into an optimizer of the stored kind with no state yet. */
vbpr_status vbpr__optim_state_read(vbpr_optim *opt, vbpr__ckpt_reader *r);

#endif
