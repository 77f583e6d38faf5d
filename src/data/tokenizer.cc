#include "data/tokenizer.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "data/byte_tokenizer.h"
#include "data/gpt2_tokenizer.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/word_tokenizer.h"

namespace cohort {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir) {
  const auto path = dir / "tokenizer.json";
  const std::string where = path.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", where, e.what()));
  }
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) {
    throw Error(fmt::format("{}: missing string field 'kind'", where));
  }
  const std::string kind = j["kind"];
  std::unique_ptr<Tokenizer> tok;
  if (kind == "byte") {
    tok = std::make_unique<ByteTokenizer>();
  } else if (kind == "word") {
    if (!j.contains("words") || !j["words"].is_array()) {
      throw Error(fmt::format("{}: missing array field 'words'", where));
    }
    std::vector<std::string> words;
    for (const auto& w : j["words"]) {
      if (!w.is_string()) throw Error(fmt::format("{}: 'words' must hold strings", where));
      words.push_back(w.get<std::string>());
    }
    try {
      tok = std::make_unique<WordTokenizer>(std::move(words));
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", where, e.what()));
    }
  } else if (kind == "gpt2") {
    tok = std::make_unique<Gpt2Tokenizer>(dir);
  } else if (kind == "sentencepiece-bpe" || kind == "sentencepiece-unigram") {
    if (j.contains("model") && !j["model"].is_string()) {
      throw Error(fmt::format("{}: 'model' must be a file name", where));
    }
    const std::string model = j.value("model", "sentencepiece.model");
    tok = std::make_unique<SentencePieceTokenizer>(read_file(dir / model), kind,
                                                   (dir / model).string());
  } else {
    throw Error(fmt::format("{}: kind: unknown tokenizer '{}' (expected {})", where, kind,
                            kTokenizerKinds));
  }
  if (j.contains("vocab_size") &&
      (!j["vocab_size"].is_number_integer() || j["vocab_size"].get<long>() != tok->vocab_size())) {
    throw Error(fmt::format("{}: vocab_size {} does not match the tokenizer's {} entries", where,
                            j["vocab_size"].dump(), tok->vocab_size()));
  }
  return tok;
}

}  // namespace cohort
