#include "dist/ps_roles.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace cohort {

PsRoles ps_roles(int servers, int world) {
  if (servers < 1) {
    throw CollectiveError(
        fmt::format("dist.ps_servers is {}: a parameter server needs at least 1 server", servers),
        kExitBadInput);
  }
  if (servers >= world) {
    throw CollectiveError(
        fmt::format("--ps-servers {} with {} rank{} leaves no workers: start more ranks "
                    "(mpirun -np {} or more) or use fewer servers",
                    servers, world, world == 1 ? "" : "s", servers + 1),
        kExitBadInput);
  }
  return PsRoles{servers, world - servers};
}

std::vector<FlatRange> ps_shard_ranges(const ParameterLayout& layout, int servers) {
  const auto& tensors = layout.tensors();
  const size_t n = tensors.size();
  if (size_t(servers) > n) {
    throw CollectiveError(fmt::format("--ps-servers {}: the model has only {} parameter tensors "
                                      "and a server owns whole tensors",
                                      servers, n),
                          kExitBadInput);
  }
  // Cut k goes at the tensor boundary nearest k/S of the bytes, leaving every server at
  // least one tensor. Boundary i is the offset where tensor i starts (i = n: the end).
  auto boundary = [&](size_t i) { return i == n ? layout.total() : tensors[i].offset; };
  std::vector<FlatRange> ranges;
  size_t first = 0;  // the first tensor of the range being built
  for (int k = 1; k <= servers; ++k) {
    size_t cut = n;
    if (k < servers) {
      const double target = double(layout.total()) * k / servers;
      const size_t lo = first + 1, hi = n - size_t(servers - k);  // allowed cut indices
      cut = lo;
      for (size_t i = lo; i <= hi; ++i) {
        if (std::fabs(double(boundary(i)) - target) < std::fabs(double(boundary(cut)) - target))
          cut = i;
      }
    }
    ranges.emplace_back(boundary(first), boundary(cut));
    first = cut;
  }
  return ranges;
}

}  // namespace cohort
