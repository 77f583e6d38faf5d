#include "model/parameter_layout.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

// Encoder blocks are GPT-2's blocks (h.N.*), so an encoder reads like a GPT-2 body.
// seq2seq: encoder blocks enc.N.* with enc_ln_f, decoder blocks dec.N.* with a
// cross-attention (ln_x, xattn.q, xattn.kv, xattn.c_proj) between self-attention and
// MLP, then ln_f; wte and wpe are shared by both sides and the output layer.
ParameterLayout::ParameterLayout(const ModelConfig& cfg) {
  const int64_t C = cfg.n_embd;
  add("wte.weight", {cfg.padded_vocab_size(), C});
  add("wpe.weight", {cfg.context_length, C});
  const std::string block = cfg.arch == "seq2seq" ? "enc" : "h";
  for (int l = 0; l < cfg.n_layer; ++l) add_block(fmt::format("{}.{}.", block, l), C, false);
  if (cfg.arch == "seq2seq") {
    add("enc_ln_f.weight", {C});
    add("enc_ln_f.bias", {C});
    for (int l = 0; l < cfg.n_decoder_layer; ++l) add_block(fmt::format("dec.{}.", l), C, true);
  }
  add("ln_f.weight", {C});
  add("ln_f.bias", {C});
  if (cfg.arch == "encoder" && cfg.n_classes > 0) {
    add("pooler.weight", {C, C});
    add("pooler.bias", {C});
    add("classifier.weight", {C, cfg.n_classes});
    add("classifier.bias", {cfg.n_classes});
  }
}

void ParameterLayout::add_block(const std::string& p, int64_t C, bool cross) {
  add(p + "ln_1.weight", {C});
  add(p + "ln_1.bias", {C});
  add(p + "attn.c_attn.weight", {C, 3 * C});
  add(p + "attn.c_attn.bias", {3 * C});
  add(p + "attn.c_proj.weight", {C, C});
  add(p + "attn.c_proj.bias", {C});
  if (cross) {
    add(p + "ln_x.weight", {C});
    add(p + "ln_x.bias", {C});
    add(p + "xattn.q.weight", {C, C});
    add(p + "xattn.q.bias", {C});
    add(p + "xattn.kv.weight", {C, 2 * C});
    add(p + "xattn.kv.bias", {2 * C});
    add(p + "xattn.c_proj.weight", {C, C});
    add(p + "xattn.c_proj.bias", {C});
  }
  add(p + "ln_2.weight", {C});
  add(p + "ln_2.bias", {C});
  add(p + "mlp.c_fc.weight", {C, 4 * C});
  add(p + "mlp.c_fc.bias", {4 * C});
  add(p + "mlp.c_proj.weight", {4 * C, C});
  add(p + "mlp.c_proj.bias", {C});
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
