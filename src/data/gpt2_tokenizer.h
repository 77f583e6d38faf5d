// GPT-2 byte-level BPE, the same ids as OpenAI's encoder.py: text is split by GPT-2's
// pre-tokenizer regex (PCRE2 with Unicode properties, so \p{L}, \p{N} and the
// whitespace lookahead behave as Python's `regex` does), each piece's UTF-8 bytes are
// mapped to printable characters (bytes_to_unicode), then merged by vocab.bpe's ranks
// and looked up in encoder.json. Every byte string is encodable; decoding is exact.
#pragma once

#include <unordered_map>

#include "data/tokenizer.h"

namespace cohort {

class Gpt2Tokenizer : public Tokenizer {
 public:
  // Reads encoder.json and vocab.bpe from dir.
  explicit Gpt2Tokenizer(const std::filesystem::path& dir);
  ~Gpt2Tokenizer() override;

  std::string kind() const override { return "gpt2"; }
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  void save(const std::filesystem::path& dir) const override;

 private:
  void bpe(const std::string& piece, std::vector<int32_t>& out) const;

  std::string encoder_json_, vocab_bpe_;  // kept verbatim so save() copies them exactly
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> tokens_;             // id -> byte string (already decoded)
  std::unordered_map<std::string, int> ranks_;  // "left right" (mapped chars) -> rank
  std::string byte_char_[256];                  // bytes_to_unicode, as UTF-8
  void* regex_ = nullptr;                       // pcre2_code_8*
  // piece -> ids, as encoder.py caches; encode is therefore not thread-safe.
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace cohort
