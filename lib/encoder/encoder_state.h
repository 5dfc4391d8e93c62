/* An encoder's part of a checkpoint (core/ckpt.h). */
#ifndef VBPR_LIB_ENCODER_STATE_H
#define VBPR_LIB_ENCODER_STATE_H

#include "core/ckpt.h"
#include "vbpr/encoder.h"

#define VBPR__ENCODER_STATE_VERSION 1u

/* Section body: u32 kind, u32 dim, u32 layers, u64 num_users, u64
 * num_items; u32 count, count x (u32 parameter, f64 value); the tables
 * (float32, users then items); then the kind's own state (ops->state_write). */
void vbpr__encoder_state_write(const void *enc, vbpr__ckpt_writer *w);
/* Into an encoder of the same kind and sizes (built from the same data). */
vbpr_status vbpr__encoder_state_read(vbpr_encoder *enc, vbpr__ckpt_reader *r);

#endif
