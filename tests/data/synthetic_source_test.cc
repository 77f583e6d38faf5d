// SyntheticSource: a pure function of (seed, step, micro-batch), targets shifted by one,
// successors drawn from the fixed table.
#include "data/synthetic_source.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace cohort {
namespace {

TEST(SyntheticSource, DeterministicShiftedAndInTable) {
  SyntheticSource s(50, 2, 9);
  const int B = 3, T = 10;
  std::vector<int32_t> x(B * T), y(B * T), x2(B * T), y2(B * T);
  s.fill(4, 1, B, T, x.data(), y.data());
  s.fill(4, 1, B, T, x2.data(), y2.data());
  EXPECT_EQ(x, x2);
  EXPECT_EQ(y, y2);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t + 1 < T; ++t) EXPECT_EQ(y[b * T + t], x[b * T + t + 1]);
  for (int v : x) EXPECT_TRUE(v >= 0 && v < 50);
  // Micro-batch 1 of size 3 holds global samples 3..5: the same as samples 3..5 of one
  // batch of 6.
  std::vector<int32_t> big(6 * T), bigy(6 * T);
  s.fill(4, 0, 6, T, big.data(), bigy.data());
  EXPECT_TRUE(std::equal(x.begin(), x.end(), big.begin() + 3 * T));
  s.fill(5, 1, B, T, x2.data(), y2.data());
  EXPECT_NE(x, x2);
  EXPECT_THROW(SyntheticSource(1, 2, 0), Error);
}

}  // namespace
}  // namespace cohort
