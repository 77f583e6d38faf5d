// The fused LM-head loss kernel (src/backend/cuda/cuda_lm_head_loss.cuh) on the CPU
// through the warp emulator (tests/support/warp_emulator.h), in bf16 and fp16: from
// 16-bit logits, each row's loss within fp32 softmax rounding of the exact value, and
// each stored (softmax - onehot) * scale within one 16-bit ulp of its exact value
// (padding exactly 0). cuda_ops_test checks the same on a GPU, GEMMs included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
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

template <typename E>
std::vector<uint16_t> row_bits(const std::vector<E>& rows) {
  std::vector<uint16_t> out(rows.size());
  std::memcpy(out.data(), rows.data(), rows.size() * sizeof(uint16_t));
  return out;
}

// kCache: where the kernel keeps a row between its passes (lm::kRegisters, kShared, or
// kReread: nowhere). Returns the stored rows, for the launches to be compared.
template <typename E, int kCache = lm::kRegisters>
std::vector<E> check_rows(int N, int V, int Vp) {
  std::mt19937 rng(99);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::uniform_int_distribution<int> target(0, V - 1);
  std::vector<E> logits(size_t(N) * Vp);
  for (auto& z : logits) z = E(d(rng));  // the 16-bit logits the GEMM would write
  std::vector<int32_t> targets(N);
  for (auto& t : targets) t = target(rng);
  const std::vector<E> in = logits;
  std::vector<float> losses(N);
  EXPECT_TRUE(kCache != lm::kRegisters || lm::row_fits_registers(Vp));
  EXPECT_TRUE(kCache != lm::kShared || lm::row_fits_shared(Vp));
  emu::launch(lm::lm_loss_rows<E, kCache>, dim3(unsigned(N)), dim3(lm::kThreads),
              kCache == lm::kShared ? lm::shared_row_bytes(Vp) : 0, losses.data(), logits.data(),
              targets.data(), V, Vp);
  const double store = lm::kStoreScale<E>, ulp = std::is_same_v<E, __half> ? 0x1p-10 : 0x1p-7;
  for (int n = 0; n < N; ++n) {
    double zmax = -INFINITY, sum = 0;
    for (int v = 0; v < V; ++v) zmax = std::max(zmax, double(to_float(in[size_t(n) * Vp + v])));
    for (int v = 0; v < V; ++v) sum += std::exp(to_float(in[size_t(n) * Vp + v]) - zmax);
    const double lse = zmax + std::log(sum), loss = lse - to_float(in[size_t(n) * Vp + targets[n]]);
    EXPECT_NEAR(losses[n], loss, 1e-5 * (1 + loss)) << "loss of row " << n;
    for (int v = 0; v < Vp; ++v) {
      const float got = to_float(logits[size_t(n) * Vp + v]);
      if (v >= V) {
        if (got != 0.0f) ADD_FAILURE() << "padding, row " << n << " column " << v;
        if (got != 0.0f) return logits;
        continue;
      }
      const double p = std::exp(to_float(in[size_t(n) * Vp + v]) - lse);
      const double want = (p - (v == targets[n])) * store;
      if (std::abs(got - want) > std::abs(want) * ulp + 0x1p-24) {
        ADD_FAILURE() << "stored gradient, row " << n << " column " << v << ": " << got
                      << " against " << want;
        return logits;
      }
    }
  }
  return logits;
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
  check_rows<__nv_bfloat16, lm::kReread>(2, 5000, 5120);
  check_rows<__half, lm::kReread>(3, 1000, 1024);
  EXPECT_TRUE(lm::row_fits_registers(53248));
  EXPECT_FALSE(lm::row_fits_registers(53256));
}
// Rows kept in shared memory: the bits of the registers' launch (the same packs a thread
// in the same order), at GPT-2's width and at one whose last batch of packs is partial.
TEST(LmHeadLossEmulated, RowsInSharedMemoryGiveTheRegistersBits) {
  const auto shared_bf16 = check_rows<__nv_bfloat16, lm::kShared>(2, 50257, 50304);
  EXPECT_EQ(row_bits(shared_bf16), row_bits(check_rows<__nv_bfloat16>(2, 50257, 50304)));
  const auto shared_fp16 = check_rows<__half, lm::kShared>(3, 5000, 5120);
  EXPECT_EQ(row_bits(shared_fp16), row_bits(check_rows<__half>(3, 5000, 5120)));
  EXPECT_TRUE(lm::row_fits_shared(56320));
  EXPECT_FALSE(lm::row_fits_shared(56328));
}

}  // namespace
}  // namespace cohort
