#include "core/threads.h"

#include <cblas.h>
#include <omp.h>

namespace cohort {

void set_thread_count(int n) {
  if (n <= 0) return;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int thread_count() { return omp_get_max_threads(); }

}  // namespace cohort
