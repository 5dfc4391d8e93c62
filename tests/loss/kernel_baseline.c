/* The loss kernels built once more for the baseline ISA only, under other
 * names, so that a test can check that the build dispatched at run time
 * (for instance the AVX2 clone) gives bit-identical results. */
#define VBPR_LOSS_NO_CLONES 1
#define vbpr__loss_fwd_range baseline_loss_fwd_range
#define vbpr__loss_bwd_range baseline_loss_bwd_range
#define vbpr__loss_block_rows baseline_loss_block_rows
#define vbpr__loss_scratch_per_thread baseline_loss_scratch_per_thread
#define vbpr__loss_rows baseline_loss_rows
#define vbpr__softplus baseline_softplus
#define vbpr__sigmoid baseline_sigmoid
#define vbpr__exp_nonpos baseline_exp_nonpos
#define vbpr__log1p_unit baseline_log1p_unit
#include "loss/loss_kernel.c"
