#include "train/evaluator.h"

#include <vector>

#include "core/error.h"

namespace cohort {

namespace {

struct Window {
  long start;  // first input token
  int len;     // inputs (and targets) in the window
  int scored;  // positions before this offset were scored by an earlier window
};

// Windows of up to T tokens every `stride` tokens, each scoring only what no earlier
// window scored, until every predictable position (or about max_predictions) is covered.
std::vector<Window> plan_windows(long predictable, int T, int stride, long max_predictions) {
  const long limit = max_predictions > 0 ? std::min(predictable, max_predictions) : predictable;
  std::vector<Window> windows;
  long scored_upto = 0;
  for (long start = 0; scored_upto < limit; start += stride) {
    const int len = int(std::min<long>(T, predictable - start));
    windows.push_back({start, len, int(scored_upto - start)});
    scored_upto = start + len;
  }
  return windows;
}

}  // namespace

EvalTotals evaluate_stream(Gpt& model, std::span<const int32_t> tokens, int B, int T, int stride,
                           long max_predictions, int part, int parts,
                           const std::function<void(long, long)>& progress) {
  EvalTotals totals;
  if (tokens.size() < 2) return totals;
  if (stride <= 0 || stride > T) stride = T;
  const auto windows = plan_windows(long(tokens.size()) - 1, T, stride, max_predictions);
  long total = 0;
  for (const auto& w : windows) total += w.len - w.scored;

  std::vector<int32_t> inputs(size_t(B) * T), targets(size_t(B) * T);
  // Runs windows [first, first + rows), all of length len, as one batch.
  auto run = [&](size_t first, int rows, int len) {
    for (int b = 0; b < rows; ++b) {
      const int32_t* src = tokens.data() + windows[first + b].start;
      std::copy(src, src + len, inputs.begin() + long(b) * len);
      std::copy(src + 1, src + len + 1, targets.begin() + long(b) * len);
    }
    model.forward(inputs.data(), targets.data(), rows, len, ForwardOptions{});
    const std::vector<float>& losses = model.losses();
    for (int b = 0; b < rows; ++b) {
      for (int t = windows[first + b].scored; t < len; ++t)
        totals.nll += double(losses[b * len + t]);
      totals.predicted += len - windows[first + b].scored;
    }
    if (progress) progress(totals.predicted, total);
  };
  size_t i = 0;
  long batch = 0, expected = 0, mine = 0;
  while (i < windows.size()) {
    // Batch up to B consecutive windows of the same length (all but the last are T).
    size_t j = i + 1;
    while (j < windows.size() && j - i < size_t(B) && windows[j].len == windows[i].len) ++j;
    if (batch++ % parts == part) {
      run(i, int(j - i), windows[i].len);
      ++mine;
      for (size_t k = i; k < j; ++k) expected += windows[k].len - windows[k].scored;
    }
    i = j;
  }
  COHORT_CHECK(totals.predicted == expected) << totals.predicted << " vs " << expected;
  // Where the model gathers its parameters from every rank (fsdp), each part runs as many
  // forwards as the first: the first window again, scored by nobody.
  if (model.parameter_store() != nullptr) {
    for (long k = mine; k < (batch + parts - 1) / parts; ++k) {
      const int len = windows[0].len;
      std::copy(tokens.data(), tokens.data() + len, inputs.begin());
      std::copy(tokens.data() + 1, tokens.data() + len + 1, targets.begin());
      model.forward(inputs.data(), targets.data(), 1, len, ForwardOptions{});
    }
  }
  return totals;
}

}  // namespace cohort
