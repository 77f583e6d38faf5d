#include "model/model_layout.h"

#include <fmt/format.h>

namespace cohort {

// Encoder blocks are GPT-2's blocks (h.N.*), so an encoder reads like a GPT-2 body.
// seq2seq: encoder blocks enc.N.* with enc_ln_f, decoder blocks dec.N.* with a
// cross-attention (ln_x, xattn.q, xattn.kv, xattn.c_proj) between self-attention and
// MLP, then ln_f; wte and wpe are shared by both sides and the output layer.
ParameterLayout model_layout(const ModelConfig& cfg) {
  ParameterLayout layout;
  const int64_t C = cfg.n_embd;
  layout.add("wte.weight", {cfg.padded_vocab_size(), C});
  layout.add("wpe.weight", {cfg.context_length, C});
  const std::string block = cfg.arch == "seq2seq" ? "enc" : "h";
  for (int l = 0; l < cfg.n_layer; ++l)
    add_block_tensors(layout, fmt::format("{}.{}.", block, l), C, false);
  if (cfg.arch == "seq2seq") {
    layout.add("enc_ln_f.weight", {C});
    layout.add("enc_ln_f.bias", {C});
    for (int l = 0; l < cfg.n_decoder_layer; ++l)
      add_block_tensors(layout, fmt::format("dec.{}.", l), C, true);
  }
  layout.add("ln_f.weight", {C});
  layout.add("ln_f.bias", {C});
  if (cfg.arch == "encoder" && cfg.n_classes > 0) {
    layout.add("pooler.weight", {C, C});
    layout.add("pooler.bias", {C});
    layout.add("classifier.weight", {C, cfg.n_classes});
    layout.add("classifier.bias", {cfg.n_classes});
  }
  return layout;
}

void add_block_tensors(ParameterLayout& layout, const std::string& p, int64_t C, bool cross) {
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    layout.add(p + name, std::move(shape));
  };
  add("ln_1.weight", {C});
  add("ln_1.bias", {C});
  add("attn.c_attn.weight", {C, 3 * C});
  add("attn.c_attn.bias", {3 * C});
  add("attn.c_proj.weight", {C, C});
  add("attn.c_proj.bias", {C});
  if (cross) {
    add("ln_x.weight", {C});
    add("ln_x.bias", {C});
    add("xattn.q.weight", {C, C});
    add("xattn.q.bias", {C});
    add("xattn.kv.weight", {C, 2 * C});
    add("xattn.kv.bias", {2 * C});
    add("xattn.c_proj.weight", {C, C});
    add("xattn.c_proj.bias", {C});
  }
  add("ln_2.weight", {C});
  add("ln_2.bias", {C});
  add("mlp.c_fc.weight", {C, 4 * C});
  add("mlp.c_fc.bias", {4 * C});
  add("mlp.c_proj.weight", {4 * C, C});
  add("mlp.c_proj.bias", {C});
}

}  // namespace cohort
