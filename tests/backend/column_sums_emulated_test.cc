// The bias gradient's column sums (src/backend/cuda/cuda_column_sums.cuh) on the CPU
// through the warp emulator: each column's sum over the row groups, added in group order,
// within fp32 rounding of the exact sum (1e-6 of the sum of its terms' magnitudes); the
// 16-bit copy written in the same pass equal to each value rounded once, bit for bit.
// Widths with whole 16-byte rows and without (C % 4 != 0: the scalar route), several row
// groups, fp32 and 16-bit input (eight values a lane, 16-byte loads). Then add_group_sums
// (cuda_reduce.cuh), bit for bit against a host sum in its order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_column_sums.cuh"
#include "backend/cuda/cuda_reduce.cuh"
#include "bit_pattern.h"

namespace cohort {
namespace {

namespace emu = ::cohort::warp_emulator;
namespace cs = cuda::column_sums;

using testing::bits;

// Sums of the (N x C) values x (float, or the 16-bit E) through the kernel; with a copy
// (R = E) also checks the rounded values.
template <typename T, typename R>
void check(int N, int C) {
  SCOPED_TRACE("N " + std::to_string(N) + ", C " + std::to_string(C));
  std::mt19937 rng(N * 1000 + C);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<T> x(size_t(N) * C);
  for (auto& v : x) v = T(d(rng));
  constexpr int kPer = cs::kPerLane<T, R>;
  const cs::Split split(N, C, kPer);
  std::vector<float> partial(size_t(split.groups) * C, NAN);
  constexpr bool kCopy = !std::is_void_v<R>;
  std::vector<std::conditional_t<kCopy, R, float>> copy(kCopy ? x.size() : 0);
  R* copy_at = nullptr;
  if constexpr (kCopy) copy_at = copy.data();
  const bool vector = C % kPer == 0;  // std::vector's storage is 16-byte aligned
  emu::launch(cs::sums<T, R>, split.grid(C), cs::Split::block(), 0, partial.data(), x.data(),
              copy_at, N, C, split.rows, vector);
  for (int c = 0; c < C; ++c) {
    float got = 0.0f;
    for (int g = 0; g < split.groups; ++g) got += partial[size_t(g) * C + c];
    double want = 0, magnitude = 0;
    for (int n = 0; n < N; ++n) {
      want += double(float(x[size_t(n) * C + c]));
      magnitude += std::abs(double(float(x[size_t(n) * C + c])));
    }
    ASSERT_NEAR(got, want, 1e-6 * magnitude) << "column " << c;
  }
  if constexpr (kCopy) {
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(bits(copy[i]), bits(R(float(x[i])))) << "16-bit copy, element " << i;
  }
}

TEST(ColumnSumsEmulated, Fp32WithBf16Copy) {
  check<float, __nv_bfloat16>(300, 256);  // two column blocks, five row groups
  check<float, __nv_bfloat16>(70, 130);   // a partial column block, scalar loads
}
TEST(ColumnSumsEmulated, Fp32WithFp16Copy) { check<float, __half>(129, 384); }
TEST(ColumnSumsEmulated, Fp32Only) { check<float, void>(200, 132); }
TEST(ColumnSumsEmulated, SixteenBitInput) {
  check<__nv_bfloat16, void>(150, 256);  // eight values a lane: one column block
  check<__nv_bfloat16, void>(90, 264);   // and a second with one lane's eight
  check<__half, void>(300, 776);         // four column blocks, several row groups
  check<__half, void>(90, 66);           // scalar loads
}

// add_group_sums: out[c] += the groups' sums in runs of ceil(groups / kGroupChunks)
// consecutive groups, each run in order, then the runs in order; bit for bit.
TEST(GroupSumsEmulated, RunsOfGroupsInAFixedOrder) {
  for (const int groups : {1, 5, 8, 9, 23, 264}) {
    const int C = 70;  // two full column tiles and a partial one
    SCOPED_TRACE("groups " + std::to_string(groups));
    std::mt19937 rng(groups);
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> partial(size_t(groups) * C), out(C), want(C);
    for (auto& v : partial) v = d(rng);
    for (int c = 0; c < C; ++c) out[c] = want[c] = d(rng);
    emu::launch(cuda::add_group_sums<float>, cuda::group_sums_grid(C), cuda::group_sums_block(), 0,
                out.data(), static_cast<const float*>(partial.data()), groups, C);
    const int per_run = (groups + cuda::kGroupChunks - 1) / cuda::kGroupChunks;
    for (int c = 0; c < C; ++c) {
      float total = 0.0f;
      for (int first = 0; first < groups; first += per_run) {
        float run = partial[size_t(first) * C + c];
        for (int g = first + 1; g < std::min(groups, first + per_run); ++g)
          run += partial[size_t(g) * C + c];
        total = first == 0 ? run : total + run;
      }
      ASSERT_EQ(bits(out[c]), bits(want[c] + total)) << "column " << c;
    }
  }
}

}  // namespace
}  // namespace cohort
