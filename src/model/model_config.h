// The shape of a GPT: what a checkpoint's config.json holds and what every rank must
// agree on. Names follow Hugging Face's GPT2Config (n_layer, n_head, n_embd, n_positions).
#pragma once

#include <cstdint>
#include <string>

namespace cohort {

struct ModelConfig {
  // gpt: decoder-only LM (HF GPT-2 names). encoder: BERT-style, bidirectional, with a
  // tied masked-LM head and, when n_classes > 0, a pooler and classifier.
  // seq2seq: the original Transformer's encoder-decoder with one shared vocabulary.
  std::string arch = "gpt";
  int n_classes = 0;         // encoder: classifier outputs (0: no classification head)
  int n_decoder_layer = 0;   // seq2seq: decoder blocks (n_layer is the encoder's)
  int vocab_size = 256;      // V: real vocabulary
  int context_length = 256;  // maxT: rows of the position table (HF n_positions)
  int n_layer = 4;           // L
  int n_head = 4;            // NH
  int n_embd = 128;          // C
  float dropout = 0.0f;      // embeddings, attention probabilities, residual branches

  // Vp: the token table padded to a multiple of 128 rows so the LM head matmul has a
  // friendly shape. Padding rows stay zero and never receive probability.
  int padded_vocab_size() const { return (vocab_size + 127) / 128 * 128; }
  int head_size() const { return n_embd / n_head; }
  // "L=4 NH=4 C=128 V=256 context=256" (plus the arch and its extras when not gpt):
  // what must match for parameters to fit.
  std::string shape() const;

  // Throws cohort::Error naming the field ("model.n_head: ...") when the config cannot
  // work. `where` prefixes the message (a file name, or "config").
  void validate(const std::string& where = "config") const;
};

}  // namespace cohort
