#include "data/word_tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace cohort {

size_t count_words(std::string_view text) {
  size_t n = 0;
  for_each_word(text, [&](std::string_view) { ++n; });
  return n;
}

WordTokenizer::WordTokenizer(std::vector<std::string> words) : words_(std::move(words)) {
  if (words_.empty() || words_[0] != kUnk) throw Error("word tokenizer: id 0 must be <unk>");
  ids_.reserve(words_.size());
  for (size_t i = 0; i < words_.size(); ++i) {
    if (!ids_.emplace(words_[i], static_cast<int32_t>(i)).second) {
      throw Error(fmt::format("word tokenizer: word '{}' appears twice", words_[i]));
    }
  }
}

WordTokenizer WordTokenizer::train(std::span<const std::string_view> texts, int min_count) {
  std::unordered_map<std::string_view, long> counts;
  for (auto text : texts) for_each_word(text, [&](std::string_view w) { ++counts[w]; });
  std::vector<std::pair<std::string_view, long>> kept;
  for (const auto& [w, c] : counts) {
    if (c >= min_count && w != kUnk) kept.emplace_back(w, c);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::vector<std::string> words{kUnk};
  for (const auto& [w, c] : kept) words.emplace_back(w);
  return WordTokenizer(std::move(words));
}

std::vector<int32_t> WordTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  std::string key;
  for_each_word(text, [&](std::string_view w) {
    key.assign(w);
    auto it = ids_.find(key);
    ids.push_back(it == ids_.end() ? 0 : it->second);
  });
  return ids;
}

std::string WordTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ' ';
    out += ids[i] >= 0 && size_t(ids[i]) < words_.size() ? words_[ids[i]] : std::string(kUnk);
  }
  return out;
}

void WordTokenizer::save(const std::filesystem::path& dir) const {
  nlohmann::json j{{"kind", kind()}, {"vocab_size", vocab_size()}, {"words", words_}};
  write_file_atomic(dir / "tokenizer.json", j.dump(1));
}

}  // namespace cohort
