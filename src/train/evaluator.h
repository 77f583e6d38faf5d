// Held-out evaluation: the summed cross-entropy of every token of a stream after the
// first, in consecutive windows of up to T tokens (each window starts from an empty
// context), B windows per forward. The tail that does not fill a window is scored
// too, so a split's every token counts and perplexities compare across T.
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
// progress(done, total) is called after each batch when given.
EvalTotals evaluate_stream(Gpt& model, std::span<const int32_t> tokens, int B, int T,
                           long max_predictions = 0,
                           const std::function<void(long, long)>& progress = {});

}  // namespace cohort
