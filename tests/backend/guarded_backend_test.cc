// The guard itself must be able to fail: a host pointer handed to an op is refused with
// the op's name, and host code touching the guarded memory outside an op crashes.
#include "support/guarded_backend.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/arena.h"
#include "core/error.h"

namespace cohort::testing {
namespace {

TEST(GuardedBackend, OpsOnItsOwnMemoryGiveTheCpuResult) {
  GuardedBackend be;
  Arena a(8, be.memory());
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};
  be.memory().copy_from_host(a.data(), x.data(), x.size() * sizeof(float));
  be.scale(a.data(), 2.0f, 8);
  EXPECT_DOUBLE_EQ(be.sum_squares(a.data(), 8), 4.0 * 204.0);
  std::vector<float> back(8);
  be.memory().copy_to_host(back.data(), a.data(), back.size() * sizeof(float));
  EXPECT_EQ(back[7], 16.0f);
}

TEST(GuardedBackend, RefusesAHostPointerNamingTheOp) {
  GuardedBackend be;
  Arena a(8, be.memory());
  std::vector<float> host(8, 1.0f);
  try {
    be.add(a.data(), a.data(), host.data(), 8);
    FAIL() << "a host pointer was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("add argument 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(be.memory().copy_within(a.data(), host.data(), 4), Error);
}

TEST(GuardedBackendDeathTest, HostReadOfItsMemoryCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  GuardedBackend be;
  Arena a(8, be.memory());
  EXPECT_DEATH(
      {
        volatile float v = a.data()[0];
        (void)v;
      },
      "");
}

}  // namespace
}  // namespace cohort::testing
