// core: Philox against the Random123 known-answer vector, normal draws, checks.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/philox.h"

namespace cohort {
namespace {

TEST(Philox, KnownAnswer) {
  // Random123's kat_vectors, philox4x32 with 10 rounds, counter and key all zero.
  const PhiloxCounter r = philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
}

TEST(Philox, NormalHasUnitMoments) {
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = philox_normal(5, i);
    s += x;
    s2 += x * x;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.01);
}

TEST(Check, ThrowsInternalErrorWithContext) {
  try {
    COHORT_CHECK(1 + 1 == 3) << "arithmetic " << 42;
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInternal);
    EXPECT_NE(std::string(e.what()).find("arithmetic 42"), std::string::npos);
  }
}

}  // namespace
}  // namespace cohort
