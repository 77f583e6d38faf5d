// The dropout multiplier of one element on the device: the same Philox draw as the
// CPU's DropoutStream (backend/cpu/dropout_mask.h), element `index` of sample `sample`
// using word index%4 of block philox({index/4, sample, site, step}, seed).
#pragma once

#include "backend/backend.h"
#include "backend/cuda/cuda_warp.cuh"  // __device__ in the warp emulator's host build
#include "core/philox.h"

namespace cohort::cuda {

__device__ inline float dropout_multiplier(const DropoutKey& key, uint32_t sample, uint64_t index) {
  const PhiloxKey k{static_cast<uint32_t>(key.seed), static_cast<uint32_t>(key.seed >> 32)};
  const PhiloxCounter block =
      philox4x32({static_cast<uint32_t>(index >> 2), sample, key.site, key.step}, k);
  const float u = uniform_from_bits(block[index & 3]);
  return u < key.p ? 0.0f : 1.0f / (1.0f - key.p);
}

}  // namespace cohort::cuda
