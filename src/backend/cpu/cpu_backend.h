// CpuBackend: Backend on the CPU. Matmuls through CBLAS sgemm (OpenBLAS, OpenMP build,
// so BLAS and our loops share one thread pool); everything else is OpenMP loops the
// compiler vectorizes (AVX2/FMA with COHORT_NATIVE). One file per op family:
// cpu_matmul.cc, cpu_layernorm.cc, cpu_attention.cc, cpu_mha.cc, cpu_elementwise.cc,
// cpu_embedding.cc, cpu_cross_entropy.cc, cpu_optimizer.cc.
#pragma once

#include <vector>

#include "backend/backend.h"

namespace cohort {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  MemorySpace& memory() override { return host_memory(); }

  COHORT_BACKEND_OPS_OVERRIDE

 private:
  std::vector<double> block_sums_;  // sum_squares partials; grows once, reused
};

}  // namespace cohort
