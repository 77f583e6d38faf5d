#include "core/arena.h"

#include <utility>

namespace cohort {

Arena::Arena(size_t n_floats, MemorySpace& space) : size_(n_floats), space_(&space) {
  data_ = static_cast<float*>(space.allocate(n_floats * sizeof(float)));
}

Arena::~Arena() {
  if (data_) space_->release(data_);
}

Arena::Arena(Arena&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), space_(o.space_) {}

Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    if (data_) space_->release(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    space_ = o.space_;
  }
  return *this;
}

void Arena::zero() {
  if (size_ > 0) space_->fill_zero(data_, bytes());
}

}  // namespace cohort
