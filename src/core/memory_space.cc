#include "core/memory_space.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace cohort {
namespace {

class HostMemory final : public MemorySpace {
 public:
  bool is_host() const override { return true; }
  void* allocate(size_t bytes) override {
    const size_t rounded = ((bytes + 255) / 256) * 256;
    void* p = std::aligned_alloc(256, rounded == 0 ? 256 : rounded);
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, rounded == 0 ? 256 : rounded);
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  void fill_zero(void* dst, size_t bytes) override {
    if (bytes) std::memset(dst, 0, bytes);
  }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy_within(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
};

}  // namespace

MemorySpace& host_memory() {
  static HostMemory host;
  return host;
}

const float* host_readable(MemorySpace& space, const float* src, size_t n,
                           std::vector<float>& scratch) {
  if (space.is_host()) return src;
  scratch.resize(n);
  space.copy_to_host(scratch.data(), src, n * sizeof(float));
  return scratch.data();
}

}  // namespace cohort
