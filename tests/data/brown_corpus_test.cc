// The Brown benchmark split and word vocabulary: the counts the issue and Bengio et
// al. (2003) give. Needs the corpus (scripts/fetch-brown.sh; bootstrap fetches it).
#include "data/brown_corpus.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "data/word_tokenizer.h"

namespace cohort {
namespace {

TEST(BrownCorpus, BenchmarkSplitAndVocabularyCounts) {
  const auto dir = std::filesystem::path(COHORT_SOURCE_DIR) / "data/corpora/brown";
  ASSERT_TRUE(std::filesystem::exists(dir / "ca01")) << dir << ": run scripts/fetch-brown.sh";
  const BrownCorpus c = read_brown(dir);
  EXPECT_EQ(c.files.size(), 500u);
  EXPECT_EQ(c.files.front(), "ca01");
  EXPECT_EQ(c.files.back(), "cr09");
  EXPECT_EQ(c.sentences.size(), 57340u);
  EXPECT_EQ(c.words, 1161192);
  long with_slash = 0;
  for (const auto& s : c.sentences)
    for_each_word(s,
                  [&](std::string_view w) { with_slash += w.find('/') != std::string_view::npos; });
  EXPECT_EQ(with_slash, 227);

  const TextSplits s = brown_benchmark_split(c);
  EXPECT_EQ(count_words(s.train), 800001u);
  EXPECT_EQ(count_words(s.val), 200021u);
  EXPECT_EQ(count_words(s.test), 161170u);

  const std::string_view train[] = {s.train};
  const WordTokenizer tok = WordTokenizer::train(train, 4);  // seen more than 3 times
  EXPECT_EQ(tok.vocab_size(), 14114);
  const auto test_ids = tok.encode(s.test);
  const double unk = double(std::count(test_ids.begin(), test_ids.end(), 0)) / test_ids.size();
  EXPECT_NEAR(unk, 0.0918, 0.00005);
}

TEST(BrownCorpus, MissingDirectoryIsAClearError) {
  EXPECT_THROW(read_brown("/nonexistent/brown"), Error);
}

}  // namespace
}  // namespace cohort
