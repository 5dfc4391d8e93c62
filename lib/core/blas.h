/* The one place libvbpr calls BLIS (dense products). Internal. */
#ifndef VBPR_LIB_BLAS_H
#define VBPR_LIB_BLAS_H

#include <stddef.h>

/* C[m x n] = alpha * A[m x k] * B[n x k]^T + beta * C, all row-major with
 * leading dimensions lda, ldb, ldc (in elements). nthreads >= 1 is passed to
 * BLIS through a per-call runtime object, so the host's OpenMP settings are
 * never touched. Sizes must fit BLIS's dim_t (callers check). */
void vbpr__sgemm_nt(size_t m, size_t n, size_t k, float alpha,
                    const float *a, size_t lda, const float *b, size_t ldb,
                    float beta, float *c, size_t ldc, int nthreads);

/* C[m x n] = alpha * A[m x k] * B[k x n] + beta * C, row-major. */
void vbpr__sgemm_nn(size_t m, size_t n, size_t k, float alpha,
                    const float *a, size_t lda, const float *b, size_t ldb,
                    float beta, float *c, size_t ldc, int nthreads);

#endif
