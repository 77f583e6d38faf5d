// SentencePiece (BPE or unigram) through libsentencepiece. prepare trains it on the
// training split with identity normalization, whitespace kept as is and byte fallback,
// so every UTF-8 string encodes without <unk> and decodes back to itself.
#pragma once

#include <memory>

#include "data/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace cohort {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads a serialized model (the bytes of a .model file); kind is sentencepiece-bpe or
  // sentencepiece-unigram; `source` names the model in errors.
  SentencePieceTokenizer(std::string model_bytes, std::string kind, const std::string& source);
  ~SentencePieceTokenizer() override;
  // Trains on the text files in `inputs`; model_type "bpe" or "unigram".
  static std::unique_ptr<SentencePieceTokenizer> train(const std::vector<std::string>& inputs,
                                                       const std::string& model_type,
                                                       int vocab_size,
                                                       const std::filesystem::path& work_dir);

  std::string kind() const override { return kind_; }
  int vocab_size() const override;
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  void save(const std::filesystem::path& dir) const override;

 private:
  std::string kind_;
  std::string model_bytes_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace cohort
