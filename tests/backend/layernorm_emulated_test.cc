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

void* const kNo16 = nullptr;         // no 16-bit copy of the output
void* const kNoNext = nullptr;       // the backward: no copy of the updated gradient
float* const kNoNextSums = nullptr;  // nor its column sums

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

// The backward's kernels (as CudaBackend::layernorm_backward picks them; `blocks` 0: the
// launcher's grid) against the CPU's dx, dw and db, accumulated onto dx_start and 0.5.
void check_backward(int N, int C, int blocks, float dx_start, const std::vector<float>& dy,
                    const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& mean, const std::vector<float>& rstd,
                    const std::vector<float>& dx, const std::vector<float>& dw,
                    const std::vector<float>& db) {
  SCOPED_TRACE(std::to_string(N) + " rows, " + std::to_string(blocks) + " blocks");
  std::vector<float> gdx(dx.size(), dx_start), gdw(C, 0.5f), gdb(C, 0.5f), pw, pb;
  int groups = 0;
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    if constexpr (K > 0) {
      groups = blocks > 0 ? blocks : ln::backward_blocks(N);
      pw.resize(size_t(groups) * C);
      pb.resize(pw.size());
      emu::launch(ln::ln_backward<K>, dim3(unsigned(groups)), dim3(32 * ln::kBackwardWarps),
                  ln::backward_shared_bytes(C, false), gdx.data(), pw.data(), pb.data(), dy.data(),
                  x.data(), w.data(), mean.data(), rstd.data(), N, C, kNoNext, kNoNextSums);
    } else {
      emu::launch(ln::ln_backward_input<K>, dim3(unsigned((N + 7) / 8)), dim3(256), 0, gdx.data(),
                  dy.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
      const cuda::ColumnSplit split(N, C);
      groups = split.groups;
      pw.resize(size_t(groups) * C);
      pb.resize(pw.size());
      emu::launch(ln::ln_backward_params, split.grid(C), cuda::ColumnSplit::block(), 0, pw.data(),
                  pb.data(), dy.data(), x.data(), mean.data(), rstd.data(), N, C, split.rows);
    }
  });
  const dim3 sums_grid = cuda::group_sums_grid(C);
  emu::launch(cuda::add_group_sums<float>, sums_grid, cuda::group_sums_block(), 0, gdw.data(),
              static_cast<const float*>(pw.data()), groups, C);
  emu::launch(cuda::add_group_sums<float>, sums_grid, cuda::group_sums_block(), 0, gdb.data(),
              static_cast<const float*>(pb.data()), groups, C);
  expect_close(gdx, dx, "input gradient (accumulated)");
  expect_close(gdw, dw, "weight gradient (accumulated)");
  expect_close(gdb, db, "bias gradient (accumulated)");
}

// The backward's two options against each other: dy read in 16 bits (Backend::
// pass_gradient) gives the bits of the fp32 kernel reading those values widened; and with
// R (Backend::hold_gradient) the kernel also writes the updated input gradient rounded to
// 16 bits, each value once, and its column sums in its order: each warp's rows in order
// from 0, then the block's eight warps in order.
template <typename E>
void check_backward_options(int C) {
  const int N = 37, groups = 2, warps = ln::kBackwardWarps;
  std::mt19937 rng{unsigned(C) + 5};
  const auto x = random(size_t(N) * C, rng, 2.0f), w = random(C, rng), dy = random(x.size(), rng),
             dx_start = random(x.size(), rng);
  std::vector<float> y(x.size()), mean(N), rstd(N), dy_wide(x.size());
  std::vector<E> dy16(x.size()), next16(x.size());
  for (size_t i = 0; i < dy.size(); ++i) {
    dy16[i] = E(dy[i]);
    dy_wide[i] = float(dy16[i]);
  }
  CpuBackend().layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), w.data(),
                                 N, C);
  std::vector<float> dx16(dx_start), dx32(dx_start), pw16(size_t(groups) * C), pb16(pw16.size()),
      pw32(pw16.size()), pb32(pw16.size()), pn(pw16.size());
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    if constexpr (K > 0) {
      const size_t shared = ln::backward_shared_bytes(C, false);
      emu::launch(ln::ln_backward<K, E>, dim3(groups), dim3(32 * warps), shared, dx16.data(),
                  pw16.data(), pb16.data(), static_cast<const E*>(dy16.data()), x.data(), w.data(),
                  mean.data(), rstd.data(), N, C, kNoNext, kNoNextSums);
      emu::launch(ln::ln_backward<K, float, E>, dim3(groups), dim3(32 * warps),
                  ln::backward_shared_bytes(C, true), dx32.data(), pw32.data(), pb32.data(),
                  static_cast<const float*>(dy_wide.data()), x.data(), w.data(), mean.data(),
                  rstd.data(), N, C, next16.data(), pn.data());
    }
  });
  EXPECT_EQ(dx16, dx32) << "input gradient from 16-bit dy";
  EXPECT_EQ(pw16, pw32) << "weight partials from 16-bit dy";
  EXPECT_EQ(pb16, pb32) << "bias partials from 16-bit dy";
  for (size_t i = 0; i < dx32.size(); ++i)
    ASSERT_EQ(bits(next16[i]), bits(E(dx32[i]))) << "the updated gradient's copy, " << i;
  for (int b = 0; b < groups; ++b)
    for (int c = 0; c < C; ++c) {
      float block = 0.0f;
      for (int q = 0; q < warps; ++q) {
        float lane = 0.0f;
        for (int row = b * warps + q; row < N; row += groups * warps)
          lane += dx32[size_t(row) * C + c];
        block = q == 0 ? lane : block + lane;
      }
      ASSERT_EQ(bits(pn[size_t(b) * C + c]), bits(block))
          << "column sums, block " << b << " column " << c;
    }
}

