/* What the tests (and a checkpoint) see of an XSimGCL encoder's state
 * beyond the ops table. Internal to lib/encoder and the white-box tests. */
#ifndef VBPR_LIB_ENCODER_XSIMGCL_H
#define VBPR_LIB_ENCODER_XSIMGCL_H

#include <stddef.h>
#include <stdint.h>

#include "vbpr/encoder.h"

/* The unit noise direction u/||u|| of `row` in `layer` (1..K) at training
 * step `step` (the step-th training forward, from 0): [dim] floats. */
void vbpr__xsimgcl_noise(const vbpr_encoder *enc, uint64_t step, int32_t layer, size_t row,
                         float *u);

/* Training forwards made so far (the next forward's step). */
uint64_t vbpr__xsimgcl_step(const vbpr_encoder *enc);

#endif
