#include "dist/rank_agreement.h"

#include <fmt/format.h>

#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/fnv.h"

namespace cohort {

namespace {

std::string layout_text(const ParameterLayout& layout) {
  std::string s;
  for (const auto& t : layout.tensors()) {
    s += t.name;
    for (auto d : t.shape) s += fmt::format(" {}", d);
    s += '\n';
  }
  return s;
}

// The first line (with its TOML section) where b differs from a.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb, section;
  while (true) {
    const bool ga = bool(std::getline(sa, la)), gb = bool(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga) la = "(nothing)";
    if (!gb) lb = "(nothing)";
    if (la != lb) {
      return fmt::format("{}'{}' (rank 0: '{}')", section.empty() ? "" : section + " ", lb, la);
    }
    if (la.starts_with("[")) section = la;
  }
}

}  // namespace

void check_ranks_agree(Communicator& comm, const std::string& config, const ParameterLayout& layout,
                       const std::string& data) {
  if (comm.world() == 1) return;
  const std::string layout_desc = layout_text(layout);
  const std::pair<const char*, const std::string*> fields[] = {
      {"config", &config}, {"parameter layout", &layout_desc}, {"data", &data}};
  for (const auto& [field, mine] : fields) {
    const auto all = comm.all_gather_strings(*mine);
    for (size_t r = 1; r < all.size(); ++r) {
      if (all[r] != all[0]) {
        throw CollectiveError(fmt::format("rank {}: {} differs from rank 0's: {}", r, field,
                                          first_difference(all[0], all[r])));
      }
    }
  }
}

void check_replicas_identical(Communicator& comm, const float* params, size_t n) {
  if (comm.world() == 1) return;
  const auto all = comm.all_gather_strings(fnv1a64_hex(params, n * sizeof(float)));
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) {
      throw CollectiveError(
          fmt::format("rank {}: parameters differ from rank 0's: the replicas diverged", r),
          kExitInternal);
    }
  }
}

}  // namespace cohort
