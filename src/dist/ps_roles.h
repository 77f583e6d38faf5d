// Who does what in a parameter-server run. Ranks [0, W) are workers and ranks
// [W, W + S) are servers, so rank 0, which prints, logs and writes checkpoints, is
// always a worker and a worker's rank is also its index among the workers. Server k
// owns ranges[k] of the flat parameter buffer: whole tensors, contiguous, balanced by
// bytes, with that range's optimizer state.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "core/parameter_layout.h"

namespace cohort {

using FlatRange = std::pair<size_t, size_t>;  // [begin, end) of the flat buffer

struct PsRoles {
  int servers = 0;
  int workers = 0;
  bool is_server(int rank) const { return rank >= workers; }
  int server_rank(int k) const { return workers + k; }
  int server_index(int rank) const { return rank - workers; }
};

// Throws cohort::CollectiveError (every rank reaches the same verdict) unless
// 1 <= servers < world.
PsRoles ps_roles(int servers, int world);

// One range per server; throws cohort::CollectiveError if there are more servers than
// tensors.
std::vector<FlatRange> ps_shard_ranges(const ParameterLayout& layout, int servers);

}  // namespace cohort
