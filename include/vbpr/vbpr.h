/*
 * libvbpr: Variational Bayesian Personalized Ranking.
 * Umbrella header: includes every public header. See doc/README.md.
 */
#ifndef VBPR_VBPR_H
#define VBPR_VBPR_H

#include "vbpr/common.h"
#include "vbpr/error.h"
#include "vbpr/version.h"
#include "vbpr/runtime.h"
#include "vbpr/loss.h"
#include "vbpr/dataset.h"
#include "vbpr/synthetic.h"
#include "vbpr/sampler.h"
#include "vbpr/encoder.h"
#include "vbpr/optim.h"
#include "vbpr/eval.h"
#include "vbpr/train.h"
#include "vbpr/collective.h"

#endif /* VBPR_VBPR_H */
