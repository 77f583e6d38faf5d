#include "core/arena.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace cohort {

void Arena::FreeDeleter::operator()(float* p) const { std::free(p); }

Arena::Arena(size_t n_floats) : size_(n_floats) {
  const size_t bytes = ((n_floats * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  data_.reset(static_cast<float*>(p));
  zero();
}

void Arena::zero() {
  if (size_ > 0) std::memset(data_.get(), 0, bytes());
}

}  // namespace cohort
