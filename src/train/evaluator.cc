#include "train/evaluator.h"

#include <vector>

namespace cohort {

EvalTotals evaluate_stream(Gpt& model, std::span<const int32_t> tokens, int B, int T,
                           long max_predictions, const std::function<void(long, long)>& progress) {
  EvalTotals totals;
  if (tokens.size() < 2) return totals;
  const long predictable = long(tokens.size()) - 1;
  long windows = predictable / T, tail = predictable - windows * T;
  if (max_predictions > 0 && max_predictions < predictable) {
    windows = std::min(windows, (max_predictions + T - 1) / T);
    tail = windows * T >= max_predictions ? 0 : std::min(tail, max_predictions - windows * T);
  }
  std::vector<int32_t> inputs(size_t(B) * T), targets(size_t(B) * T);
  auto run = [&](long first_window, int rows, int len) {
    for (int b = 0; b < rows; ++b) {
      const int32_t* src = tokens.data() + (first_window + b) * T;
      std::copy(src, src + len, inputs.begin() + long(b) * len);
      std::copy(src + 1, src + len + 1, targets.begin() + long(b) * len);
    }
    model.forward(inputs.data(), targets.data(), rows, len, ForwardOptions{});
    const float* losses = model.losses();
    for (long i = 0; i < long(rows) * len; ++i) totals.nll += double(losses[i]);
    totals.predicted += long(rows) * len;
  };
  const long total = windows * T + tail;
  for (long w = 0; w < windows; w += B) {
    run(w, int(std::min<long>(B, windows - w)), T);
    if (progress) progress(totals.predicted, total);
  }
  if (tail > 0) {
    run(windows, 1, int(tail));
    if (progress) progress(totals.predicted, total);
  }
  return totals;
}

}  // namespace cohort
