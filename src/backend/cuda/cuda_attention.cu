// General multi-head attention (mha_*: encoders, cross-attention), correctness first:
// one block per query row computes its scores, softmax and output; backward computes dS
// row by row, then dQ and (dK, dV) with one thread per output element summing in order.
// No atomics, so it is deterministic; it stores the T x T probabilities the mha_*
// interface asks for. The GPT's causal attention is cuda_flash_attention.cu.
//
// Dropout masks match cpu_mha.cc element for element: element (h, t, t2) is numbered
// (h*2^16 + t)*2^16 + t2.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_dropout.cuh"
#include "backend/cuda/cuda_reduce.cuh"

namespace cohort {

namespace {

constexpr unsigned kThreads = 128;

struct AttnShape {
  int B, Tq, Tk, C, NH, HS, ldq, ldkv;
  bool causal;
  const int32_t* key_len;
  float scale;
  __device__ int visible(int b, int t) const {
    int n = Tk;
    if (causal && t + 1 < n) n = t + 1;
    if (key_len && key_len[b] < n) n = key_len[b];
    return n;
  }
  __device__ uint64_t mask_index(int h, int t, int t2) const {
    return (((uint64_t(h) << 16) + uint64_t(t)) << 16) + t2;
  }
};

__device__ float multiplier(const DropoutKey& key, const AttnShape& s, int b, int h, int t,
                            int t2) {
  return key.p > 0.0f ? cuda::dropout_multiplier(key, key.sample_offset + b, s.mask_index(h, t, t2))
                      : 1.0f;
}

// Block per (b, h, t); dynamic shared memory: Tk floats of scores, then kThreads.
__global__ void attn_forward(float* out, float* att, const float* q, const float* k, const float* v,
                             AttnShape s, DropoutKey key) {
  extern __shared__ float shared[];
  float* row = shared;
  float* scratch = shared + s.Tk;
  const int t = blockIdx.x % s.Tq, h = (blockIdx.x / s.Tq) % s.NH, b = blockIdx.x / (s.Tq * s.NH);
  const int n = s.visible(b, t);
  const float* qr = q + (size_t(b) * s.Tq + t) * s.ldq + h * s.HS;
  float m = -INFINITY;
  for (int t2 = threadIdx.x; t2 < s.Tk; t2 += blockDim.x) {
    float d = -INFINITY;
    if (t2 < n) {
      const float* kr = k + (size_t(b) * s.Tk + t2) * s.ldkv + h * s.HS;
      d = 0.0f;
      for (int i = 0; i < s.HS; ++i) d += qr[i] * kr[i];
      d *= s.scale;
    }
    row[t2] = d;
    m = fmaxf(m, d);
  }
  m = cuda::block_reduce(m, scratch, cuda::Max{});
  float sum = 0.0f;
  for (int t2 = threadIdx.x; t2 < s.Tk; t2 += blockDim.x) {
    const float e = t2 < n ? expf(row[t2] - m) : 0.0f;
    row[t2] = e;
    sum += e;
  }
  sum = cuda::block_reduce(sum, scratch, cuda::Sum{});
  float* a = att + ((size_t(b) * s.NH + h) * s.Tq + t) * s.Tk;
  for (int t2 = threadIdx.x; t2 < s.Tk; t2 += blockDim.x) {
    const float p = row[t2] / sum;
    a[t2] = p;
    row[t2] = p * multiplier(key, s, b, h, t, t2);
  }
  __syncthreads();
  float* y = out + (size_t(b) * s.Tq + t) * s.C + h * s.HS;
  for (int d = threadIdx.x; d < s.HS; d += blockDim.x) {
    float acc = 0.0f;
    for (int t2 = 0; t2 < n; ++t2)
      acc += row[t2] * v[(size_t(b) * s.Tk + t2) * s.ldkv + h * s.HS + d];
    y[d] = acc;
  }
}

// dS for one row: dP = (dY V^T) * mask; dS = P * (dP - sum(P * dP)) * scale.
__global__ void attn_backward_ds(float* ds_all, const float* dout, const float* v, const float* att,
                                 AttnShape s, DropoutKey key) {
  __shared__ float scratch[kThreads];
  const int t = blockIdx.x % s.Tq, h = (blockIdx.x / s.Tq) % s.NH, b = blockIdx.x / (s.Tq * s.NH);
  const int n = s.visible(b, t);
  const size_t r = ((size_t(b) * s.NH + h) * s.Tq + t) * s.Tk;
  const float* p = att + r;
  float* ds = ds_all + r;
  const float* dy = dout + (size_t(b) * s.Tq + t) * s.C + h * s.HS;
  float dot = 0.0f;
  for (int t2 = threadIdx.x; t2 < s.Tk; t2 += blockDim.x) {
    float dp = 0.0f;
    if (t2 < n) {
      const float* vr = v + (size_t(b) * s.Tk + t2) * s.ldkv + h * s.HS;
      for (int i = 0; i < s.HS; ++i) dp += dy[i] * vr[i];
      dp *= multiplier(key, s, b, h, t, t2);
    }
    ds[t2] = dp;
    dot += p[t2] * dp;
  }
  dot = cuda::block_reduce(dot, scratch, cuda::Sum{});
  for (int t2 = threadIdx.x; t2 < s.Tk; t2 += blockDim.x)
    ds[t2] = t2 < n ? p[t2] * (ds[t2] - dot) * s.scale : 0.0f;
}

// dQ = dS K: thread per (b, h, t, d).
__global__ void attn_backward_dq(float* dq, const float* ds_all, const float* k, AttnShape s) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(s.B) * s.NH * s.Tq * s.HS) return;
  const int d = int(i % s.HS), t = int(i / s.HS % s.Tq), h = int(i / (size_t(s.HS) * s.Tq) % s.NH);
  const int b = int(i / (size_t(s.HS) * s.Tq * s.NH));
  const float* ds = ds_all + ((size_t(b) * s.NH + h) * s.Tq + t) * s.Tk;
  float acc = 0.0f;
  for (int t2 = 0; t2 < s.Tk; ++t2)
    acc += ds[t2] * k[(size_t(b) * s.Tk + t2) * s.ldkv + h * s.HS + d];
  dq[(size_t(b) * s.Tq + t) * s.ldq + h * s.HS + d] = acc;
}

