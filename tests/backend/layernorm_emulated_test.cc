// The LayerNorm kernels (src/backend/cuda/cuda_layernorm.cuh) on the CPU through the warp
// emulator, at a row width for each register layout the launcher picks (8, 16, 24 and 32
// values a lane; over 1024, rows read from memory), against the CPU backend: forward,
// input gradient (accumulated) and parameter gradients. cuda_ops_test checks the same
// widths on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_layernorm.cuh"
#include "bit_pattern.h"

namespace cohort {
namespace {

namespace emu = ::cohort::warp_emulator;
namespace ln = cuda::layernorm;

void* const kNo16 = nullptr;  // no 16-bit copy of the output

using testing::bits;

std::vector<float> random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 + 1e-4 * std::abs(want[i])) << what << " element " << i;
}

// 10 rows: a block of 8 warps, one row each, and a second block with two rows.
void check_width(int C) {
  SCOPED_TRACE("row width " + std::to_string(C));
  const int N = 10;
  std::mt19937 rng{unsigned(C)};
  const auto x = random(size_t(N) * C, rng, 2.0f), w = random(C, rng), b = random(C, rng),
             dy = random(size_t(N) * C, rng);
  CpuBackend cpu;
  std::vector<float> y(x.size()), mean(N), rstd(N), dx(x.size(), 0.5f), dw(C, 0.5f), db(C, 0.5f);
  cpu.layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
  cpu.layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(),
                         mean.data(), rstd.data(), N, C);

  std::vector<float> gy(x.size()), gmean(N), grstd(N), gdx(x.size(), 0.5f);
  const dim3 rows_grid(unsigned((N + 7) / 8)), rows_block(256);
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    emu::launch(ln::ln_forward<K, void>, rows_grid, rows_block, 0, gy.data(), kNo16, gmean.data(),
                grstd.data(), x.data(), w.data(), b.data(), N, C);
    emu::launch(ln::ln_backward_input<K>, rows_grid, rows_block, 0, gdx.data(), dy.data(), x.data(),
                w.data(), gmean.data(), grstd.data(), N, C);
  });
  expect_close(gy, y, "forward");
  expect_close(gmean, mean, "mean");
  expect_close(grstd, rstd, "rstd");
  expect_close(gdx, dx, "input gradient (accumulated)");

  // The residual add fused in: x = stream + branch exactly, and the same normalization as
  // the kernel above gives for that x (the same sums in the same order: bit for bit).
  const auto branch = random(x.size(), rng);
  std::vector<float> stream(x.size()), ry(x.size()), rmean(N), rrstd(N), residual(x.size());
  for (size_t i = 0; i < x.size(); ++i) stream[i] = x[i] - branch[i];
  std::vector<float> sum(x.size()), sy(x.size()), smean(N), srstd(N);
  std::vector<__nv_bfloat16> ry16(x.size());
  std::vector<__half> sy16(x.size());
  for (size_t i = 0; i < x.size(); ++i) sum[i] = stream[i] + branch[i];
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    emu::launch(ln::add_ln_forward<K, __nv_bfloat16>, rows_grid, rows_block, 0, residual.data(),
                ry.data(), ry16.data(), rmean.data(), rrstd.data(),
                static_cast<const float*>(stream.data()), static_cast<const float*>(branch.data()),
                w.data(), b.data(), N, C);
    emu::launch(ln::ln_forward<K, __half>, rows_grid, rows_block, 0, sy.data(), sy16.data(),
                smean.data(), srstd.data(), static_cast<const float*>(sum.data()), w.data(),
                b.data(), N, C);
  });
  // The 16-bit copies a held output gets (Backend::hold_input): its values rounded once.
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(bits(ry16[i]), bits(cuda::round16<__nv_bfloat16>(ry[i]))) << "bf16 copy, " << i;
    ASSERT_EQ(bits(sy16[i]), bits(cuda::round16<__half>(sy[i]))) << "fp16 copy, " << i;
  }
  EXPECT_EQ(residual, sum) << "residual";
  EXPECT_EQ(ry, sy) << "layernorm of the residual";
  EXPECT_EQ(rmean, smean);
  EXPECT_EQ(rrstd, srstd);

  const cuda::ColumnSplit split(N, C);
  std::vector<float> pw(size_t(split.groups) * C), pb(pw.size()), gdw(C, 0.5f), gdb(C, 0.5f);
  emu::launch(ln::ln_backward_params, split.grid(C), cuda::ColumnSplit::block(), 0, pw.data(),
              pb.data(), dy.data(), x.data(), gmean.data(), grstd.data(), N, C, split.rows);
  const dim3 sums_grid(unsigned((C + 255) / 256));
  emu::launch(cuda::add_group_sums<float>, sums_grid, dim3(256), 0, gdw.data(),
              static_cast<const float*>(pw.data()), split.groups, C);
  emu::launch(cuda::add_group_sums<float>, sums_grid, dim3(256), 0, gdb.data(),
              static_cast<const float*>(pb.data()), split.groups, C);
  expect_close(gdw, dw, "weight gradient (accumulated)");
  expect_close(gdb, db, "bias gradient (accumulated)");
}

TEST(LayerNormEmulated, EightValuesALane) { check_width(40); }
TEST(LayerNormEmulated, SixteenValuesALane) { check_width(300); }
TEST(LayerNormEmulated, Gpt2Width) { check_width(768); }
TEST(LayerNormEmulated, ThirtyTwoValuesALane) { check_width(1000); }
TEST(LayerNormEmulated, WiderRowsReadFromMemory) { check_width(1100); }

}  // namespace
}  // namespace cohort
