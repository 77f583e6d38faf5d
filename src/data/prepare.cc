#include "data/prepare.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/file_io.h"
#include "data/byte_tokenizer.h"
#include "data/gpt2_tokenizer.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/word_tokenizer.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

std::unique_ptr<Tokenizer> make_tokenizer(const TextSplits& splits, const TokenizerOptions& o,
                                          const fs::path& work) {
  if (o.kind == "word") {
    if (o.min_count < 1) throw Error("--min-count must be >= 1");
    const std::string_view texts[] = {splits.train};
    return std::make_unique<WordTokenizer>(WordTokenizer::train(texts, o.min_count));
  }
  if (o.kind == "byte") return std::make_unique<ByteTokenizer>();
  if (o.kind == "gpt2") return std::make_unique<Gpt2Tokenizer>(o.gpt2_dir);
  if (o.kind == "sentencepiece-bpe" || o.kind == "sentencepiece-unigram") {
    if (o.vocab_size < 300) throw Error("--vocab-size must be >= 300 (256 byte pieces + merges)");
    const fs::path input = work / "sentencepiece-input.txt";
    write_file_atomic(input, splits.train);
    auto tok =
        SentencePieceTokenizer::train({input.string()}, o.kind.substr(14), o.vocab_size, work);
    fs::remove(input);
    return tok;
  }
  throw Error(fmt::format("--tokenizer: unknown kind '{}' (expected {})", o.kind, kTokenizerKinds));
}

}  // namespace

fs::path start_partial_directory(const fs::path& out) {
  const fs::path partial = out.string() + ".partial";
  std::error_code ec;
  fs::remove_all(partial, ec);
  fs::create_directories(partial / "tokenizer", ec);
  if (ec) throw Error(fmt::format("{}: cannot create: {}", partial.string(), ec.message()));
  return partial;
}

void publish_directory(const fs::path& partial, const fs::path& out) {
  // Swap the finished directory into place; an older dataset there goes only now.
  std::error_code ec;
  const fs::path old = out.string() + ".old";
  fs::remove_all(old, ec);
  if (fs::exists(out)) fs::rename(out, old, ec);
  if (ec) throw Error(fmt::format("{}: cannot replace: {}", out.string(), ec.message()));
  fs::rename(partial, out, ec);
  if (ec) throw Error(fmt::format("{}: cannot rename into place: {}", out.string(), ec.message()));
  fs::remove_all(old, ec);
}

DatasetInfo prepare_dataset(const TextSplits& splits, const std::string& name,
                            const TokenizerOptions& options, const fs::path& out,
                            const std::function<void(const std::string&)>& log) {
  if (splits.train.empty()) throw Error(fmt::format("{}: the training split is empty", name));
  const fs::path partial = start_partial_directory(out);

  log(fmt::format("training the {} tokenizer on {} bytes of training text", options.kind,
                  splits.train.size()));
  auto tok = make_tokenizer(splits, options, partial);
  tok->save(partial / "tokenizer");

  DatasetInfo info;
  info.name = name;
  info.tokenizer = tok->kind();
  info.vocab_size = tok->vocab_size();
  const std::pair<const char*, const std::string*> parts[] = {
      {"train", &splits.train}, {"val", &splits.val}, {"test", &splits.test}};
  for (const auto& [split, text] : parts) {
    if (text->empty()) continue;
    const auto tokens = tok->encode(*text);
    const long words = long(count_words(*text));
    info.splits[split] = write_split(partial, split, tokens, words);
    std::string extra;
    if (options.kind == "word") {
      const long unk = long(std::count(tokens.begin(), tokens.end(), 0));
      extra = fmt::format(", {:.2f}% <unk>",
                          100.0 * double(unk) / double(std::max<size_t>(1, tokens.size())));
    }
    log(fmt::format("{:<5} {:>10} words -> {:>10} tokens ({:.3f} tokens/word{})", split, words,
                    tokens.size(), double(tokens.size()) / double(std::max(1L, words)), extra));
  }
  write_dataset_info(partial, info);
  sync_directory(partial);

  publish_directory(partial, out);
  log(fmt::format("{}: {} tokenizer, vocabulary {}", out.string(), info.tokenizer,
                  info.vocab_size));
  return info;
}

}  // namespace cohort
