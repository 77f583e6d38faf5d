// AdamW (PyTorch's formula, as cpu_optimizer.cc), per tensor or a step's tensors in one
// launch, and SGD with momentum.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "backend/cuda/cuda_adamw.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace cohort {

namespace {

using cuda::adamw::adamw_one;
using cuda::adamw::adamw_segments_k;
using cuda::adamw::decay_factor;
using cuda::adamw::kMaxSegments;

__global__ void adamw_k(float* p, const float* g, float* m, float* v, size_t n,
                        Backend::AdamWArgs a) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  adamw_one(p[i], g[i], m[i], v[i], decay_factor(a.lr, a.weight_decay), a);
}

__global__ void sgd_k(float* p, const float* g, float* buf, size_t n, float lr, float mu,
                      float grad_scale) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (buf == nullptr) {
    p[i] -= lr * (g[i] * grad_scale);
    return;
  }
  buf[i] = mu * buf[i] + g[i] * grad_scale;
  p[i] -= lr * buf[i];
}

}  // namespace

void CudaBackend::adamw_update(float* param, const float* grad, float* m, float* v, size_t n,
                               const AdamWArgs& a) {
  if (n == 0) return;
  adamw_k<<<cuda::blocks_for(n, 256), 256>>>(param, grad, m, v, n, a);
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::adamw_update_segments(float* param, const float* grad, float* m, float* v,
                                        size_t n, AdamWArgs a,
                                        const std::vector<AdamWSegment>& segments) {
  if (n == 0 || segments.empty()) return;
  if (segments.size() > size_t(kMaxSegments)) {
    Backend::adamw_update_segments(param, grad, m, v, n, a, segments);
    return;
  }
  // The table is the same every step: uploaded when it changes.
  auto same = [](const AdamWSegment& x, const AdamWSegment& y) {
    return x.begin == y.begin && x.weight_decay == y.weight_decay;
  };
  if (!std::equal(segments.begin(), segments.end(), uploaded_segments_.begin(),
                  uploaded_segments_.end(), same)) {
    std::vector<size_t> begins;
    std::vector<float> decays;
    for (const AdamWSegment& s : segments) {
      begins.push_back(s.begin);
      decays.push_back(s.weight_decay);
    }
    segment_table_ = cuda::DeviceBuffer(segments.size() * (sizeof(size_t) + sizeof(float)));
    memory_.copy_from_host(segment_table_.as<size_t>(), begins.data(),
                           segments.size() * sizeof(size_t));
    memory_.copy_from_host(segment_table_.as<size_t>() + segments.size(), decays.data(),
                           segments.size() * sizeof(float));
    uploaded_segments_ = segments;
  }
  auto aligned = [](const void* x) { return reinterpret_cast<uintptr_t>(x) % 16 == 0; };
  const bool vector = aligned(param) && aligned(grad) && aligned(m) && aligned(v);
  const size_t* begins = segment_table_.as<size_t>();
  const float* decays = reinterpret_cast<const float*>(begins + segments.size());
  const unsigned blocks = cuda::blocks_for((n + 3) / 4, 256);
  // The whole of parameters_updated's range: the 16-bit copy is written here too (backend.h).
  void* params16 =
      precision_ != MatmulPrecision::fp32 ? copies_.params_copy_to_update(param, n) : nullptr;
  if (params16) {
    cuda::with_16_bit_type(precision_ == MatmulPrecision::bf16, [&](auto tag) {
      using E = decltype(tag);
      adamw_segments_k<E><<<blocks, 256>>>(param, grad, m, v, n, a, begins, decays,
                                           int(segments.size()), vector, static_cast<E*>(params16));
    });
  } else {
    adamw_segments_k<<<blocks, 256>>>(param, grad, m, v, n, a, begins, decays, int(segments.size()),
                                      vector);
  }
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::sgd_update(float* param, const float* grad, float* momentum_buf, size_t n,
                             float lr, float momentum, float grad_scale) {
  if (n == 0) return;
  sgd_k<<<cuda::blocks_for(n, 256), 256>>>(param, grad, momentum == 0.0f ? nullptr : momentum_buf,
                                           n, lr, momentum, grad_scale);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace cohort
