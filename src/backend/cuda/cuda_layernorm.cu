// LayerNorm, eps 1e-5: one warp per row (a fixed shuffle tree, so the same sums every
// run); the parameter gradients by column tiles (cuda_reduce.cuh), also in a fixed order.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_reduce.cuh"

namespace cohort {

namespace {

constexpr float kEps = 1e-5f;

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void ln_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                           const float* b, int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const float* x = inp + size_t(row) * C;
  float s = 0.0f;
  for (int c = lane; c < C; c += 32) s += x[c];
  const float m = warp_sum(s) / C;
  float v = 0.0f;
  for (int c = lane; c < C; c += 32) v += (x[c] - m) * (x[c] - m);
  const float r = rsqrtf(warp_sum(v) / C + kEps);
  float* y = out + size_t(row) * C;
  for (int c = lane; c < C; c += 32) y[c] = (x[c] - m) * r * w[c] + b[c];
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
}

__global__ void ln_backward_input(float* dinp, const float* dout, const float* inp, const float* w,
                                  const float* mean, const float* rstd, int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const float* x = inp + size_t(row) * C;
  const float* dy = dout + size_t(row) * C;
  const float m = mean[row], r = rstd[row];
  float a = 0.0f, bsum = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float dn = w[c] * dy[c];
    a += dn;
    bsum += dn * (x[c] - m) * r;
  }
  const float dnorm_mean = warp_sum(a) / C, dnorm_norm_mean = warp_sum(bsum) / C;
  float* dx = dinp + size_t(row) * C;
  for (int c = lane; c < C; c += 32) {
    const float norm = (x[c] - m) * r;
    dx[c] += (w[c] * dy[c] - dnorm_mean - norm * dnorm_norm_mean) * r;
  }
}

// Sums of this block's row group into pw and pb (groups x C each): cuda_reduce.cuh.
__global__ void ln_backward_params(float* pw, float* pb, const float* dout, const float* inp,
                                   const float* mean, const float* rstd, int N, int C,
                                   int group_rows) {
  __shared__ float part[cuda::kColumnTile][cuda::kColumnTile + 1];
  const int c = blockIdx.x * cuda::kColumnTile + threadIdx.x;
  const int first = blockIdx.y * group_rows, end = min(N, first + group_rows);
  float sw = 0.0f, sb = 0.0f;
  if (c < C)
    for (int n = first + threadIdx.y; n < end; n += cuda::kColumnTile) {
      const float dy = dout[size_t(n) * C + c];
      sb += dy;
      sw += (inp[size_t(n) * C + c] - mean[n]) * rstd[n] * dy;
    }
  sw = cuda::column_tile_reduce(sw, part);
  sb = cuda::column_tile_reduce(sb, part);
  if (threadIdx.y == 0 && c < C) {
    pw[size_t(blockIdx.y) * C + c] = sw;
    pb[size_t(blockIdx.y) * C + c] = sb;
  }
}

}  // namespace

void CudaBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                    const float* weight, const float* bias, int N, int C) {
  ln_forward<<<cuda::blocks_for(N, 8), 256>>>(out, mean, rstd, inp, weight, bias, N, C);
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                     const float* inp, const float* weight, const float* mean,
                                     const float* rstd, int N, int C) {
  ln_backward_input<<<cuda::blocks_for(N, 8), 256>>>(dinp, dout, inp, weight, mean, rstd, N, C);
  COHORT_CUDA_LAUNCHED();
  const cuda::ColumnSplit split(N, C);
  float* pw = column_partials(2 * size_t(split.groups) * C);
  float* pb = pw + size_t(split.groups) * C;
  ln_backward_params<<<split.grid(C), split.block()>>>(pw, pb, dout, inp, mean, rstd, N, C,
                                                       split.rows);
  COHORT_CUDA_LAUNCHED();
  cuda::add_group_sums<<<cuda::blocks_for(C, 256), 256>>>(dweight, pw, split.groups, C);
  COHORT_CUDA_LAUNCHED();
  cuda::add_group_sums<<<cuda::blocks_for(C, 256), 256>>>(dbias, pb, split.groups, C);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace cohort
