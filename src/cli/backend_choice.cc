#include "cli/backend_choice.h"

#include <fmt/format.h>

#include <cstdlib>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "dist/rank_agreement.h"
#ifdef COHORT_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#ifdef COHORT_HAVE_NCCL
#include "dist/nccl_communicator.h"
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

std::unique_ptr<Backend> make_backend(const std::string& backend, const std::string& precision) {
  if (backend == "cpu") return std::make_unique<CpuBackend>();
#ifdef COHORT_HAVE_CUDA
  return std::make_unique<CudaBackend>(
      parse_matmul_precision(resolve_precision(backend, precision)),
      local_gpu_for_rank(cuda::device_count()));
#else
  throw Error(
      "backend cuda: this cohort was built without the CUDA backend (nvcc was not found when it "
      "was configured; see docs/gpu.md)");
#endif
}

void add_backend_flags(CLI::App* cmd, BackendFlags& flags) {
  cmd->add_option("--backend", flags.backend, "cpu | cuda (one GPU)")->capture_default_str();
  cmd->add_option("--precision", flags.precision,
                  "auto | fp32 | bf16 | fp16: the CUDA matmuls; auto is bf16 on cuda")
      ->capture_default_str();
}

void check_backend_flags(const BackendFlags& flags) {
  validate_backend_choice(flags.backend, flags.precision, "options", "--backend", "--precision");
}

std::unique_ptr<Backend> make_backend(const BackendFlags& flags) {
  check_backend_flags(flags);
  return make_backend(flags.backend, flags.precision);
}

void check_backend_supports(const TrainConfig& train, const StrategyConfig& dist) {
  if (train.backend != "cuda") return;
  auto refuse = [](const std::string& what) {
    throw Error(
        fmt::format("train.backend = cuda does not run {} yet (docs/gpu.md); use "
                    "train.backend = cpu",
                    what));
  };
  if (dist.name == "ps") refuse("the parameter server");
  if (dist.wire != "fp32") refuse("dist.wire = bf16");
}

std::unique_ptr<Communicator> make_gradient_communicator(const TrainConfig& train,
                                                         Communicator& world) {
  if (train.backend != "cuda" || world.world() == 1) return nullptr;
#ifdef COHORT_HAVE_NCCL
  check_devices_distinct(world, cuda::device_identity());
  return std::make_unique<NcclCommunicator>(world);
#else
  throw Error(fmt::format(
      "train.backend = cuda with {} ranks needs NCCL, which this cohort was built without",
      world.world()));
#endif
}

}  // namespace cohort
