// BufferPlan: collects (pointer, size) requests, then makes one Arena and points each
// request into it, so a model family plans its activations in one place without
// counting floats twice.
#pragma once

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
  Arena allocate(MemorySpace& space) {
    size_t total = 0;
    for (const auto& r : requests_) total += r.second;
    Arena arena(total, space);
    float* p = arena.data();
    for (const auto& [where, n] : requests_) {
      *where = p;
      p += n;
    }
    requests_.clear();
    return arena;
  }

 private:
  std::vector<std::pair<float**, size_t>> requests_;
};

}  // namespace cohort
