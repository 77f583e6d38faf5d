#include "model/model_config.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

void ModelConfig::validate(const std::string& where) const {
  auto positive = [&](const char* field, int v) {
    if (v <= 0) throw Error(fmt::format("{}: model.{} must be positive, got {}", where, field, v));
  };
  if (arch != "gpt" && arch != "encoder" && arch != "seq2seq") {
    throw Error(
        fmt::format("{}: model.arch must be gpt, encoder or seq2seq, got '{}'", where, arch));
  }
  if (n_classes < 0 || (n_classes > 0 && arch != "encoder")) {
    throw Error(fmt::format("{}: model.n_classes ({}) needs model.arch = encoder and must be >= 0",
                            where, n_classes));
  }
  if (arch == "seq2seq") {
    positive("n_decoder_layer", n_decoder_layer);
  } else if (n_decoder_layer != 0) {
    throw Error(fmt::format("{}: model.n_decoder_layer is for model.arch = seq2seq", where));
  }
  positive("vocab_size", vocab_size);
  positive("context_length", context_length);
  positive("n_layer", n_layer);
  positive("n_head", n_head);
  positive("n_embd", n_embd);
  if (n_embd % n_head != 0) {
    throw Error(fmt::format("{}: model.n_embd ({}) must be divisible by model.n_head ({})", where,
                            n_embd, n_head));
  }
  if (!(dropout >= 0.0f && dropout < 1.0f)) {
    throw Error(fmt::format("{}: model.dropout must be in [0, 1), got {}", where, dropout));
  }
}

std::string ModelConfig::shape() const {
  std::string s = fmt::format("L={} NH={} C={} V={} context={}", n_layer, n_head, n_embd,
                              vocab_size, context_length);
  if (arch == "encoder") s = fmt::format("encoder {} classes={}", s, n_classes);
  if (arch == "seq2seq") s = fmt::format("seq2seq {} decoder_layers={}", s, n_decoder_layer);
  return s;
}

}  // namespace cohort
