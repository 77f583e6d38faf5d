// ShardedLoader: windows, per-epoch shuffles, disjoint rank slices, world-size
// invariance of the global batch, exact restore.
#include "data/sharded_loader.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "core/error.h"

namespace cohort {
namespace {

std::vector<int32_t> counting(int n) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), 0);
  return t;
}

// First token of each sample of a step's (micro-)batches, in rank order.
std::vector<int32_t> step_starts(ShardedLoader& l, long step, int B, int T, int accum) {
  std::vector<int32_t> in(size_t(B) * T), tg(size_t(B) * T), starts;
  for (int m = 0; m < accum; ++m) {
    l.fill(step, m, B, T, in.data(), tg.data());
    for (int b = 0; b < B; ++b) {
      for (int t = 0; t < T; ++t) {
        EXPECT_EQ(tg[b * T + t], in[b * T + t] + 1) << "targets are inputs shifted by one";
      }
      EXPECT_EQ(in[b * T] % T, 0) << "windows start at multiples of T";
      starts.push_back(in[b * T]);
    }
  }
  return starts;
}

TEST(ShardedLoader, EachEpochVisitsEveryWindowOnceInADifferentOrder) {
  const int T = 4;
  ShardedLoader l(counting(41), 100, T, 2, 1, 7);  // (41 - 1) / 4 = 10 windows
  ASSERT_EQ(l.windows(), 10);
  std::vector<int32_t> epoch0, epoch1;
  for (long s = 0; s < 5; ++s)
    for (int v : step_starts(l, s, 2, T, 1)) epoch0.push_back(v);
  for (long s = 5; s < 10; ++s)
    for (int v : step_starts(l, s, 2, T, 1)) epoch1.push_back(v);
  EXPECT_EQ(std::set<int32_t>(epoch0.begin(), epoch0.end()).size(), 10u);
  EXPECT_EQ(std::set<int32_t>(epoch1.begin(), epoch1.end()).size(), 10u);
  EXPECT_NE(epoch0, epoch1);
  ShardedLoader again(counting(41), 100, T, 2, 1, 7);
  EXPECT_EQ(step_starts(again, 3, 2, T, 1),
            std::vector<int32_t>(epoch0.begin() + 6, epoch0.begin() + 8));
  ShardedLoader other_seed(counting(41), 100, T, 2, 1, 8);
  std::vector<int32_t> o;
  for (long s = 0; s < 5; ++s)
    for (int v : step_starts(other_seed, s, 2, T, 1)) o.push_back(v);
  EXPECT_NE(o, epoch0);
}

TEST(ShardedLoader, RanksReadDisjointContiguousPartsOfTheSameGlobalBatch) {
  const int T = 8, B = 3, accum = 2, world = 4;
  const auto tokens = counting(8 * 1000 + 1);
  ShardedLoader solo(tokens, 10000, T, B * world, accum, 3);  // one rank, 4x the batch
  for (long step : {0L, 5L, 40L}) {
    // One rank with B*world per micro-batch and `world` ranks with B each cover the same
    // global samples; the rank-major order is r * B * accum + micro * B + i.
    std::vector<int32_t> ranks_concat;
    for (int r = 0; r < world; ++r) {
      ShardedLoader l(tokens, 10000, T, B, accum, 3, r, world);
      const auto part = step_starts(l, step, B, T, accum);
      ranks_concat.insert(ranks_concat.end(), part.begin(), part.end());
    }
    std::multiset<int32_t> a(ranks_concat.begin(), ranks_concat.end());
    const auto s = step_starts(solo, step, B * world, T, accum);
    EXPECT_EQ(a, std::multiset<int32_t>(s.begin(), s.end())) << "step " << step;
    EXPECT_EQ(a.size(), std::set<int32_t>(ranks_concat.begin(), ranks_concat.end()).size());
  }
}

TEST(ShardedLoader, RestoreContinuesExactlyAfterABatchSizeChange) {
  const int T = 4;
  const auto tokens = counting(4 * 500 + 1);
  ShardedLoader a(tokens, 5000, T, 6, 1, 11);
  const LoaderPosition p = a.position(10);
  EXPECT_EQ(p.sample, 60u);
  // A run resumed at step 10 with B=3 reads global samples 60, 61, 62 next.
  ShardedLoader b(tokens, 5000, T, 3, 1, 11);
  b.restore(p);
  const auto next_b = step_starts(b, 10, 3, T, 1);
  const auto next_a = step_starts(a, 10, 6, T, 1);
  EXPECT_EQ(next_b, std::vector<int32_t>(next_a.begin(), next_a.begin() + 3));
  EXPECT_EQ(b.position(12).sample, 66u);
}

TEST(ShardedLoader, RejectsASplitShorterThanOneSequence) {
  EXPECT_THROW(ShardedLoader(counting(8), 10, 8, 1, 1, 1), Error);
  EXPECT_NO_THROW(ShardedLoader(counting(9), 10, 8, 1, 1, 1));
}

}  // namespace
}  // namespace cohort
