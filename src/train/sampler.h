// Next-token sampling for generation: temperature, then top-k, then top-p (nucleus),
// drawn with Philox keyed by (seed, draw index) so a seed reproduces a sample.
// temperature 0 is greedy decoding.
#pragma once

#include <cstdint>

namespace cohort {

struct SamplingOptions {
  float temperature = 0.8f;
  int top_k = 0;        // 0: no limit
  float top_p = 0.95f;  // 1: no limit
  uint64_t seed = 1337;
};

// logits: V values of one position.
int32_t sample_token(const float* logits, int V, const SamplingOptions& options, uint64_t draw);

}  // namespace cohort
