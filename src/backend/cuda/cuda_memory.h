// Device memory for the CUDA backend and its tests: the backend's MemorySpace, an owning
// buffer, and host <-> device copies.
#pragma once

#include <cstddef>
#include <vector>

#include "core/memory_space.h"

namespace cohort::cuda {

// The current device's memory. Copies are synchronous (cudaMemcpy on the legacy
// stream, which every kernel of this backend also uses), so a host read after a copy
// sees every op issued before it.
class DeviceMemory final : public MemorySpace {
 public:
  bool is_host() const override { return false; }
  void* allocate(size_t bytes) override;
  void release(void* p) noexcept override;
  void fill_zero(void* dst, size_t bytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_within(void* dst, const void* src, size_t bytes) override;
};

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);  // zero-filled
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);

template <typename T>
DeviceBuffer upload(const std::vector<T>& v) {
  DeviceBuffer b(v.size() * sizeof(T));
  copy_to_device(b.as<void>(), v.data(), v.size() * sizeof(T));
  return b;
}
template <typename T>
std::vector<T> download(const DeviceBuffer& b, size_t n) {
  std::vector<T> v(n);
  copy_to_host(v.data(), b.as<void>(), n * sizeof(T));
  return v;
}

}  // namespace cohort::cuda
