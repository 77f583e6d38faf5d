// The tensor-core attention's kernels (src/backend/cuda/cuda_flash_attention_tc.cuh), run
// on the CPU by the warp emulator (tests/support/warp_emulator.h): ldmatrix, mma.sync and
// cp.async from the PTX ISA's layouts, one OS thread per CUDA thread. So the kernels'
// index arithmetic, tile pipelining and masking are tested on every machine, not only in
// the rare session with a GPU.
//
// The first shape's inputs are cuda_ops_test's CudaTensorCoreAttention inputs at
// T = 150 (the same seed and draws). The H200 measured their errors on 2026-11-28 with
// the kernels of that day (base-e softmax, 32-bit fragment loads): bf16 out 2.19e-3, dq
// 3.22e-3, dk 3.97e-3, dv 3.04e-3; fp16 3.43e-4, 6.99e-4, 6.83e-4, 3.66e-4. Emulating
// those kernels gave the same figures to three digits (the emulation sums each mma's
// products in another order, both to fp32 rounding, far below 16-bit rounding), which
// is the evidence that the emulator's layouts are the hardware's. The kernels since
// (ldmatrix, cp.async, a base-2 softmax with log2(e) / sqrt(HS) applied to the fp32
// scores, q rounded as it is) give the same figures again, to three digits: bf16 out
// 2.19e-3, dq 3.22e-3, dk 3.97e-3, dv 3.04e-3; fp16 3.43e-4, 6.99e-4, 6.85e-4,
// 3.65e-4. (From the day's runs until this one q was rounded with that factor in it,
// which moved them: bf16 out 2.47e-3, dq 3.65e-3, dk 4.20e-3, dv 2.48e-3.) The bounds are
// cuda_ops_test's: 2.5e-2 (bf16) and 2.5e-3 (fp16), 3.1x and 3.5x the worst errors
// tests/reference/measure_tc_attention_error.py emulates (bf16 8.0e-3, fp16 7.2e-4).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_flash_attention_tc.cuh"
#include "backend/cuda/cuda_flash_attention_tc.h"
#include "bit_pattern.h"
#include "normwise_error.h"

namespace cohort {
namespace {

using Floats = std::vector<float>;
namespace tc = cuda::tc_attention;
namespace emu = ::cohort::warp_emulator;

const auto normwise = testing::normwise_error;

using testing::bits;

// What CudaBackend does around the kernels (cuda_flash_attention_tc.cu): rounds q, k and
// v once, rounds dO and computes rowsum(dO * O) (prepare_dout), launches the three
// kernels; here every launch goes through the emulator.
template <int HS, typename E, bool kDropout>
struct EmulatedAttention {
  using Half = E;
  static constexpr int kHeadSize = HS;
  int B, T, C, NH;
  DropoutKey dropout;
  tc::Shape shape() const {
    const float scale = 1.0f / std::sqrt(float(HS));
    return {B, T, C, NH, size_t(3) * C, scale, scale * tc::kLog2e, dropout};
  }
  std::vector<E> rounded(const Floats& x) const {
    std::vector<E> out(x.size());
    emu::launch(tc::round_rows<E>, dim3(unsigned((x.size() / 4 + 255) / 256)), dim3(256), 0,
                out.data(), x.data(), x.size());
    return out;
  }
  dim3 grid() const { return tc::grid_of(shape(), tc::kTile); }

