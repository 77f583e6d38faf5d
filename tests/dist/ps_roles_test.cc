// Parameter-server roles and shard ranges (dist/ps_roles.h), without MPI.
#include "dist/ps_roles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "model/model_layout.h"

namespace cohort {
namespace {

ModelConfig small_model() {
  ModelConfig m;
  m.vocab_size = 1000;
  m.context_length = 64;
  m.n_layer = 3;
  m.n_head = 4;
  m.n_embd = 64;
  return m;
}

TEST(PsRoles, WorkersFirstServersLast) {
  const PsRoles r = ps_roles(2, 5);
  EXPECT_EQ(r.workers, 3);
  EXPECT_FALSE(r.is_server(0));
  EXPECT_FALSE(r.is_server(2));
  EXPECT_TRUE(r.is_server(3));
  EXPECT_EQ(r.server_rank(1), 4);
  EXPECT_EQ(r.server_index(4), 1);
}

TEST(PsRoles, RefusesNoWorkersAndNoServers) {
  EXPECT_THROW(ps_roles(2, 2), CollectiveError);
  EXPECT_THROW(ps_roles(3, 2), CollectiveError);
  EXPECT_THROW(ps_roles(0, 4), CollectiveError);
  try {
    ps_roles(3, 3);
    FAIL() << "ps_roles(3, 3) accepted a world with no workers";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    EXPECT_NE(std::string(e.what()).find("leaves no workers"), std::string::npos) << e.what();
  }
}

TEST(PsShardRanges, ContiguousWholeTensorsBalancedByBytes) {
  const ParameterLayout layout = model_layout(small_model());
  std::set<size_t> starts;
  for (const auto& t : layout.tensors()) starts.insert(t.offset);
  starts.insert(layout.total());
  for (int servers = 1; servers <= 6; ++servers) {
    const auto ranges = ps_shard_ranges(layout, servers);
    ASSERT_EQ(ranges.size(), size_t(servers));
    EXPECT_EQ(ranges.front().first, 0u);
    EXPECT_EQ(ranges.back().second, layout.total());
    size_t largest_tensor = 0, largest_range = 0;
    for (const auto& t : layout.tensors()) largest_tensor = std::max(largest_tensor, t.numel);
    for (size_t k = 0; k < ranges.size(); ++k) {
      EXPECT_LT(ranges[k].first, ranges[k].second) << "server " << k << " owns nothing";
      EXPECT_TRUE(starts.count(ranges[k].first)) << "cut inside a tensor";
      if (k > 0) {
        EXPECT_EQ(ranges[k].first, ranges[k - 1].second);
      }
      largest_range = std::max(largest_range, ranges[k].second - ranges[k].first);
    }
    // Each cut sits at the boundary nearest its share, so no server holds more than
    // its share plus a tensor on each side.
    EXPECT_LE(largest_range, layout.total() / size_t(servers) + 2 * largest_tensor)
        << servers << " servers";
  }
}

TEST(PsShardRanges, EveryTensorItsOwnServer) {
  const ParameterLayout layout = model_layout(small_model());
  const int n = int(layout.tensors().size());
  const auto ranges = ps_shard_ranges(layout, n);
  for (int k = 0; k < n; ++k) {
    EXPECT_EQ(ranges[size_t(k)].first, layout.tensors()[size_t(k)].offset);
  }
  EXPECT_THROW(ps_shard_ranges(layout, n + 1), CollectiveError);
}

}  // namespace
}  // namespace cohort
