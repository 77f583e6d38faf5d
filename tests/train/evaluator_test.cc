// evaluate_stream: every token after the first is scored exactly once, whatever the
// batch, window and stride; with one window covering the stream all strides agree.
#include "train/evaluator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "model/gpt.h"

namespace cohort {
namespace {

class EvaluatorTest : public ::testing::Test {
 protected:
  EvaluatorTest() : model_(config(), backend_) {
    model_.init_weights(3);
    tokens_.resize(203);
    for (size_t i = 0; i < tokens_.size(); ++i) tokens_[i] = int32_t((i * 7 + i / 5) % 50);
  }
  static ModelConfig config() {
    ModelConfig c;
    c.vocab_size = 50;
    c.context_length = 32;
    c.n_layer = 1;
    c.n_head = 2;
    c.n_embd = 16;
    return c;
  }
  // Reference: every window separately, one row per forward.
  double manual_nll(int T) {
    double nll = 0.0;
    const long P = long(tokens_.size()) - 1;
    for (long start = 0; start < P; start += T) {
      const int len = int(std::min<long>(T, P - start));
      model_.forward(tokens_.data() + start, tokens_.data() + start + 1, 1, len, ForwardOptions{});
      for (int t = 0; t < len; ++t) nll += model_.losses()[t];
    }
    return nll;
  }
  // Reference for strided windows, written from the definition: position p is predicted
  // by the first window (starts 0, stride, 2 stride, ...) that reaches it, the one that
  // starts at max(0, ceil((p - T + 1) / stride) * stride), so with up to T - stride
  // tokens of context from the window before.
  double manual_strided_nll(int T, int stride) {
    const long P = long(tokens_.size()) - 1;
    std::map<long, std::vector<long>> positions_by_start;
    for (long p = 0; p < P; ++p) {
      const long first = std::max<long>(0, (p - T + 1 + stride - 1) / stride);
      positions_by_start[first * stride].push_back(p);
    }
    double nll = 0.0;
    for (const auto& [start, positions] : positions_by_start) {
      const int len = int(std::min<long>(T, P - start));
      model_.forward(tokens_.data() + start, tokens_.data() + start + 1, 1, len, ForwardOptions{});
      for (long p : positions) nll += model_.losses()[p - start];
    }
    return nll;
  }
  CpuBackend backend_;
  Gpt model_;
  std::vector<int32_t> tokens_;
};

TEST_F(EvaluatorTest, ConsecutiveWindowsMatchAManualSum) {
  model_.plan(4, 32);
  const EvalTotals t = evaluate_stream(model_, tokens_, 4, 32, 32);
  EXPECT_EQ(t.predicted, 202);
  EXPECT_NEAR(t.nll, manual_nll(32), 1e-6 * std::abs(t.nll));
}

TEST_F(EvaluatorTest, StridedWindowsScoreEachTokenOnceWithMoreContext) {
  model_.plan(4, 32);
  const EvalTotals plain = evaluate_stream(model_, tokens_, 4, 32, 32);
  const EvalTotals strided = evaluate_stream(model_, tokens_, 4, 32, 8);
  EXPECT_EQ(strided.predicted, 202);
  // Batches of 4 windows against one window a forward: sums in another order.
  EXPECT_NEAR(strided.nll, manual_strided_nll(32, 8), 1e-6 * std::abs(strided.nll));
  EXPECT_NEAR(plain.nll, manual_strided_nll(32, 32), 1e-6 * std::abs(plain.nll));
  // More context lowers no loss by construction; it must change the total here.
  EXPECT_GT(std::abs(strided.nll - plain.nll), 1e-3);
  // The first window is scored alike; a stream that fits one window gives equal totals.
  const std::span<const int32_t> short_stream(tokens_.data(), 30);
  const EvalTotals a = evaluate_stream(model_, short_stream, 4, 32, 32);
  const EvalTotals b = evaluate_stream(model_, short_stream, 4, 32, 5);
  EXPECT_EQ(a.predicted, 29);
  EXPECT_DOUBLE_EQ(a.nll, b.nll);
}

TEST_F(EvaluatorTest, PrefixLimitScoresAboutThatMany) {
  model_.plan(4, 32);
  const EvalTotals t = evaluate_stream(model_, tokens_, 4, 32, 32, 70);
  EXPECT_EQ(t.predicted, 96);  // whole windows: 3 x 32
}

}  // namespace
}  // namespace cohort
