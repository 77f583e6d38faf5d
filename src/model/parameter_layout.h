// ParameterLayout: every parameter tensor's name, shape and offset in the one flat fp32
// buffer. Optimizer ranges, communication buckets, ZeRO shards and checkpoints all read
// this one table.
//
// Names and shapes are Hugging Face GPT-2's (`wte.weight`, `h.0.attn.c_attn.weight`,
// ...). Linear weights are stored (in, out) exactly as HF's Conv1D stores them, so a
// checkpoint tensor maps one to one, without a transpose. Two differences, both
// handled by the exporters: wte has Vp rows here (HF: V; the padding rows are zero),
// and there is no separate lm_head (tied to wte, as in HF).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.h"

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
  explicit ParameterLayout(const ModelConfig& config);

  const std::vector<ParameterTensor>& tensors() const { return tensors_; }
  size_t total() const { return total_; }
  const ParameterTensor& at(const std::string& name) const;  // throws if absent
  const ParameterTensor* find(const std::string& name) const;

 private:
  void add(std::string name, std::vector<int64_t> shape);
  // One pre-LN block's tensors under prefix p; cross adds a cross-attention.
  void add_block(const std::string& p, int64_t C, bool cross);
  std::vector<ParameterTensor> tensors_;
  size_t total_ = 0;
};

}  // namespace cohort
