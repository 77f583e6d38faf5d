// BLEU as sacreBLEU computes it: the 13a tokenizer, and corpus BLEU on examples whose
// n-gram counts are worked out by hand in the comments.
#include "train/bleu.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cohort {
namespace {

TEST(Tokenize13a, SplitsPunctuationAsMteval) {
  EXPECT_EQ(tokenize_13a("Hello, world."), "Hello , world .");
  // $ splits; the period inside 3.50 stays; the comma after a digit splits because a
  // space follows it; a dash after a digit splits.
  EXPECT_EQ(tokenize_13a("It costs $3.50, not 4-5 "), "It costs $ 3.50 , not 4 - 5");
  EXPECT_EQ(tokenize_13a("&quot;Sí&quot; dijo."), "\" Sí \" dijo .");
  EXPECT_EQ(tokenize_13a("don't"), "don't");  // the apostrophe is not in 13a's set
}

TEST(CorpusBleu, IdenticalIsHundred) {
  const auto b = corpus_bleu({"the cat sat on the mat ."}, {"the cat sat on the mat ."});
  EXPECT_NEAR(b.score, 100.0, 1e-9);
  EXPECT_EQ(b.brevity_penalty, 1.0);
}

TEST(CorpusBleu, HandCheckedSentence) {
  // hyp "the cat sat on the mat", ref "the cat is on the mat" (6 tokens each, BP 1):
  // 1-grams 5/6 (all but sat), 2-grams 3/5 (the cat, on the, the mat), 3-grams 1/4
  // (on the mat), 4-grams 0/3 -> 'exp' smoothing 100/(2*3). BLEU = (83.33 * 60 * 25 *
  // 16.67)^(1/4) = 37.9918.
  const auto b = corpus_bleu({"the cat sat on the mat"}, {"the cat is on the mat"});
  EXPECT_NEAR(b.precisions[0], 500.0 / 6, 1e-9);
  EXPECT_NEAR(b.precisions[1], 60.0, 1e-9);
  EXPECT_NEAR(b.precisions[2], 25.0, 1e-9);
  EXPECT_NEAR(b.precisions[3], 100.0 / 6, 1e-9);
  EXPECT_NEAR(b.score, 37.9918, 1e-4);
}

TEST(CorpusBleu, BrevityPenaltyAndCorpusCounts) {
  // hyp "the cat sat on" (4 tokens), ref 6 tokens: every n-gram matches (4/4, 3/3, 2/2,
  // 1/1), BP = exp(1 - 6/4) = 0.60653 -> 60.653.
  const auto b = corpus_bleu({"the cat sat on"}, {"the cat sat on the mat"});
  EXPECT_NEAR(b.brevity_penalty, std::exp(-0.5), 1e-12);
  EXPECT_NEAR(b.score, 100.0 * std::exp(-0.5), 1e-9);
  // Counts add over the corpus before the precisions: two sentences, 10 tokens against
  // 12, so BP = exp(1 - 12/10).
  const auto c = corpus_bleu({"the cat sat on", "the cat sat on the mat"},
                             {"the cat sat on the mat", "the cat sat on the mat"});
  EXPECT_NEAR(c.brevity_penalty, std::exp(1.0 - 12.0 / 10.0), 1e-12);
  EXPECT_NEAR(c.score, 100.0 * std::exp(1.0 - 12.0 / 10.0), 1e-9);
}

TEST(CorpusBleu, NoFourGramsAtAllIsZero) {
  // 2 tokens have no 3-grams: sacreBLEU stops and scores 0.
  EXPECT_EQ(corpus_bleu({"the cat"}, {"the cat sat on the mat"}).score, 0.0);
  // Clipping: "the the the the" against one "the" counts 1 of 4 unigrams.
  EXPECT_NEAR(corpus_bleu({"the the the the"}, {"the cat"}).precisions[0], 25.0, 1e-9);
}

}  // namespace
}  // namespace cohort
