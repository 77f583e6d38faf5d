#include "model/recompute.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

Recompute parse_recompute(const std::string& name, const std::string& where) {
  if (name == "none") return Recompute::none;
  if (name == "attention") return Recompute::attention;
  if (name == "block") return Recompute::block;
  throw Error(
      fmt::format("{}: train.recompute must be none, attention or block, got '{}'", where, name));
}

const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::attention:
      return "attention";
    case Recompute::block:
      return "block";
    default:
      return "none";
  }
}

}  // namespace cohort
