/* A sampler's part of a checkpoint (core/ckpt.h). */
#ifndef VBPR_LIB_SAMPLER_STATE_H
#define VBPR_LIB_SAMPLER_STATE_H

#include "core/ckpt.h"
#include "vbpr/sampler.h"

#define VBPR__SAMPLER_STATE_VERSION 1u

/* Section body: u32 count, count x (u32 parameter, f64 value) for every
 * parameter (EPOCH among them), then u64 position in the epoch. Draws are
 * a pure function of (seed, epoch, row), so this is the whole state. */
void vbpr__sampler_state_write(const void *sampler, vbpr__ckpt_writer *w);
/* Restores a sampler over the same data. */
vbpr_status vbpr__sampler_state_read(vbpr_sampler *s, vbpr__ckpt_reader *r);

#endif
