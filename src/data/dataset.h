// A prepared dataset directory, as `cohort prepare` writes it:
//   DIR/dataset.json       name, tokenizer kind, vocab size, per split: tokens, words,
//                          shard files and a fingerprint of the tokens
//   DIR/tokenizer/         the tokenizer (tokenizer.json + its files)
//   DIR/{split}_NNNNNN.bin token shards (token_shard.h)
// Word counts let eval report per-word perplexity for any tokenizer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace cohort {

struct SplitInfo {
  long tokens = 0;
  long words = 0;  // whitespace-separated words of the split's text
  std::vector<std::string> shards;
  std::string fingerprint;  // FNV-1a 64 of the tokens, hex
};

struct DatasetInfo {
  std::string name;
  std::string tokenizer;  // kind
  int vocab_size = 0;
  std::map<std::string, SplitInfo> splits;
};

inline constexpr long kTokensPerShard = 100'000'000;

// Reads DIR/dataset.json; throws cohort::Error naming the file and field.
DatasetInfo read_dataset_info(const std::filesystem::path& dir);
void write_dataset_info(const std::filesystem::path& dir, const DatasetInfo& info);

// Writes a split's shards into dir and returns its description.
SplitInfo write_split(const std::filesystem::path& dir, const std::string& split,
                      std::span<const int32_t> tokens, long words);

// All tokens of a split, shards concatenated; checks counts, fingerprint and ids < vocab.
std::vector<int32_t> load_split(const std::filesystem::path& dir, const DatasetInfo& info,
                                const std::string& split);

std::string token_fingerprint(std::span<const int32_t> tokens);

}  // namespace cohort
