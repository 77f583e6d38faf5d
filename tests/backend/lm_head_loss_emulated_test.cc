// The fused LM-head loss kernel (src/backend/cuda/cuda_lm_head_loss.cuh) on the CPU
// through the warp emulator (tests/support/warp_emulator.h), in bf16 and fp16: from
// 16-bit logits, each row's loss within fp32 softmax rounding of the exact value, and
// each stored (softmax - onehot) * scale within one 16-bit ulp of its exact value
// (padding exactly 0). cuda_ops_test checks the same on a GPU, GEMMs included.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cuda/cuda_lm_head_loss.cuh"

namespace cohort {
namespace {

namespace emu = ::cohort::warp_emulator;
namespace lm = cuda::lm_loss;

template <typename E>
float to_float(E x) {
  return float(x);
}

// kCached: the launch for rows that fit the threads' registers, else the one that reads
// each row twice.
template <typename E, bool kCached = true>
void check_rows(int N, int V, int Vp) {
  std::mt19937 rng(99);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::uniform_int_distribution<int> target(0, V - 1);
  std::vector<E> logits(size_t(N) * Vp);
  for (auto& z : logits) z = E(d(rng));  // the 16-bit logits the GEMM would write
  std::vector<int32_t> targets(N);
  for (auto& t : targets) t = target(rng);
  const std::vector<E> in = logits;
  std::vector<float> losses(N);
  ASSERT_TRUE(!kCached || lm::row_fits_registers(Vp));
  emu::launch(lm::lm_loss_rows<E, kCached>, dim3(unsigned(N)), dim3(lm::kThreads), 0, losses.data(),
              logits.data(), targets.data(), V, Vp);
  const double store = lm::kStoreScale<E>, ulp = std::is_same_v<E, __half> ? 0x1p-10 : 0x1p-7;
  for (int n = 0; n < N; ++n) {
    double zmax = -INFINITY, sum = 0;
    for (int v = 0; v < V; ++v) zmax = std::max(zmax, double(to_float(in[size_t(n) * Vp + v])));
    for (int v = 0; v < V; ++v) sum += std::exp(to_float(in[size_t(n) * Vp + v]) - zmax);
    const double lse = zmax + std::log(sum), loss = lse - to_float(in[size_t(n) * Vp + targets[n]]);
    ASSERT_NEAR(losses[n], loss, 1e-5 * (1 + loss)) << "loss of row " << n;
    for (int v = 0; v < Vp; ++v) {
      const float got = to_float(logits[size_t(n) * Vp + v]);
      if (v >= V) {
        ASSERT_EQ(got, 0.0f) << "padding, row " << n << " column " << v;
        continue;
      }
      const double p = std::exp(to_float(in[size_t(n) * Vp + v]) - lse);
      const double want = (p - (v == targets[n])) * store;
      ASSERT_NEAR(got, want, std::abs(want) * ulp + 0x1p-24)
          << "stored gradient, row " << n << " column " << v;
    }
  }
}

// 5 rows; V = 1000 of Vp = 1024: every thread of the 512 reads two packs or fewer, and the
// last packs are part padding, part vocabulary (V is not a multiple of 8).
TEST(LmHeadLossEmulated, Bf16RowsMatchTheirExactValues) {
  check_rows<__nv_bfloat16>(5, 1000, 1024);
}
TEST(LmHeadLossEmulated, Fp16RowsMatchTheirExactValues) { check_rows<__half>(5, 1000, 1024); }
// More packs than threads: each thread walks several (Vp / 8 = 640 > 512).
TEST(LmHeadLossEmulated, RowsLongerThanTheBlock) { check_rows<__nv_bfloat16>(2, 5000, 5120); }
// GPT-2's padded vocabulary: 13 packs a thread held in registers, the last partly idle.
TEST(LmHeadLossEmulated, Gpt2SizedRows) { check_rows<__half>(2, 50257, 50304); }
// The launch for rows too long for the registers reads each pack twice; the same values.
TEST(LmHeadLossEmulated, RowsReadTwice) {
  check_rows<__nv_bfloat16, false>(2, 5000, 5120);
  check_rows<__half, false>(3, 1000, 1024);
  EXPECT_TRUE(lm::row_fits_registers(53248));
  EXPECT_FALSE(lm::row_fits_registers(53256));
}

}  // namespace
}  // namespace cohort
