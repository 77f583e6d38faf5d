// BufferPlan: collects (pointer, size) requests, then makes one Arena and points each
// request into it, so a model family plans its activations in one place without
// counting floats twice. Each buffer starts on a kAlignFloats boundary, as a buffer of
// its own from cudaMalloc would: vectorized kernels (float4 loads) and cuBLASLt's
// default heuristics assume it, whatever the shape (an odd B x T would otherwise shift
// every later buffer by 4 bytes).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/arena.h"

namespace cohort {

class BufferPlan {
 public:
  void add(float** where, size_t n) { requests_.emplace_back(where, n); }
  // int32 ids share the arena (same size as float).
  void add(int32_t** where, size_t n) {
    static_assert(sizeof(int32_t) == sizeof(float));
    requests_.emplace_back(reinterpret_cast<float**>(where), n);
  }
  // *where is set to *of once allocated: one buffer under two names (of was added first).
  void alias(float** where, float** of) { aliases_.emplace_back(where, of); }
  // Takes back add(where, ...): a buffer a caller's plan() asked for that another shares.
  void unplan(float** where) {
    std::erase_if(requests_, [&](const auto& r) { return r.first == where; });
  }
  static constexpr size_t kAlignFloats = 64;  // 256 bytes
  Arena allocate(MemorySpace& space) {
    size_t total = 0;
    for (const auto& r : requests_) total += padded(r.second);
    Arena arena(total, space);
    float* p = arena.data();
    for (const auto& [where, n] : requests_) {
      *where = p;
      p += padded(n);
    }
    for (const auto& [where, of] : aliases_) *where = *of;
    requests_.clear();
    aliases_.clear();
    return arena;
  }

 private:
  static size_t padded(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }
  std::vector<std::pair<float**, size_t>> requests_;
  std::vector<std::pair<float**, float**>> aliases_;
};

}  // namespace cohort
