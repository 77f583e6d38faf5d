// Arena: one allocation per buffer class (parameters, gradients, optimizer state,
// activations), in a MemorySpace: host memory, or a backend's device memory.
// Everything is planned at start-up; a training step never allocates. Arena owns its
// memory; the structs that point into it do not.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/memory_space.h"

namespace cohort {

class Arena {
 public:
  Arena() = default;
  explicit Arena(size_t n_floats, MemorySpace& space = host_memory());  // zero-filled
  ~Arena();
  Arena(Arena&& o) noexcept;
  Arena& operator=(Arena&& o) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  // The same memory seen as int32 (token ids share an activation arena with floats).
  int32_t* ints(size_t float_offset) { return reinterpret_cast<int32_t*>(data_ + float_offset); }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(float); }
  MemorySpace& space() const { return *space_; }
  void zero();

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
  MemorySpace* space_ = &host_memory();
};

}  // namespace cohort
