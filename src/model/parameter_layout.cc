#include "model/parameter_layout.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

ParameterLayout::ParameterLayout(const ModelConfig& cfg) {
  const int64_t C = cfg.n_embd;
  add("wte.weight", {cfg.padded_vocab_size(), C});
  add("wpe.weight", {cfg.context_length, C});
  for (int l = 0; l < cfg.n_layer; ++l) {
    const std::string p = fmt::format("h.{}.", l);
    add(p + "ln_1.weight", {C});
    add(p + "ln_1.bias", {C});
    add(p + "attn.c_attn.weight", {C, 3 * C});
    add(p + "attn.c_attn.bias", {3 * C});
    add(p + "attn.c_proj.weight", {C, C});
    add(p + "attn.c_proj.bias", {C});
    add(p + "ln_2.weight", {C});
    add(p + "ln_2.bias", {C});
    add(p + "mlp.c_fc.weight", {C, 4 * C});
    add(p + "mlp.c_fc.bias", {4 * C});
    add(p + "mlp.c_proj.weight", {4 * C, C});
    add(p + "mlp.c_proj.bias", {C});
  }
  add("ln_f.weight", {C});
  add("ln_f.bias", {C});
}

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

}  // namespace cohort
