// ParameterLayout: the flat layout. Every parameter tensor's name, shape and offset in the
// one flat fp32 buffer (and the gradient buffer, which mirrors it). Optimizer ranges,
// communication buckets, ZeRO shards and checkpoints all read this one table, so it lives
// in core: they need nothing of the model to read it. Each model family builds its table
// in model/ (model_layout.h); the names are the family's Hugging Face names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cohort {

struct ParameterTensor {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;  // in floats, into the flat buffer
  size_t numel = 0;
  bool decay = false;  // AdamW weight decay applies (2-D weights only)
};

class ParameterLayout {
 public:
  // Appends a tensor after the last one (offsets are contiguous, in order of addition).
  void add(std::string name, std::vector<int64_t> shape);

  const std::vector<ParameterTensor>& tensors() const { return tensors_; }
  size_t total() const { return total_; }
  const ParameterTensor& at(const std::string& name) const;  // throws if absent
  const ParameterTensor* find(const std::string& name) const;
  // The tensor whose [offset, offset + numel) holds flat index i (i < total()).
  const ParameterTensor& containing(size_t i) const;

 private:
  std::vector<ParameterTensor> tensors_;
  size_t total_ = 0;
};

}  // namespace cohort
