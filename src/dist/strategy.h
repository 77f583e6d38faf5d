// Data-parallel strategies: what happens to gradients and parameters between one
// step's backward and the next step's forward (design.md, "One training step").
//   AllReduceStrategy  every rank keeps everything; gradients are all-reduced in
//                      buckets that start while backward is still running (PyTorch DDP).
//   ZeroStrategy       ZeRO stage 1: gradients reduce-scattered, each rank updates its
//                      contiguous shard with its own optimizer state, parameters
//                      all-gathered.
// Both average gradients over ranks, so N ranks x batch B/N follow 1 rank x batch B.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "model/gpt.h"
#include "optim/optimizer.h"

namespace cohort {

struct StrategyConfig {
  std::string name = "allreduce";  // allreduce | zero1
  float bucket_mb = 25.0f;         // all-reduce bucket size (PyTorch DDP's default)
  std::string wire = "fp32";       // allreduce: gradients on the wire as fp32 | bf16
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string describe() const = 0;
  // The hook to pass to the last micro-batch's backward (empty: none).
  virtual Gpt::GradReadyFn grad_ready_hook() { return {}; }
  // After the last backward: the gradients this rank's optimizer reads become the mean
  // over all ranks.
  virtual void finish_gradients() = 0;
  // Clips by the global norm of the mean gradient; returns the norm before clipping.
  virtual float clip_gradients(float max_norm) = 0;
  // Updates the parameters; afterwards every rank holds the same parameters.
  virtual void optimizer_step(float lr) = 0;
  virtual Optimizer& optimizer() = 0;
};

// Throws cohort::Error for an unknown name.
std::unique_ptr<Strategy> make_strategy(const StrategyConfig& config, Communicator& comm,
                                        Gpt& model, const OptimizerConfig& optim);

}  // namespace cohort
