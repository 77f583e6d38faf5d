#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_half_copies.h"

namespace cohort::cuda {

namespace {

// Four values per thread (16-byte loads, 8-byte stores) where x is 16-byte aligned, which
// activations are: the copy is bandwidth-bound. The tail and unaligned x go one by one.
template <typename E>
__global__ void round_to_16(E* out, const float* in, size_t n, bool aligned) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (aligned) {
    if (i < n / 4) {
      const float4 x = reinterpret_cast<const float4*>(in)[i];
      reinterpret_cast<Four16<E>*>(out)[i] =
          Four16<E>{{round16<E>(x.x), round16<E>(x.y), round16<E>(x.z), round16<E>(x.w)}};
    }
    const size_t tail = n / 4 * 4 + i;
    if (i < n % 4) out[tail] = round16<E>(in[tail]);
  } else if (i < n) {
    out[i] = round16<E>(in[i]);
  }
}

}  // namespace

void HalfCopies::round_into(void* dst, const float* x, size_t n) {
  const bool aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0;
  const unsigned blocks = blocks_for(aligned ? std::max<size_t>(n / 4, 4) : n, 256);
  with_16_bit_type(bf16_, [&](auto tag) {
    round_to_16<<<blocks, 256>>>(static_cast<decltype(tag)*>(dst), x, n, aligned);
  });
  COHORT_CUDA_LAUNCHED();
}

const void* HalfCopies::rounded(int slot, const float* x, size_t n) {
  const auto at = reinterpret_cast<uintptr_t>(x), base = reinterpret_cast<uintptr_t>(params_);
  if (params_ && at >= base && at + n * sizeof(float) <= base + params_n_ * sizeof(float))
    return params16_.as<uint16_t>() + (x - params_);
  for (HeldInput& h : held_) {
    if (!h.held || h.x != x || n > h.n) continue;
    if (!h.rounded) round_into(h.copy.as<void>(), x, h.n);
    h.rounded = true;
    return h.copy.as<void>();
  }
  void* buf = scratch16(slot, n);
  round_into(buf, x, n);
  return buf;
}

void* HalfCopies::scratch16(int slot, size_t n) {
  DeviceBuffer& buf = scratch_[slot];
  if (buf.bytes() < n * 2) buf = DeviceBuffer(n * 2);
  return buf.as<void>();
}

// One rounding of every parameter per forward, instead of each weight before each of its
// GEMMs, forward and backward: ncu put those roundings at 0.57 ms of a GPT-2 124M bf16
// step on an H200 (8 per layer, 2.5 us to 5.5 us each, and wte's 55 us twice).
void HalfCopies::parameters_updated(const float* params, size_t n) {
  // Inputs held in the last step may be held again (their copies are kept for that);
  // those that were not are dropped.
  held_.erase(
      std::remove_if(held_.begin(), held_.end(), [](const HeldInput& h) { return !h.held; }),
      held_.end());
  for (HeldInput& h : held_) h.held = h.rounded = h.unwritten = false;
  passed_.clear();
  held_gradient_.held = held_gradient_.ready = nullptr;
  const bool fresh = params16_fresh_ && params == params_ && n == params_n_;
  params16_fresh_ = false;
  if (fresh) return;  // the optimizer wrote the copy as it updated them
  params_ = nullptr;  // rounded() must not look inside while the copy is stale
  if (params16_.bytes() < n * 2) params16_ = DeviceBuffer(n * 2);
  round_into(params16_.as<void>(), params, n);
  params_ = params;
  params_n_ = n;
}

void HalfCopies::parameters_released(const float* params) {
  if (params == params_) {
    params_ = nullptr;
    params16_fresh_ = false;
  }
}

void* HalfCopies::params_copy_to_update(const float* param, size_t n) {
  if (params_ != param || params_n_ != n) return nullptr;
  params16_fresh_ = true;
  return params16_.as<void>();
}

// ln_1, the attention's output, ln_2 and ln_f, held by the models' blocks, were each
// rounded twice a step, for the forward's product and again for the weight gradient's:
// 0.65 ms of a GPT-2 124M bf16 step on an H200 by ncu (18 us a rounding of B x T x C).
// Now the kernels that compute them write their copies (the LayerNorms' and the
// tensor-core attention's), and, held for products only, nothing else.
void HalfCopies::hold(const float* x, size_t n, bool products_only) {
  for (HeldInput& h : held_) {
    if (h.x != x) continue;
    if (h.copy.bytes() < n * 2) h.copy = DeviceBuffer(n * 2);
    h.n = n;
    h.held = true;
    h.rounded = false;
    h.products_only = products_only;
    h.unwritten = false;
    return;
  }
  held_.push_back(HeldInput{x, n, DeviceBuffer(n * 2), true, false, products_only, false});
}

void* HalfCopies::held_copy_to_write(const float* x, size_t n, bool* products_only) {
  if (products_only) *products_only = false;
  for (HeldInput& h : held_) {
    if (!h.held || h.x != x || h.n != n) continue;
    h.rounded = true;
    if (products_only) *products_only = h.unwritten = h.products_only;
    return h.copy.as<void>();
  }
  return nullptr;
}

bool HalfCopies::held_unwritten(const float* x) const {
  for (const HeldInput& h : held_)
    if (h.held && h.x == x && h.unwritten) return true;
  return false;
}

void HalfCopies::pass(const float* g, size_t n) {
  passed_.erase(
      std::remove_if(passed_.begin(), passed_.end(), [&](const Passed16& p) { return p.g == g; }),
      passed_.end());
  passed_.push_back(Passed16{g, n, false});
}

void* HalfCopies::passed_to_write(float* g, size_t n, bool rows_fit) {
  if (!rows_fit) return nullptr;
  for (Passed16& p : passed_) {
    if (p.g != g || p.n != n) continue;
    p.written16 = true;
    return g;
  }
  return nullptr;
}

const void* HalfCopies::passed_to_read(const float* g, size_t n) {
  const void* got = nullptr;
  for (const Passed16& p : passed_)
    if (p.g == g && p.n == n && p.written16) got = g;
  passed_.erase(
      std::remove_if(passed_.begin(), passed_.end(), [&](const Passed16& p) { return p.g == g; }),
      passed_.end());
  return got;
}

void HalfCopies::hold_gradient(const float* g, size_t n) {
  held_gradient_.held = g;
  held_gradient_.n = n;
  held_gradient_.ready = nullptr;
}

}  // namespace cohort::cuda
