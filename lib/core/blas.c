#include "core/blas.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#endif
#include <blis.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static void gemm(trans_t tb, size_t m, size_t n, size_t k, float alpha,
                 const float *a, size_t lda, const float *b, size_t ldb,
                 float beta, float *c, size_t ldc, int nthreads)
{
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(nthreads < 1 ? 1 : nthreads, &rntm);
  /* BLIS takes non-const pointers but reads a and b only. */
  bli_sgemm_ex(BLIS_NO_TRANSPOSE, tb, (dim_t)m, (dim_t)n, (dim_t)k, &alpha,
               (float *)a, (inc_t)lda, 1, (float *)b, (inc_t)ldb, 1, &beta, c,
               (inc_t)ldc, 1, NULL, &rntm);
}

void vbpr__sgemm_nt(size_t m, size_t n, size_t k, float alpha,
                    const float *a, size_t lda, const float *b, size_t ldb,
                    float beta, float *c, size_t ldc, int nthreads)
{
  gemm(BLIS_TRANSPOSE, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nthreads);
}

void vbpr__sgemm_nn(size_t m, size_t n, size_t k, float alpha,
                    const float *a, size_t lda, const float *b, size_t ldb,
                    float beta, float *c, size_t ldc, int nthreads)
{
  gemm(BLIS_NO_TRANSPOSE, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nthreads);
}
