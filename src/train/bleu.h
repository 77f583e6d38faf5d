// Corpus BLEU as sacreBLEU computes it by default (Post 2018): the 13a tokenizer
// (mteval-v13a's), n-grams up to 4 clipped by the single reference, the brevity
// penalty over the whole corpus, and the 'exp' smoothing of zero counts; case kept.
#pragma once

#include <string>
#include <vector>

namespace cohort {

// mteval-v13a tokenization (sacrebleu.tokenizers.tokenizer_13a): unescapes &quot;
// &amp; &lt; &gt;, splits off punctuation (periods and commas not next to digits,
// dashes after digits), collapses whitespace.
std::string tokenize_13a(const std::string& line);

struct BleuScore {
  double score = 0.0;                   // 0..100
  double precisions[4] = {0, 0, 0, 0};  // percent
  double brevity_penalty = 0.0;
  long sys_len = 0, ref_len = 0;
};

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::string>& references);

}  // namespace cohort
