#include "backend/make_backend.h"

#include <fmt/format.h>

#include <cstdlib>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#ifdef COHORT_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace cohort {

namespace {
// The GPU this rank uses: OpenMPI's local rank modulo the GPUs present (0 outside
// mpirun), so N ranks on a machine with N GPUs take one each.
[[maybe_unused]] int local_gpu_for_rank(int gpus) {
  if (gpus <= 0) return 0;
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  return local ? std::atoi(local) % gpus : 0;
}
}  // namespace

void validate_backend_choice(const std::string& backend, const std::string& precision,
                             const std::string& where, const char* backend_field,
                             const char* precision_field) {
  if (backend != "cpu" && backend != "cuda")
    throw Error(fmt::format("{}: {} '{}': expected cpu or cuda", where, backend_field, backend));
  if (precision != "auto" && precision != "fp32" && precision != "bf16" && precision != "fp16") {
    throw Error(fmt::format("{}: {} '{}': expected auto, fp32, bf16 or fp16", where,
                            precision_field, precision));
  }
  if (backend == "cpu" && resolve_precision(backend, precision) != "fp32") {
    throw Error(fmt::format("{}: {} = {} needs {} = cuda (the CPU backend computes in fp32)", where,
                            precision_field, precision, backend_field));
  }
}

std::unique_ptr<Backend> make_backend(const std::string& backend, const std::string& precision) {
  if (backend == "cpu") return std::make_unique<CpuBackend>();
#ifdef COHORT_HAVE_CUDA
  return std::make_unique<CudaBackend>(
      parse_matmul_precision(resolve_precision(backend, precision)),
      local_gpu_for_rank(cuda::device_count()));
#else
  (void)precision;
  throw Error(
      "backend cuda: this cohort was built without the CUDA backend (nvcc was not found when it "
      "was configured; see docs/gpu.md)");
#endif
}

}  // namespace cohort
