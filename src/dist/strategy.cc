#include "dist/strategy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "dist/allreduce_strategy.h"
#include "dist/ps_worker_strategy.h"
#include "dist/zero_strategy.h"
#include "optim/grad_clip.h"

namespace cohort {

void CollectiveStrategy::start(long) {
  comm_.broadcast(model_.params(), model_.num_params() * sizeof(float), 0);
}

UpdateResult CollectiveStrategy::update(long, float max_norm, float lr, bool skip,
                                        float grad_divisor) {
  finish_gradients(grad_divisor);
  UpdateResult r;
  r.grad_norm = gradient_norm();
  r.applied = !skip && std::isfinite(r.grad_norm);
  if (r.applied) optimizer_step(lr, clip_scale(r.grad_norm, max_norm));
  return r;
}

void validate_strategy_config(const StrategyConfig& c, const std::string& where) {
  if (c.name != "allreduce" && c.name != "zero1" && c.name != "zero2" && c.name != "fsdp" &&
      c.name != "ps") {
    throw Error(fmt::format(
        "{}: dist.strategy: unknown strategy '{}' (expected allreduce, zero1, zero2, fsdp or ps)",
        where, c.name));
  }
  if (c.wire != "fp32" && c.wire != "bf16") {
    throw Error(fmt::format("{}: dist.wire: '{}' (expected fp32 or bf16)", where, c.wire));
  }
  if (c.wire == "bf16" && c.name != "allreduce") {
    throw Error(fmt::format("{}: dist.wire = \"bf16\" needs dist.strategy = \"allreduce\"", where));
  }
  if (!(c.bucket_mb > 0.0f)) {
    throw Error(fmt::format("{}: dist.bucket_mb must be positive, got {}", where, c.bucket_mb));
  }
  if (c.name == "ps" && c.ps_servers < 1) {
    throw Error(fmt::format(
        "{}: dist.strategy = \"ps\" needs dist.ps_servers >= 1 (--ps-servers S), got {}", where,
        c.ps_servers));
  }
  if (c.name != "ps" && c.ps_servers != 0) {
    throw Error(
        fmt::format("{}: dist.ps_servers = {} needs dist.strategy = \"ps\"", where, c.ps_servers));
  }
  if (c.staleness < 0) {
    throw Error(fmt::format("{}: dist.staleness must be >= 0, got {}", where, c.staleness));
  }
  if (!(c.comm_timeout >= 0.0f)) {
    throw Error(
        fmt::format("{}: dist.comm_timeout must be >= 0 seconds, got {}", where, c.comm_timeout));
  }
  if (c.staleness > 0 && c.name != "ps") {
    throw Error(fmt::format("{}: dist.staleness needs dist.strategy = \"ps\"", where));
  }
}

std::unique_ptr<Strategy> make_strategy(const StrategyConfig& config, Communicator& comm,
                                        ParameterBuffers& model, const OptimizerConfig& optim) {
  validate_strategy_config(config, "config");
  if (config.name == "allreduce")
    return std::make_unique<AllReduceStrategy>(config, comm, model, optim);
  if (config.name == "zero1" || config.name == "zero2" || config.name == "fsdp")
    return std::make_unique<ZeroStrategy>(config, comm, model, optim, zero_stage(config.name));
  return std::make_unique<PsWorkerStrategy>(config, comm, model);
}

int zero_stage(const std::string& strategy) {
  if (strategy == "zero1") return 1;
  if (strategy == "zero2") return 2;
  if (strategy == "fsdp") return 3;
  return 0;
}

std::vector<GradientBucket> gradient_buckets(const ParameterBuffers& model, float bucket_mb) {
  const size_t bucket_floats = size_t(bucket_mb * (1 << 20) / sizeof(float));
  const auto& units = model.grad_ready_ranges();
  std::vector<GradientBucket> buckets;
  GradientBucket open{0, 0, 0};
  bool empty = true;
  for (size_t u = 0; u < units.size(); ++u) {
    // Units arrive top-down, i.e. from the end of the buffer towards its start.
    if (empty) {
      open = {units[u].first, units[u].second, u};
      empty = false;
    } else {
      COHORT_CHECK(units[u].second == open.begin || units[u].first == open.end)
          << "backward units must be adjacent in the flat buffer";
      open = {std::min(open.begin, units[u].first), std::max(open.end, units[u].second), u};
    }
    if ((open.end - open.begin) >= bucket_floats || u + 1 == units.size()) {
      buckets.push_back(open);
      empty = true;
    }
  }
  return buckets;
}

}  // namespace cohort
