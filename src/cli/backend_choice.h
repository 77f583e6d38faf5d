// The backend a run asked for (train.backend, train.precision), or a one-line
// cohort::Error saying why it cannot have it here.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "dist/strategy.h"
#include "train/train_config.h"

namespace cohort {

// cuda: this rank's GPU is its local rank modulo the GPUs present. The choice must have
// passed validate_backend_choice.
std::unique_ptr<Backend> make_backend(const std::string& backend, const std::string& precision);
inline std::unique_ptr<Backend> make_backend(const TrainConfig& train) {
  return make_backend(train.backend, train.precision);
}

// --backend and --precision of the commands that only run a model (eval, generate,
// translate).
struct BackendFlags {
  std::string backend = "cpu", precision = "auto";
};
void add_backend_flags(CLI::App* cmd, BackendFlags& flags);
// One cohort::Error naming the flag for a value outside the choices (commands call it
// first, before any file is read).
void check_backend_flags(const BackendFlags& flags);
// Checks the flags, then makes the backend.
std::unique_ptr<Backend> make_backend(const BackendFlags& flags);

// What the CUDA backend does not run yet, refused before any work starts: the parameter
// server, bf16 on the wire. No-op for the CPU.
void check_backend_supports(const TrainConfig& train, const StrategyConfig& dist);

// The communicator the strategy exchanges gradients and parameters over: NCCL between
// the ranks' GPUs for cuda with several ranks (host-side calls still go over `world`),
// else null: use `world` itself.
std::unique_ptr<Communicator> make_gradient_communicator(const TrainConfig& train,
                                                         Communicator& world);

}  // namespace cohort
