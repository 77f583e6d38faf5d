#include "core/threads.h"

#include <omp.h>

#if defined(COHORT_BLAS_BLIS)
// BLIS's own thread count (it reads BLIS_NUM_THREADS, not OpenMP's setting).
extern "C" void bli_thread_set_num_threads(long n);
#else
#include <cblas.h>
#endif

namespace cohort {

void set_thread_count(int n) {
  if (n <= 0) {
#if defined(COHORT_BLAS_BLIS)
    bli_thread_set_num_threads(omp_get_max_threads());  // BLIS alone would use 1
#endif
    return;
  }
  omp_set_num_threads(n);
#if defined(COHORT_BLAS_BLIS)
  bli_thread_set_num_threads(n);
#else
  openblas_set_num_threads(n);
#endif
}

int thread_count() { return omp_get_max_threads(); }

}  // namespace cohort
