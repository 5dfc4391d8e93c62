/* A loss's part of a checkpoint (core/ckpt.h): its kind and parameters. */
#ifndef VBPR_LIB_LOSS_STATE_H
#define VBPR_LIB_LOSS_STATE_H

#include "core/ckpt.h"
#include "vbpr/loss.h"

#define VBPR__LOSS_STATE_VERSION 1u

/* Section body: u32 kind, u32 count, then count x (u32 parameter, f64 value)
 * for every parameter that applies to the kind. */
void vbpr__loss_state_write(const void *loss, vbpr__ckpt_writer *w);
/* Sets the parameters on `loss`, which must be of the stored kind. */
vbpr_status vbpr__loss_state_read(vbpr_loss *loss, vbpr__ckpt_reader *r);

#endif
