// The MLP's 16-bit GELU kernels (src/backend/cuda/cuda_mlp.cuh) on the CPU through the
// warp emulator, bf16 and fp16: each output within one 16-bit ulp of the host's GELU (or
// its gradient times dact, from the fp32 or the 16-bit pre-activation) rounded once, the host and
// device tanhf differing by an ulp or so. cuda_ops_test checks the whole MLP pair on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backend/cuda/cuda_mlp.cuh"

namespace cohort {
namespace {

namespace emu = ::cohort::warp_emulator;

double gelu_grad(double v) {
  const double th = std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v));
  return 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * 0.7978845608028654 * (1 + 3 * 0.044715 * v * v);
}

// dact_offset floats into its buffer: 1 leaves dact 4-byte aligned, as a gradient buffer
// may be, so the kernel must not read it in 16-byte loads (the emulator aborts if it does).
template <typename E>
void check(size_t n, size_t dact_offset = 0) {
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> pre(n), dact_buffer(n + dact_offset);
  for (auto& x : pre) x = d(rng);
  for (auto& x : dact_buffer) x = d(rng);
  const float* dact = dact_buffer.data() + dact_offset;
  std::vector<E> act(n), dpre(n);
  const unsigned blocks = unsigned((n / 4 + 127) / 128);
  emu::launch(cuda::mlp::gelu_to_16<E>, dim3(blocks), dim3(128), 0, act.data(), pre.data(), n);
  emu::launch(cuda::mlp::gelu_grad_to_16<E>, dim3(blocks), dim3(128), 0, dpre.data(), pre.data(),
              dact, n, reinterpret_cast<uintptr_t>(dact) % 16 == 0);
  // The gradient from the pre-activation kept in 16 bits (cuBLASLt's GELU epilogue).
  std::vector<E> pre16(n), dpre_of16(n);
  for (size_t i = 0; i < n; ++i) pre16[i] = E(pre[i]);
  emu::launch(cuda::mlp::gelu_grad_to_16<E, E>, dim3(blocks), dim3(128), 0, dpre_of16.data(),
              pre16.data(), dact, n, reinterpret_cast<uintptr_t>(dact) % 16 == 0);
  const double ulp = std::is_same_v<E, __half> ? 0x1p-10 : 0x1p-7;
  for (size_t i = 0; i < n; ++i) {
    const double v16 = double(float(pre16[i]));
    ASSERT_NEAR(float(dpre_of16[i]), gelu_grad(v16) * dact[i],
                std::abs(gelu_grad(v16) * dact[i]) * ulp + 1e-6)
        << "gelu gradient of the 16-bit pre-activation, element " << i;
    const double v = pre[i], k = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    const double gelu = 0.5 * v * (1 + std::tanh(k));
    const double grad = gelu_grad(v);
    ASSERT_NEAR(float(act[i]), gelu, std::abs(gelu) * ulp + 1e-6) << "gelu, element " << i;
    ASSERT_NEAR(float(dpre[i]), grad * dact[i], std::abs(grad * dact[i]) * ulp + 1e-6)
        << "gelu gradient, element " << i;
  }
}

// 1000 values: 250 threads of four, two blocks, the second partly idle.
TEST(MlpEmulated, Bf16GeluAndItsGradient) { check<__nv_bfloat16>(1000); }
TEST(MlpEmulated, Fp16GeluAndItsGradient) { check<__half>(1000); }
TEST(MlpEmulated, GradientOfAnUnalignedDact) {
  check<__nv_bfloat16>(1000, 1);
  check<__half>(1000, 3);
}

}  // namespace
}  // namespace cohort
