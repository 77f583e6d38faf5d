#include "core/parameter_layout.h"

#include <algorithm>

#include "core/error.h"

namespace cohort {

void ParameterLayout::add(std::string name, std::vector<int64_t> shape) {
  ParameterTensor t;
  t.numel = 1;
  for (int64_t d : shape) t.numel *= static_cast<size_t>(d);
  t.decay = shape.size() >= 2;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.offset = total_;
  total_ += t.numel;
  tensors_.push_back(std::move(t));
}

const ParameterTensor* ParameterLayout::find(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const ParameterTensor& ParameterLayout::at(const std::string& name) const {
  const ParameterTensor* t = find(name);
  COHORT_CHECK(t != nullptr) << "no parameter named " << name;
  return *t;
}

const ParameterTensor& ParameterLayout::containing(size_t i) const {
  COHORT_CHECK(i < total_) << "flat index " << i << " past the layout's " << total_;
  const auto it = std::upper_bound(tensors_.begin(), tensors_.end(), i,
                                   [](size_t v, const ParameterTensor& t) { return v < t.offset; });
  return *(it - 1);
}

}  // namespace cohort
