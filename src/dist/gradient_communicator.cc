#include "dist/gradient_communicator.h"

#include <fmt/format.h>

#include "core/error.h"
#ifdef COHORT_HAVE_NCCL
#include "backend/cuda/cuda_backend.h"
#include "dist/nccl_communicator.h"
#include "dist/rank_agreement.h"
#endif

namespace cohort {

std::unique_ptr<Communicator> make_gradient_communicator(const std::string& backend,
                                                         Communicator& world) {
  if (backend != "cuda" || world.world() == 1) return nullptr;
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
