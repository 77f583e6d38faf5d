// Decoding a Seq2SeqModel: beam search with the GNMT length penalty (Wu et al. 2016),
//   score(y) = log p(y | x) / ((5 + |y|) / 6)^alpha,
// where |y| counts the target tokens and EOS. Each step keeps the `beam` best
// continuations; one that is EOS ends its hypothesis. The search stops at max_len
// tokens, or once `beam` hypotheses have ended and no live one can still score better
// than the beam-th of them; it returns the best ended one. beam = 1 is greedy decoding.
#pragma once

#include <cstdint>
#include <vector>

#include "data/task_dataset.h"
#include "model/seq2seq_model.h"

namespace cohort {

struct BeamOptions {
  int beam = 4;
  float length_penalty = 0.6f;  // alpha; 0: raw log-probability
  int max_len = 0;              // target tokens, EOS included (0: the model's context)
};

// Needs model.plan(B >= beam, S >= source + 1, T >= max_len). Returns the target ids
// (without BOS/EOS).
std::vector<int32_t> beam_search(Seq2SeqModel& model, const TaskInfo& info,
                                 const std::vector<int32_t>& source, const BeamOptions& options);

}  // namespace cohort
