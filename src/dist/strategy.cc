#include "dist/strategy.h"

#include <fmt/format.h>

#include "core/error.h"
#include "dist/allreduce_strategy.h"
#include "dist/zero_strategy.h"

namespace cohort {

std::unique_ptr<Strategy> make_strategy(const StrategyConfig& config, Communicator& comm,
                                        Gpt& model, const OptimizerConfig& optim) {
  if (!(config.bucket_mb > 0)) throw Error("dist.bucket_mb must be positive");
  if (config.wire != "fp32" && config.wire != "bf16") {
    throw Error(fmt::format("dist.wire: '{}' (expected fp32 or bf16)", config.wire));
  }
  if (config.wire == "bf16" && config.name != "allreduce") {
    throw Error("dist.wire = \"bf16\" needs dist.strategy = \"allreduce\"");
  }
  if (config.name == "allreduce")
    return std::make_unique<AllReduceStrategy>(config, comm, model, optim);
  if (config.name == "zero1") return std::make_unique<ZeroStrategy>(comm, model, optim);
  throw Error(
      fmt::format("--strategy: unknown strategy '{}' (expected allreduce or zero1)", config.name));
}

}  // namespace cohort
