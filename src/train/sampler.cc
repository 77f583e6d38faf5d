#include "train/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/philox.h"

namespace cohort {

int32_t sample_token(const float* logits, int V, const SamplingOptions& o, uint64_t draw) {
  if (o.temperature <= 0.0f) return int32_t(std::max_element(logits, logits + V) - logits);
  std::vector<int32_t> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  // Candidates by descending logit (ties by id, so the order is deterministic).
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  const int k = o.top_k > 0 ? std::min(o.top_k, V) : V;
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), by_logit);
  ids.resize(k);
  std::vector<double> p(k);
  const double top = logits[ids[0]];
  double sum = 0.0;
  for (int i = 0; i < k; ++i)
    sum += p[i] = std::exp((double(logits[ids[i]]) - top) / o.temperature);
  int keep = k;
  if (o.top_p < 1.0f) {
    double cum = 0.0;
    for (int i = 0; i < k; ++i) {
      cum += p[i] / sum;
      if (cum >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  const double kept = std::accumulate(p.begin(), p.begin() + keep, 0.0);
  const auto bits = philox4x32({uint32_t(draw), uint32_t(draw >> 32), 0x5A3Bu, 0u},
                               {uint32_t(o.seed), uint32_t(o.seed >> 32)});
  const double u = ((uint64_t(bits[0]) << 21) ^ bits[1]) * 0x1p-53 * kept;
  double cum = 0.0;
  for (int i = 0; i < keep; ++i) {
    cum += p[i];
    if (u < cum) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace cohort
