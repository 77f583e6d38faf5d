#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_cudnn_attention.h"
#include "backend/cuda/cuda_half.cuh"

namespace cohort::cuda {

namespace {

// The tensor-core kernels' log-sum-exps are in base 2 (log2(e) times cuDNN's natural ones).
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// The address `values` 16-bit values into p, writable as cuDNN's variant pack takes it.
char* at16(const void* p, size_t values) {
  return const_cast<char*>(static_cast<const char*>(p)) + 2 * values;
}

__global__ void scale_floats(float* dst, const float* src, size_t n, float factor) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = src[i] * factor;
}

void scale(float* dst, const float* src, size_t n, float factor) {
  scale_floats<<<blocks_for(n, 256), 256>>>(dst, src, n, factor);
  COHORT_CUDA_LAUNCHED();
}

template <typename E>
__global__ void widen(float* dst, const E* src, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = float(src[i]);
}

void require_aligned(const void* p, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
    throw Error(fmt::format("cuDNN attention: {} must be 16-byte aligned", what));
}

cudnn_graph::DataType io_type(bool bf16) {
  return bf16 ? cudnn_graph::DataType::bf16 : cudnn_graph::DataType::fp16;
}

}  // namespace

const CudnnPlan& CudnnAttention::plan(const Key& key) {
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    const auto [backward, bf16, B, T, C, NH] = key;
    const cudnn_graph::AttentionShape s{B, T, C, NH, io_type(bf16)};
    auto built = std::make_unique<CudnnPlan>(backward ? cudnn_graph::attention_backward_graph(s)
                                                      : cudnn_graph::attention_forward_graph(s));
    it = plans_.emplace(key, std::move(built)).first;
  }
  return *it->second;
}

void* CudnnAttention::workspace(size_t bytes) {
  if (workspace_.bytes() < bytes) workspace_ = DeviceBuffer(bytes);
  return workspace_.as<void>();
}

void CudnnAttention::forward(bool bf16, float* out, void* out16, float* lse, const void* qkv16,
                             int B, int T, int C, int NH) {
  require_aligned(out16, "the output");
  require_aligned(qkv16, "qkv");
  const CudnnPlan& p = plan({false, bf16, B, T, C, NH});
  p.execute({{cudnn_graph::kQ, at16(qkv16, 0)},
             {cudnn_graph::kK, at16(qkv16, C)},
             {cudnn_graph::kV, at16(qkv16, 2 * size_t(C))},
             {cudnn_graph::kO, out16},
             {cudnn_graph::kStats, lse}},
            workspace(p.workspace_bytes()));
  scale(lse, lse, size_t(B) * NH * T, kLog2e);
  if (out) {
    const size_t n = size_t(B) * T * C;
    with_16_bit_type(bf16, [&](auto tag) {
      using E = decltype(tag);
      widen<<<blocks_for(n, 256), 256>>>(out, static_cast<const E*>(out16), n);
    });
    COHORT_CUDA_LAUNCHED();
  }
}

void CudnnAttention::backward(bool bf16, void* dqkv16, const void* dout16, const void* out16,
                              const void* qkv16, const float* lse, int B, int T, int C, int NH) {
  require_aligned(dqkv16, "dqkv");
  require_aligned(dout16, "dout");
  require_aligned(out16, "the output");
  require_aligned(qkv16, "qkv");
  const size_t rows = size_t(B) * NH * T;
  if (stats_.bytes() < rows * sizeof(float)) {
    stats_ = DeviceBuffer(rows * sizeof(float));
    row_dots_ = DeviceBuffer(rows * sizeof(float));
  }
  scale(stats_.as<float>(), lse, rows, kLn2);
  // Samples b0 .. b0 + n - 1 a call: each buffer's part starts b0 samples in.
  const int per_call = backward_samples_ > 0 && backward_samples_ < B ? backward_samples_ : B;
  for (int b0 = 0; b0 < B; b0 += per_call) {
    const int n = std::min(per_call, B - b0);
    const CudnnPlan& p = plan({true, bf16, n, T, C, NH});
    const size_t qkv0 = size_t(b0) * T * 3 * C, out0 = size_t(b0) * T * C;
    const size_t row0 = size_t(b0) * NH * T;
    p.execute({{cudnn_graph::kQ, at16(qkv16, qkv0)},
               {cudnn_graph::kK, at16(qkv16, qkv0 + C)},
               {cudnn_graph::kV, at16(qkv16, qkv0 + 2 * C)},
               {cudnn_graph::kO, at16(out16, out0)},
               {cudnn_graph::kDO, at16(dout16, out0)},
               {cudnn_graph::kStats, stats_.as<float>() + row0},
               {cudnn_graph::kDQ, at16(dqkv16, qkv0)},
               {cudnn_graph::kDK, at16(dqkv16, qkv0 + C)},
               {cudnn_graph::kDV, at16(dqkv16, qkv0 + 2 * C)},
               {cudnn_graph::kRowDot, row_dots_.as<float>() + row0}},
              workspace(p.workspace_bytes()));
  }
}

bool CudnnAttention::backward_takes(int T) { return T % 128 == 0 || cudnn_version() > 91500; }

std::string CudnnAttention::notes() const {
  std::string s;
  for (const auto& [key, p] : plans_) {
    const auto [backward, bf16, B, T, C, NH] = key;
    s += fmt::format("cudnn attention {} {} B={} T={} C={} NH={}: {}\n",
                     backward ? "backward" : "forward", bf16 ? "bf16" : "fp16", B, T, C, NH,
                     p->description());
  }
  return s;
}

}  // namespace cohort::cuda