  // kernel (without dropout): which forward (cuda_flash_attention_tc.h). out16 receives the
  // output's 16-bit copy too.
  void forward(Floats& out, Floats& lse, const Floats& qkv,
               cuda::AttentionForward kernel = cuda::AttentionForward::rows64,
               std::vector<E>* out16 = nullptr) const {
    const auto qkv16 = rounded(qkv);
    const E *q = qkv16.data(), *k = q + C, *v = q + 2 * C;
    E* copy = out16 ? out16->data() : nullptr;
    if (kernel == cuda::AttentionForward::rows128 && !kDropout)
      emu::launch(tc::tc_forward_wide<E, false>, tc::grid_of(shape(), 2 * tc::kTile),
                  dim3(tc::kThreads), tc::kWideForwardShared, out.data(), copy, lse.data(), q, k, v,
                  shape());
    else if (kernel == cuda::AttentionForward::pipelined && !kDropout)
      emu::launch(tc::tc_forward_pipelined<E>, grid(), dim3(tc::kThreads),
                  tc::kForwardPipelinedShared, out.data(), copy, lse.data(), q, k, v, shape());
    else if (kernel == cuda::AttentionForward::pipelined_poly && !kDropout)
      emu::launch(tc::tc_forward_pipelined<E, tc::kPolyExpBlocks>, grid(), dim3(tc::kThreads),
                  tc::kForwardPipelinedShared, out.data(), copy, lse.data(), q, k, v, shape());
    else
      emu::launch(tc::tc_forward<HS, E, kDropout>, grid(), dim3(tc::kThreads),
                  tc::kForwardSharedOf<HS>, out.data(), copy, lse.data(), q, k, v, shape());
  }
  // split (without dropout): the dK/dV kernel in two parts a query tile. D: the
  // gradients' type, float or E (rounded as the kernels store them).
  template <typename D>
  void backward(std::vector<D>& dqkv, const Floats& dout, const Floats& qkv, const Floats& out,
                const Floats& lse, bool split = false) const {
    const auto qkv16 = rounded(qkv);
    std::vector<E> dout16(dout.size());
    Floats dsum(size_t(B) * NH * T);
    emu::launch(tc::prepare_dout<HS, E, float>, dim3(unsigned(B * T)),
                dim3(unsigned((C / 4 + 31) / 32 * 32)), 0, dout16.data(), dsum.data(), dout.data(),
                out.data(), shape());
    const E *q = qkv16.data(), *k = q + C, *v = q + 2 * C;
    emu::launch(tc::tc_backward_dq<HS, E, kDropout, D>, grid(), dim3(tc::kThreads),
                tc::kDqSharedOf<HS>, dqkv.data(), dout16.data(), q, k, v, lse.data(), dsum.data(),
                shape());
    if (split && !kDropout)
      emu::launch(tc::tc_backward_dkv<HS, E, false, 2, D>, grid(), dim3(tc::kThreads),
                  tc::kDkvSharedOf<HS>, dqkv.data() + C, dqkv.data() + 2 * C, dout16.data(), q, k,
                  v, lse.data(), dsum.data(), shape());
    else
      emu::launch(tc::tc_backward_dkv<HS, E, kDropout, 1, D>, grid(), dim3(tc::kThreads),
                  tc::kDkvSharedOf<HS>, dqkv.data() + C, dqkv.data() + 2 * C, dout16.data(), q, k,
                  v, lse.data(), dsum.data(), shape());
  }
};

struct AttentionShape {
  int B, T, C, NH;
  float dropout;  // attention dropout's p
};

class TensorCoreAttentionEmulated : public ::testing::TestWithParam<AttentionShape> {};

TEST_P(TensorCoreAttentionEmulated, MatchesTheCpuWithinSixteenBitRounding) {
  const auto [Bb, Tt, Cc, NHh, p] = GetParam();
  DropoutKey drop;
  drop.p = p;
  drop.seed = 99;
  drop.step = 3;
  drop.site = 4;
  drop.sample_offset = 5;
  const int Nn = Bb * Tt;
  std::mt19937 rng{4321};
  auto random = [&](size_t n) {
    std::normal_distribution<float> d(0.0f, 1.0f);
    Floats v(n);
    for (auto& x : v) x = d(rng);
    return v;
  };
  CpuBackend cpu;
  for (const bool bf16 : {true, false}) {
    const double bound = bf16 ? 2.5e-2 : 2.5e-3;
    Floats qkv = random(size_t(Nn) * 3 * Cc), out(size_t(Nn) * Cc), att(size_t(Bb) * NHh * Tt * Tt),
           dout = random(size_t(Nn) * Cc), dqkv(qkv.size()), scratch(att.size());
    cpu.attention_forward(out.data(), att.data(), qkv.data(), Bb, Tt, Cc, NHh, drop);
    cpu.attention_backward(dqkv.data(), scratch.data(), dout.data(), qkv.data(), att.data(),
                           out.data(), Bb, Tt, Cc, NHh, drop);
    Floats got_out(out.size()), lse(size_t(Bb) * NHh * Tt), got(dqkv.size());
    auto run = [&](auto attention) {
      using E = typename decltype(attention)::Half;
      // The output's 16-bit copy: each value of the fp32 output rounded once.
      std::vector<E> out16(got_out.size());
      attention.forward(got_out, lse, qkv, cuda::AttentionForward::rows64, &out16);
      for (size_t i = 0; i < got_out.size(); ++i)
        ASSERT_EQ(bits(out16[i]), bits(E(got_out[i]))) << "the output's 16-bit copy " << i;
      attention.backward(got, dout, qkv, got_out, lse);
      // The gradients in 16 bits (what qkv_attention_backward reads): each value rounded
      // once. Without dropout the two-part dK/dV kernel writes dK and dV, as by default.
      std::vector<E> got16(got.size());
      attention.backward(got16, dout, qkv, got_out, lse, /*split=*/p == 0);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(bits(got16[i]), bits(E(got[i]))) << "the 16-bit gradients, element " << i;
      if (p > 0) return;
      // The dK/dV kernel in two parts a query tile: the same bits.
      Floats split(got.size(), NAN);
      attention.backward(split, dout, qkv, got_out, lse, /*split=*/true);
      for (size_t i = 0; i < got.size(); ++i) {
        if (i % (3 * Cc) < size_t(Cc)) continue;  // dq: the other kernel's
        ASSERT_EQ(bits(split[i]), bits(got[i])) << "two-part dK/dV, element " << i;
      }
      if (decltype(attention)::kHeadSize != tc::kHS) return;  // the variants: 64 only
      // The wide and the pipelined forwards: each row's products and softmax as the 64-row
      // one's, the same bits; lse's padding and the output's untouched rows stay as the
      // 64-row one left them.
      for (const auto kernel :
           {cuda::AttentionForward::rows128, cuda::AttentionForward::pipelined}) {
        const char* name = kernel == cuda::AttentionForward::rows128 ? "wide" : "pipelined";
        Floats other_out(got_out.size(), NAN), other_lse(lse.size(), NAN);
        std::vector<E> other16(got_out.size());
        attention.forward(other_out, other_lse, qkv, kernel, &other16);
        for (size_t i = 0; i < got_out.size(); ++i)
          ASSERT_EQ(bits(other16[i]), bits(out16[i])) << name << " forward's 16-bit copy " << i;
        for (size_t i = 0; i < got_out.size(); ++i)
          ASSERT_EQ(bits(other_out[i]), bits(got_out[i])) << name << " forward's output " << i;
        for (size_t i = 0; i < lse.size(); ++i)
          ASSERT_EQ(bits(other_lse[i]), bits(lse[i])) << name << " forward's log-sum-exp " << i;
      }
      // The pipelined forward with a quarter of its exponentials by exp2_poly: other bits,
      // each probability within 2.3e-7 of ex2's, so each row's log-sum-exp within 1e-6 of
      // the 64-row kernel's (|lse| < 30 here) and the output as close to the CPU's as theirs.
      Floats poly_out(got_out.size(), NAN), poly_lse(lse.size(), NAN);
      attention.forward(poly_out, poly_lse, qkv, cuda::AttentionForward::pipelined_poly);
      for (size_t i = 0; i < lse.size(); ++i)
        ASSERT_NEAR(poly_lse[i], lse[i], 1e-6) << "pipelined-poly log-sum-exp " << i;
      if (Tt > 2 * tc::kTile) {  // enough tiles before the diagonal for a sum to move
        EXPECT_NE(poly_lse, lse) << "no log-sum-exp moved: did the polynomial run?";
      }
      EXPECT_LT(normwise(poly_out, out, 0, out.size(), out.size()), bound)
          << "pipelined-poly forward";
    };
    auto run_at = [&](auto head_size) {
      constexpr int HS = decltype(head_size)::value;
      if (bf16 && p > 0)
        run(EmulatedAttention<HS, __nv_bfloat16, true>{Bb, Tt, Cc, NHh, drop});
      else if (bf16)
        run(EmulatedAttention<HS, __nv_bfloat16, false>{Bb, Tt, Cc, NHh, drop});
      else if (p > 0)
        run(EmulatedAttention<HS, __half, true>{Bb, Tt, Cc, NHh, drop});
      else
        run(EmulatedAttention<HS, __half, false>{Bb, Tt, Cc, NHh, drop});
    };
    ASSERT_TRUE(tc::takes_head_size(Cc / NHh)) << Cc / NHh;
    if (Cc / NHh == 32)
      run_at(std::integral_constant<int, 32>{});
    else if (Cc / NHh == 64)
      run_at(std::integral_constant<int, 64>{});
    else
      run_at(std::integral_constant<int, 128>{});
    const double o = normwise(got_out, out, 0, out.size(), out.size());
    const double dq = normwise(got, dqkv, 0, Cc, 3 * Cc), dk = normwise(got, dqkv, Cc, Cc, 3 * Cc),
                 dv = normwise(got, dqkv, 2 * Cc, Cc, 3 * Cc);
    std::printf(
        "emulated tensor-core attention %s B=%d T=%d C=%d NH=%d dropout %.1f: out %.2e dq %.2e "
        "dk %.2e dv %.2e\n",
        bf16 ? "bf16" : "fp16", Bb, Tt, Cc, NHh, p, o, dq, dk, dv);
    EXPECT_LT(o, bound) << "forward";
    EXPECT_LT(dq, bound) << "dq";
    EXPECT_LT(dk, bound) << "dk";
    EXPECT_LT(dv, bound) << "dv";
  }
}

// exp2_poly (the pipelined_poly forward's exponential on the FMA pipe) against exp2 in
// double: within 2.5e-7 relative from -126 to 0 (fitted: 2.3e-7), and 2^-126 below -126
// (ex2 gives 0 there: 1e-38 apart).
TEST(TensorCoreAttentionExp2Poly, IsWithinEx2sAccuracy) {
  double worst = 0;
  for (int i = 0; i <= 126 * 4096; ++i) {
    const float x = -float(i) / 4096.0f;
    const double want = std::exp2(double(x)), got = double(tc::exp2_poly(x));
    worst = std::max(worst, std::abs(got / want - 1.0));
  }
  std::printf("exp2_poly: worst relative error %.3g on [-126, 0]\n", worst);
  EXPECT_LT(worst, 2.5e-7);
  for (const float x : {-1000.0f, -INFINITY})
    EXPECT_NEAR(double(tc::exp2_poly(x)) / std::ldexp(1.0, -126), 1.0, 2.5e-7) << x;
}

// The backward's prologue on dO and O already in 16 bits (attention_branch_backward: a
// GEMM wrote dO so, the forward O's copy): D = rowsum(dO * O) of each head from those
// values, against a float64 sum of the same 16-bit values (the kernel's fp32 sums of HS
// products are within 1e-6 of it), and within 16-bit rounding of D from fp32 dO and O.
// Two heads of HS, summed by HS / 4 lanes each: a quarter, half or all of a warp.
template <int HS, typename E>
void check_prologue_from_16_bits() {
  SCOPED_TRACE("head size " + std::to_string(HS));
  const int B = 2, T = 5, C = 2 * HS, NH = 2;
  std::mt19937 rng{77};
  std::normal_distribution<float> d(0.0f, 1.0f);
  Floats dout(size_t(B) * T * C), out(dout.size());
  for (auto& x : dout) x = d(rng);
  for (auto& x : out) x = d(rng);
  const tc::Shape s{B, T, C, NH, size_t(3) * C, 0.125f, 0.125f * tc::kLog2e, DropoutKey{}};
  const dim3 grid(unsigned(B * T)), block(unsigned((C / 4 + 31) / 32 * 32));
  std::vector<E> dout16(dout.size()), out16(out.size()), unused(dout.size());
  Floats from32(size_t(B) * NH * T), from16(from32.size());
  emu::launch(tc::prepare_dout<HS, E, float>, grid, block, 0, dout16.data(), from32.data(),
              static_cast<const float*>(dout.data()), static_cast<const float*>(out.data()), s);
  for (size_t i = 0; i < out.size(); ++i) out16[i] = E(out[i]);
  emu::launch(tc::prepare_dout<HS, E, E>, grid, block, 0, unused.data(), from16.data(),
              static_cast<const E*>(dout16.data()), static_cast<const E*>(out16.data()), s);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        double want = 0.0, scale = 0.0;
        for (int c = h * HS; c < (h + 1) * HS; ++c) {
          const size_t i = (size_t(b) * T + t) * C + c;
          want += double(float(dout16[i])) * double(float(out16[i]));
          scale += std::abs(double(dout[i]) * double(out[i]));
        }
        const size_t r = (size_t(b) * NH + h) * T + t;
        EXPECT_NEAR(from16[r], want, 1e-6 * scale) << "D from 16 bits, row " << r;
        EXPECT_NEAR(from16[r], from32[r], 1e-2 * scale) << "D from fp32, row " << r;
      }
  for (const E& x : unused) ASSERT_EQ(bits(x), bits(E(0.0f))) << "dout16 is not written";
}

TEST(TensorCoreAttentionPrologue, TakesDFromSixteenBitInputs) {
  check_prologue_from_16_bits<64, __nv_bfloat16>();
  check_prologue_from_16_bits<64, __half>();
  check_prologue_from_16_bits<32, __nv_bfloat16>();
  check_prologue_from_16_bits<128, __half>();
}

// cuda_ops_test's shape at T = 150 (a partial tile); one head (C = 64), whose dO
// prologue runs 16 threads of channels in a warp of 32, at T = 70 (the wide forward's
// second slice holds rows 64 to 69) and T = 200 (its second block's second slice is
// partial); and attention dropout 0.1, whose masks are the CPU's (the reference applies
// them too). Then head sizes 32 (the demo config's: C = 128, four heads) and 128, each
// with a partial tile, the one with dropout.
INSTANTIATE_TEST_SUITE_P(
    Shapes, TensorCoreAttentionEmulated,
    ::testing::Values(AttentionShape{2, 150, 128, 2, 0.0f}, AttentionShape{1, 70, 64, 1, 0.0f},
                      AttentionShape{1, 200, 64, 1, 0.0f}, AttentionShape{1, 100, 128, 2, 0.1f},
                      AttentionShape{1, 80, 128, 4, 0.0f}, AttentionShape{1, 90, 256, 2, 0.1f}));

}  // namespace
}  // namespace cohort
