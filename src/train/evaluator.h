// Held-out evaluation: the summed cross-entropy of every token of a stream after the
// first, each scored exactly once, B windows per forward. Windows of up to T tokens
// start every `stride` tokens and score only positions no earlier window scored: with
// stride T they are consecutive (a window's first token has no context), with a
// smaller stride every scored token after the first window sees at least T - stride
// tokens of context, at T / stride times the compute. The tail is scored too.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "model/gpt.h"

namespace cohort {

struct EvalTotals {
  double nll = 0.0;  // summed over predicted tokens, nats
  long predicted = 0;
  double mean_loss() const { return predicted ? nll / double(predicted) : 0.0; }
};

// max_predictions > 0 scores only a prefix of about that many tokens (whole windows).
// part/parts: this rank scores batches part, part + parts, ... (sum the ranks' totals).
// progress(done, total) is called after each batch when given.
EvalTotals evaluate_stream(Gpt& model, std::span<const int32_t> tokens, int B, int T, int stride,
                           long max_predictions = 0, int part = 0, int parts = 1,
                           const std::function<void(long, long)>& progress = {});

}  // namespace cohort
