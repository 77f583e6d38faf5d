// MemorySpace: the memory a backend's ops read and write. The CPU backend's is host
// memory; the CUDA backend's is the GPU's. Arenas allocate in one, and host code reaches
// it only through these copies, so a model written against them runs unchanged on
// either (tests/backend/guarded_backend.h holds the models to that on the CPU).
#pragma once

#include <cstddef>
#include <vector>

namespace cohort {

class MemorySpace {
 public:
  virtual ~MemorySpace() = default;
  // Pointers into this space may be dereferenced by host code.
  virtual bool is_host() const = 0;
  // Zero-filled, aligned to 256 bytes; throws std::bad_alloc (or cohort::Error naming
  // the device) when there is no room. bytes may be 0.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  virtual void fill_zero(void* dst, size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;
  // Both pointers in this space; the ranges must not overlap.
  virtual void copy_within(void* dst, const void* src, size_t bytes) = 0;
  // [dst, dst + bytes) reads as zeros afterwards, and a space may take its memory back
  // until it is written again (the host's: whole pages returned to the system, the
  // partial pages at the ends zeroed). Default: fill_zero.
  virtual void discard(void* dst, size_t bytes) { fill_zero(dst, bytes); }
};

// The process's host memory (aligned_alloc, memcpy, memset).
MemorySpace& host_memory();

// Floats [src, src + n) of `space` for host code to read: src itself where the space is
// the host's, else a copy in `scratch` (which the result points into).
const float* host_readable(MemorySpace& space, const float* src, size_t n,
                           std::vector<float>& scratch);

}  // namespace cohort
