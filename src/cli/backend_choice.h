// The backend a run asked for (train.backend, train.precision), or a one-line
// cohort::Error saying why it cannot have it here.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "dist/strategy.h"
#include "train/train_config.h"

namespace cohort {

// cuda: this rank's GPU is its local rank modulo the GPUs present.
std::unique_ptr<Backend> make_backend(const TrainConfig& train);

// What the CUDA backend does not run yet, refused before any work starts: the parameter
// server, bf16 on the wire. No-op for the CPU.
void check_backend_supports(const TrainConfig& train, const StrategyConfig& dist);

// The communicator the strategy exchanges gradients and parameters over: NCCL between
// the ranks' GPUs for cuda with several ranks (host-side calls still go over `world`),
// else null: use `world` itself.
std::unique_ptr<Communicator> make_gradient_communicator(const TrainConfig& train,
                                                         Communicator& world);

}  // namespace cohort
