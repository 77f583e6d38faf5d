// The backend a run asked for (train.backend, train.precision), or a one-line
// cohort::Error saying why it cannot have it here.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "dist/strategy.h"
#include "train/train_config.h"

namespace cohort {

std::unique_ptr<Backend> make_backend(const TrainConfig& train);

// What the CUDA backend does not run yet, refused before any work starts: the encoder
// and encoder-decoder tasks, several ranks (no NcclCommunicator yet), the parameter
// server, bf16 on the wire. No-op for the CPU.
void check_backend_supports(const TrainConfig& train, const StrategyConfig& dist, int world);

}  // namespace cohort
