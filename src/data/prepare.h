// prepare: split texts -> tokenizer -> token shards, the work behind `cohort prepare`.
// The output directory is built under DIR.partial and renamed into place at the end,
// so an interrupted prepare never leaves a directory that looks complete.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "data/brown_corpus.h"
#include "data/dataset.h"

namespace cohort {

struct TokenizerOptions {
  std::string kind = "word";  // kTokenizerKinds
  int min_count = 4;          // word: keep words seen at least this often in train
  int vocab_size = 8192;      // sentencepiece
  std::filesystem::path gpt2_dir = "data/gpt2-bpe";  // encoder.json + vocab.bpe
};

// OUT.partial, emptied, with a tokenizer/ subdirectory: where a prepare builds.
std::filesystem::path start_partial_directory(const std::filesystem::path& out);
// Fsync'd OUT.partial replaces OUT (an older OUT is removed only once it has).
void publish_directory(const std::filesystem::path& partial, const std::filesystem::path& out);

// Trains the tokenizer on splits.train, encodes the three splits (empty ones are
// skipped), writes shards, tokenizer/ and dataset.json. `log` receives progress lines.
DatasetInfo prepare_dataset(const TextSplits& splits, const std::string& name,
                            const TokenizerOptions& options, const std::filesystem::path& out,
                            const std::function<void(const std::string&)>& log);

}  // namespace cohort
