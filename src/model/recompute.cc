#include "model/recompute.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

Recompute parse_recompute(const std::string& name, const std::string& where) {
  if (name == "none") return Recompute::none;
  if (name == "block") return Recompute::block;
  throw Error(fmt::format("{}: train.recompute must be none or block, got '{}'", where, name));
}

const char* recompute_name(Recompute r) { return r == Recompute::block ? "block" : "none"; }

}  // namespace cohort
