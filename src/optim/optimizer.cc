#include "optim/optimizer.h"

#include <fmt/format.h>

#include "core/error.h"
#include "optim/adamw.h"
#include "optim/sgd.h"

namespace cohort {

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          const ParameterLayout& layout, Backend& backend,
                                          size_t begin, size_t end) {
  if (config.name == "adamw") return std::make_unique<AdamW>(config, layout, backend, begin, end);
  if (config.name == "sgd") return std::make_unique<Sgd>(config, backend, begin, end);
  throw Error(
      fmt::format("optim.name: unknown optimizer '{}' (expected adamw or sgd)", config.name));
}

}  // namespace cohort
