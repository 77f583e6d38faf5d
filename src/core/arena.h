// Arena: one 64-byte-aligned allocation per buffer class (parameters, gradients,
// optimizer state, activations). Everything is planned at start-up; a training step
// never allocates. Arena owns its memory; the structs that point into it do not.
#pragma once

#include <cstddef>
#include <memory>

namespace cohort {

class Arena {
 public:
  Arena() = default;
  explicit Arena(size_t n_floats);  // zero-filled
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(float); }
  void zero();

 private:
  struct FreeDeleter {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, FreeDeleter> data_;
  size_t size_ = 0;
};

}  // namespace cohort
