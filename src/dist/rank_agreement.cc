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

void check_devices_distinct(Communicator& comm, const std::string& device) {
  if (comm.world() == 1) return;
  const auto all = comm.all_gather_strings(device);
  for (size_t r = 1; r < all.size(); ++r) {
    for (size_t first = 0; first < r; ++first) {
      if (all[first] != all[r]) continue;
      throw CollectiveError(fmt::format(
          "ranks {} and {} both use GPU {}: NCCL needs a GPU of its own for each rank; start "
          "at most as many ranks on a host as it has GPUs (nvidia-smi -L lists them)",
          first, r, all[r]));
    }
  }
}

void check_replicas_identical(Communicator& comm, const float* params, size_t n,
                              MemorySpace& space) {
  if (comm.world() == 1) return;
  std::vector<float> scratch;
  params = host_readable(space, params, n, scratch);
  const auto all = comm.all_gather_strings(fnv1a64_hex(params, n * sizeof(float)));
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) {
      throw CollectiveError(
          fmt::format("rank {}: parameters differ from rank 0's: the replicas diverged", r),
          kExitInternal);
    }
  }
}

void raise_if_any_failed(Communicator& comm, const std::string& error, int exit_code) {
  const std::string mine = error.empty() ? "" : fmt::format("{} {}", exit_code, error);
  const std::vector<std::string> all = comm.all_gather_strings(mine);
  int first = -1;
  bool alike = true;
  for (int r = 0; r < int(all.size()); ++r) {
    if (all[size_t(r)].empty() || (first >= 0 && all[size_t(r)] != all[size_t(first)])) {
      alike = false;
    }
    if (first < 0 && !all[size_t(r)].empty()) first = r;
  }
  if (first < 0) return;
  const std::string& theirs = all[size_t(first)];
  const size_t space = theirs.find(' ');
  const int code = std::stoi(theirs.substr(0, space));
  const std::string message = theirs.substr(space + 1);
  throw CollectiveError(alike ? message : fmt::format("rank {}: {}", first, message), code);
}

}  // namespace cohort
