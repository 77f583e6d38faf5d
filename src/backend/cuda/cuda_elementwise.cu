// Element-wise ops (GELU tanh form: cuda_gelu.cuh; tanh, adds, dropout, scaling) and the global sum
// of squares, which sums fixed blocks of 8192 in double on the device, then the blocks in order on
// the host: the CPU backend's order of blocks.
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_dropout.cuh"
#include "backend/cuda/cuda_gelu.cuh"
#include "backend/cuda/cuda_reduce.cuh"

namespace cohort {

namespace {

constexpr size_t kSumBlock = 8192;
constexpr unsigned kThreads = 256;

#define COHORT_ELEMENTWISE(name, params, body)                      \
  __global__ void name params {                                     \
    const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; \
    if (i < n) body;                                                \
  }

COHORT_ELEMENTWISE(gelu_fwd, (float* out, const float* x, size_t n), { out[i] = cuda::gelu(x[i]); })
COHORT_ELEMENTWISE(gelu_bwd, (float* dx, const float* x, const float* dy, size_t n),
                   { dx[i] = cuda::gelu_grad(x[i]) * dy[i]; })
COHORT_ELEMENTWISE(tanh_fwd, (float* out, const float* x, size_t n), { out[i] = tanhf(x[i]); })
COHORT_ELEMENTWISE(tanh_bwd, (float* dx, const float* y, const float* dy, size_t n),
                   { dx[i] = (1.0f - y[i] * y[i]) * dy[i]; })
COHORT_ELEMENTWISE(add_k, (float* out, const float* a, const float* b, size_t n),
                   { out[i] = a[i] + b[i]; })
COHORT_ELEMENTWISE(accumulate_k, (float* y, const float* x, size_t n), { y[i] += x[i]; })
COHORT_ELEMENTWISE(scale_k, (float* x, float s, size_t n), { x[i] *= s; })

__global__ void dropout_k(float* x, size_t n_per_sample, size_t n, DropoutKey key) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint32_t sample = key.sample_offset + uint32_t(i / n_per_sample);
  x[i] *= cuda::dropout_multiplier(key, sample, i % n_per_sample);
}

__global__ void block_sum_squares(double* sums, const float* x, size_t n) {
  __shared__ double scratch[kThreads];
  const size_t begin = size_t(blockIdx.x) * kSumBlock;
  const size_t end = begin + kSumBlock < n ? begin + kSumBlock : n;
  double s = 0.0;
  for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x) s += double(x[i]) * x[i];
  s = cuda::block_reduce(s, scratch, cuda::Sum{});
  if (threadIdx.x == 0) sums[blockIdx.x] = s;
}

}  // namespace

#define COHORT_LAUNCH(kernel, n, ...)                                   \
  do {                                                                  \
    if ((n) == 0) break;                                                \
    kernel<<<cuda::blocks_for((n), kThreads), kThreads>>>(__VA_ARGS__); \
    COHORT_CUDA_LAUNCHED();                                             \
  } while (0)

void CudaBackend::gelu_forward(float* out, const float* inp, size_t n) {
  COHORT_LAUNCH(gelu_fwd, n, out, inp, n);
}
void CudaBackend::gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) {
  COHORT_LAUNCH(gelu_bwd, n, dinp, inp, dout, n);
}
void CudaBackend::tanh_forward(float* out, const float* inp, size_t n) {
  COHORT_LAUNCH(tanh_fwd, n, out, inp, n);
}
void CudaBackend::tanh_backward(float* dinp, const float* out, const float* dout, size_t n) {
  COHORT_LAUNCH(tanh_bwd, n, dinp, out, dout, n);
}
void CudaBackend::add(float* out, const float* a, const float* b, size_t n) {
  COHORT_LAUNCH(add_k, n, out, a, b, n);
}
void CudaBackend::accumulate(float* y, const float* x, size_t n) {
  COHORT_LAUNCH(accumulate_k, n, y, x, n);
}
void CudaBackend::scale(float* x, float s, size_t n) { COHORT_LAUNCH(scale_k, n, x, s, n); }

void CudaBackend::dropout(float* x, int B, size_t n_per_sample, const DropoutKey& key) {
  if (!key.active()) return;
  const size_t n = size_t(B) * n_per_sample;
  COHORT_LAUNCH(dropout_k, n, x, n_per_sample, n, key);
}

double CudaBackend::sum_squares(const float* x, size_t n) {
  const size_t blocks = (n + kSumBlock - 1) / kSumBlock;
  if (blocks == 0) return 0.0;
  if (block_sums_size_ < blocks) {
    if (block_sums_) cudaFree(block_sums_);
    COHORT_CUDA_CHECK(cudaMalloc(&block_sums_, blocks * sizeof(double)));
    block_sums_size_ = blocks;
  }
  block_sum_squares<<<unsigned(blocks), kThreads>>>(block_sums_, x, n);
  COHORT_CUDA_LAUNCHED();
  std::vector<double> sums(blocks);
  COHORT_CUDA_CHECK(
      cudaMemcpy(sums.data(), block_sums_, blocks * sizeof(double), cudaMemcpyDeviceToHost));
  double total = 0.0;
  for (double s : sums) total += s;
  return total;
}

}  // namespace cohort