// dK = dS^T Q and dV = Pd^T dY: thread per (b, h, t2, d).
__global__ void attn_backward_dkv(float* dk, float* dv, const float* ds_all, const float* att,
                                  const float* q, const float* dout, AttnShape s, DropoutKey key) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(s.B) * s.NH * s.Tk * s.HS) return;
  const int d = int(i % s.HS), t2 = int(i / s.HS % s.Tk), h = int(i / (size_t(s.HS) * s.Tk) % s.NH);
  const int b = int(i / (size_t(s.HS) * s.Tk * s.NH));
  const size_t base = (size_t(b) * s.NH + h) * s.Tq * s.Tk;
  float gk = 0.0f, gv = 0.0f;
  for (int t = 0; t < s.Tq; ++t) {
    const size_t e = base + size_t(t) * s.Tk + t2;
    gk += ds_all[e] * q[(size_t(b) * s.Tq + t) * s.ldq + h * s.HS + d];
    const float pd = att[e] == 0.0f ? 0.0f : att[e] * multiplier(key, s, b, h, t, t2);
    gv += pd * dout[(size_t(b) * s.Tq + t) * s.C + h * s.HS + d];
  }
  const size_t o = (size_t(b) * s.Tk + t2) * s.ldkv + h * s.HS + d;
  dk[o] = gk;
  dv[o] = gv;
}

AttnShape shape(int B, int Tq, int Tk, int C, int NH, int ldq, int ldkv, bool causal,
                const int32_t* key_len) {
  const int HS = C / NH;
  return {B, Tq, Tk, C, NH, HS, ldq, ldkv, causal, key_len, 1.0f / sqrtf(float(HS))};
}

void forward(float* out, float* att, const float* q, const float* k, const float* v,
             const AttnShape& s, const DropoutKey& key) {
  const size_t shared = (size_t(s.Tk) + kThreads) * sizeof(float);
  attn_forward<<<unsigned(s.B * s.NH * s.Tq), kThreads, shared>>>(out, att, q, k, v, s, key);
  COHORT_CUDA_LAUNCHED();
}

void backward(float* dq, float* dk, float* dv, float* scratch, const float* dout, const float* q,
              const float* k, const float* v, const float* att, const AttnShape& s,
              const DropoutKey& key) {
  attn_backward_ds<<<unsigned(s.B * s.NH * s.Tq), kThreads>>>(scratch, dout, v, att, s, key);
  COHORT_CUDA_LAUNCHED();
  attn_backward_dq<<<cuda::blocks_for(size_t(s.B) * s.NH * s.Tq * s.HS, 256), 256>>>(dq, scratch, k,
                                                                                     s);
  COHORT_CUDA_LAUNCHED();
  attn_backward_dkv<<<cuda::blocks_for(size_t(s.B) * s.NH * s.Tk * s.HS, 256), 256>>>(
      dk, dv, scratch, att, q, dout, s, key);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace

void CudaBackend::mha_forward(float* out, float* att, const float* q, const float* k,
                              const float* v, int ldq, int ldkv, int B, int Tq, int Tk, int C,
                              int NH, bool causal, const int32_t* key_len,
                              const DropoutKey& dropout) {
  forward(out, att, q, k, v, shape(B, Tq, Tk, C, NH, ldq, ldkv, causal, key_len), dropout);
}

void CudaBackend::mha_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                               const float* q, const float* k, const float* v, const float* att,
                               int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,
                               const int32_t* key_len, const DropoutKey& dropout) {
  backward(dq, dk, dv, scratch, dout, q, k, v, att,
           shape(B, Tq, Tk, C, NH, ldq, ldkv, causal, key_len), dropout);
}

}  // namespace cohort
