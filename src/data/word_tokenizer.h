// Word tokenizer: whitespace-separated words from a closed vocabulary; anything else
// is <unk> (id 0). The vocabulary is the words seen at least min_count times in the
// training text, case kept, most frequent first (ties in byte order) so ids are
// stable. Decoding joins words with single spaces.
#pragma once

#include <unordered_map>

#include "data/tokenizer.h"

namespace cohort {

class WordTokenizer : public Tokenizer {
 public:
  static constexpr const char* kUnk = "<unk>";

  explicit WordTokenizer(std::vector<std::string> words);  // words[0] must be <unk>
  // Counts the words of `texts` and keeps those seen at least min_count times.
  static WordTokenizer train(std::span<const std::string_view> texts, int min_count);

  std::string kind() const override { return "word"; }
  int vocab_size() const override { return static_cast<int>(words_.size()); }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  void save(const std::filesystem::path& dir) const override;
  const std::vector<std::string>& words() const { return words_; }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int32_t> ids_;
};

// Calls fn(word) for each whitespace-separated word of text (ASCII whitespace).
template <typename Fn>
void for_each_word(std::string_view text, Fn&& fn) {
  auto space = [](char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
  };
  size_t i = 0, n = text.size();
  while (i < n) {
    while (i < n && space(text[i])) ++i;
    size_t j = i;
    while (j < n && !space(text[j])) ++j;
    if (j > i) fn(text.substr(i, j - i));
    i = j;
  }
}

size_t count_words(std::string_view text);

}  // namespace cohort
