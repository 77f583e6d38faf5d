// The communicator a strategy exchanges gradients and parameters over: NCCL between the
// ranks' GPUs for the cuda backend with several ranks (host-side calls still go over
// `world`), else null: use `world` itself.
#pragma once

#include <memory>
#include <string>

#include "dist/communicator.h"

namespace cohort {

std::unique_ptr<Communicator> make_gradient_communicator(const std::string& backend,
                                                         Communicator& world);

}  // namespace cohort
