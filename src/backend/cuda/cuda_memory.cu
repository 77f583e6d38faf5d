#include <fmt/format.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_memory.h"

namespace cohort::cuda {

void* DeviceMemory::allocate(size_t bytes) {
  void* p = nullptr;
  // cudaMalloc aligns to at least 256 bytes.
  const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 256 : bytes);
  if (e != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();  // clear the sticky-free allocation error
    cudaMemGetInfo(&free_b, &total_b);
    throw Error(fmt::format("GPU out of memory: {:.2f} GiB asked, {:.2f} of {:.2f} GiB free ({})",
                            double(bytes) / (1 << 30), double(free_b) / (1 << 30),
                            double(total_b) / (1 << 30), cudaGetErrorString(e)));
  }
  COHORT_CUDA_CHECK(cudaMemset(p, 0, bytes == 0 ? 256 : bytes));
  return p;
}

void DeviceMemory::release(void* p) noexcept {
  if (p) cudaFree(p);
}

void DeviceMemory::fill_zero(void* dst, size_t bytes) {
  if (bytes) COHORT_CUDA_CHECK(cudaMemset(dst, 0, bytes));
}

void DeviceMemory::copy_from_host(void* dst, const void* src, size_t bytes) {
  if (bytes) COHORT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void DeviceMemory::copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) COHORT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void DeviceMemory::copy_within(void* dst, const void* src, size_t bytes) {
  if (bytes) COHORT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  COHORT_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  COHORT_CUDA_CHECK(cudaMemset(ptr_, 0, bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
  }
  return *this;
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  COHORT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  COHORT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

}  // namespace cohort::cuda
