#include "data/brown_corpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "core/error.h"
#include "core/file_io.h"
#include "data/utf8.h"
#include "data/word_tokenizer.h"

namespace cohort {

namespace {
constexpr int kBrownFiles = 500;
constexpr long kTrainWords = 800'000, kValEndWords = 1'000'000;
}  // namespace

BrownCorpus read_brown(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error(fmt::format(
        "{}: Brown corpus directory not found (scripts/fetch-brown.sh fetches it)", dir.string()));
  }
  BrownCorpus c;
  const std::regex name("c[a-r][0-9][0-9]");
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (std::regex_match(f, name)) c.files.push_back(f);
  }
  std::sort(c.files.begin(), c.files.end());
  if (c.files.size() != kBrownFiles) {
    throw Error(fmt::format("{}: {} corpus files ca01..cr09, expected {}: an incomplete download?",
                            dir.string(), c.files.size(), kBrownFiles));
  }
  for (size_t fi = 0; fi < c.files.size(); ++fi) {
    const auto path = dir / c.files[fi];
    const std::string text = read_file(path);
    if (const size_t bad = find_invalid_utf8(text); bad != std::string::npos) {
      throw Error(fmt::format("{}: invalid UTF-8 at byte {}", path.string(), bad));
    }
    size_t pos = 0;
    int file_sentences = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string sentence;
      int words = 0;
      for_each_word(std::string_view(text).substr(pos, end - pos), [&](std::string_view tok) {
        const size_t slash = tok.rfind('/');
        if (slash == std::string_view::npos || slash == 0) {
          throw Error(fmt::format("{}: token '{}' is not word/TAG", path.string(), tok));
        }
        if (words++) sentence += ' ';
        sentence += tok.substr(0, slash);
      });
      if (words > 0) {
        c.sentences.push_back(std::move(sentence));
        c.sentence_words.push_back(words);
        c.sentence_file.push_back(int(fi));
        c.words += words;
        ++file_sentences;
      }
      pos = end + 1;
    }
    if (file_sentences == 0) throw Error(fmt::format("{}: no sentences", path.string()));
  }
  return c;
}

TextSplits brown_benchmark_split(const BrownCorpus& corpus) {
  TextSplits s;
  long running = 0;
  for (size_t i = 0; i < corpus.sentences.size(); ++i) {
    std::string& out = running < kTrainWords ? s.train : running < kValEndWords ? s.val : s.test;
    out += corpus.sentences[i];
    out += '\n';
    running += corpus.sentence_words[i];
  }
  return s;
}

}  // namespace cohort