TEST(LayerNormEmulated, BackwardOptions) {
  for (int C : {40, 768}) {
    SCOPED_TRACE("row width " + std::to_string(C));
    check_backward_options<__nv_bfloat16>(C);
    check_backward_options<__half>(C);
  }
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

  std::vector<float> gy(x.size()), gmean(N), grstd(N);
  const dim3 rows_grid(unsigned((N + 7) / 8)), rows_block(256);
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    emu::launch(ln::ln_forward<K, void>, rows_grid, rows_block, 0, gy.data(), kNo16, gmean.data(),
                grstd.data(), x.data(), w.data(), b.data(), N, C);
  });
  expect_close(gy, y, "forward");
  expect_close(gmean, mean, "mean");
  expect_close(grstd, rstd, "rstd");

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
  // Held for products only (out null): the same copy and statistics, no output.
  std::vector<__half> only16(x.size());
  std::vector<float> omean(N), orstd(N);
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    emu::launch(ln::ln_forward<K, __half>, rows_grid, rows_block, 0, static_cast<float*>(nullptr),
                only16.data(), omean.data(), orstd.data(), static_cast<const float*>(sum.data()),
                w.data(), b.data(), N, C);
  });
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(bits(only16[i]), bits(sy16[i])) << "the copy without the output, " << i;
  EXPECT_EQ(omean, smean);
  EXPECT_EQ(orstd, srstd);
  EXPECT_EQ(residual, sum) << "residual";
  EXPECT_EQ(ry, sy) << "layernorm of the residual";
  EXPECT_EQ(rmean, smean);
  EXPECT_EQ(rrstd, srstd);

  // A 16-bit branch (Backend::pass_branch): the bits of the fp32 kernel reading its values
  // widened, residual, output, copy and statistics alike.
  std::vector<__nv_bfloat16> branch16(x.size());
  std::vector<float> widened(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    branch16[i] = cuda::round16<__nv_bfloat16>(branch[i]);
    widened[i] = float(branch16[i]);
  }
  std::vector<float> hres(x.size()), hy(x.size()), hmean(N), hrstd(N);
  std::vector<float> wres(x.size()), wy(x.size()), wmean(N), wrstd(N);
  std::vector<__nv_bfloat16> hy16(x.size()), wy16(x.size());
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    emu::launch(ln::add_ln_forward<K, __nv_bfloat16, __nv_bfloat16>, rows_grid, rows_block, 0,
                hres.data(), hy.data(), hy16.data(), hmean.data(), hrstd.data(),
                static_cast<const float*>(stream.data()),
                static_cast<const __nv_bfloat16*>(branch16.data()), w.data(), b.data(), N, C);
    emu::launch(ln::add_ln_forward<K, __nv_bfloat16>, rows_grid, rows_block, 0, wres.data(),
                wy.data(), wy16.data(), wmean.data(), wrstd.data(),
                static_cast<const float*>(stream.data()), static_cast<const float*>(widened.data()),
                w.data(), b.data(), N, C);
  });
  EXPECT_EQ(hres, wres) << "residual, 16-bit branch";
  EXPECT_NE(hres, residual) << "the branch's rounding reaches the residual";
  EXPECT_EQ(hy, wy) << "layernorm, 16-bit branch";
  EXPECT_EQ(hmean, wmean);
  EXPECT_EQ(hrstd, wrstd);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(bits(hy16[i]), bits(wy16[i])) << "bf16 copy, 16-bit branch, " << i;

  // The backward as the launcher runs it, then (rows in registers) with fewer blocks than
  // rows need, so each warp takes several rows.
  check_backward(N, C, 0, 0.5f, dy, x, w, gmean, grstd, dx, dw, db);
  if (C <= 1024) {
    const int M = 37;
    const auto x2 = random(size_t(M) * C, rng, 2.0f), dy2 = random(x2.size(), rng);
    std::vector<float> y2(x2.size()), mean2(M), rstd2(M), dx2(x2.size(), -0.25f), dw2(C, 0.5f),
        db2(C, 0.5f);
    cpu.layernorm_forward(y2.data(), mean2.data(), rstd2.data(), x2.data(), w.data(), b.data(), M,
                          C);
    cpu.layernorm_backward(dx2.data(), dw2.data(), db2.data(), dy2.data(), x2.data(), w.data(),
                           mean2.data(), rstd2.data(), M, C);
    check_backward(M, C, 2, -0.25f, dy2, x2, w, mean2, rstd2, dx2, dw2, db2);
  }
}

TEST(LayerNormEmulated, EightValuesALane) { check_width(40); }
TEST(LayerNormEmulated, SixteenValuesALane) { check_width(300); }
TEST(LayerNormEmulated, Gpt2Width) { check_width(768); }
TEST(LayerNormEmulated, ThirtyTwoValuesALane) { check_width(1000); }
TEST(LayerNormEmulated, WiderRowsReadFromMemory) { check_width(1100); }

}  // namespace
}  // namespace cohort
