// Tokenizer: text <-> token ids, one interface for the four kinds cohort ships:
// word (a closed vocabulary with <unk>), byte (256 ids), GPT-2 byte-level BPE and
// SentencePiece (BPE or unigram). A tokenizer saves itself into a directory
// (tokenizer.json plus the files its kind needs); prepare writes one beside the shards
// and every checkpoint carries a copy, so a model is never read with the wrong ids.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cohort {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;
  virtual int vocab_size() const = 0;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  // Writes tokenizer.json and any model files into dir (which must exist).
  virtual void save(const std::filesystem::path& dir) const = 0;
};

// Reads dir/tokenizer.json; throws cohort::Error naming the file and field.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir);

// The tokenizer kinds `cohort prepare --tokenizer` accepts.
inline constexpr const char* kTokenizerKinds =
    "word | byte | gpt2 | sentencepiece-bpe | sentencepiece-unigram";

}  // namespace cohort
