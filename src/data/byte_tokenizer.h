// Byte tokenizer: each UTF-8 byte is its own id (256). No training, no unknowns.
#pragma once

#include "data/tokenizer.h"

namespace cohort {

class ByteTokenizer : public Tokenizer {
 public:
  std::string kind() const override { return "byte"; }
  int vocab_size() const override { return 256; }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  void save(const std::filesystem::path& dir) const override;
};

}  // namespace cohort
