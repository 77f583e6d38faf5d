// LR schedule, global-norm clipping, and optimizers on a [begin, end) range: updating
// a buffer in two shards must equal updating it whole (what ZeRO-1 relies on).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "model/model_layout.h"
#include "optim/grad_clip.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"

namespace cohort {
namespace {

TEST(LrSchedule, WarmupThenCosineToFloor) {
  LrSchedule s{1.0f, 0.1f, 10, 110};
  EXPECT_FLOAT_EQ(s.at(0), 0.1f);
  EXPECT_FLOAT_EQ(s.at(9), 1.0f);
  EXPECT_FLOAT_EQ(s.at(10), 1.0f);
  EXPECT_NEAR(s.at(60), 0.55f, 1e-6);  // halfway through the cosine
  EXPECT_FLOAT_EQ(s.at(110), 0.1f);
  EXPECT_FLOAT_EQ(s.at(500), 0.1f);
  for (long t = 10; t < 110; ++t) EXPECT_LE(s.at(t + 1), s.at(t));
}

TEST(GradClip, ScalesToMaxNormOnlyWhenAbove) {
  CpuBackend be;
  std::vector<float> g = {3.0f, 4.0f};
  EXPECT_FLOAT_EQ(clip_grad_norm(be, g.data(), 2, 1.0f), 5.0f);
  EXPECT_NEAR(std::hypot(g[0], g[1]), 1.0, 1e-6);
  std::vector<float> h = {0.3f, 0.4f};
  EXPECT_FLOAT_EQ(clip_grad_norm(be, h.data(), 2, 1.0f), 0.5f);
  EXPECT_EQ(h[0], 0.3f);
  EXPECT_FLOAT_EQ(clip_grad_norm(be, h.data(), 2, 0.0f), 0.5f);  // 0: measure only
}

// An optimizer's steps over a small GPT's parameters (AdamW, or SGD with momentum).
class OptimizerSteps : public ::testing::TestWithParam<const char*> {
 protected:
  OptimizerSteps() {
    oc.name = GetParam();
    oc.momentum = 0.9f;
    for (auto& x : p) x = d(rng);
  }
  std::unique_ptr<Optimizer> make(size_t begin, size_t end) {
    return make_optimizer(oc, layout, be, begin, end);
  }
  void draw(std::vector<float>& g) {
    for (auto& x : g) x = d(rng);
  }
  ParameterLayout layout = model_layout(
      ModelConfig{.vocab_size = 50, .context_length = 8, .n_layer = 1, .n_head = 2, .n_embd = 16});
  CpuBackend be;
  OptimizerConfig oc;
  const size_t n = layout.total();
  std::mt19937 rng{3};
  std::normal_distribution<float> d;
  std::vector<float> p = std::vector<float>(n), g = std::vector<float>(n);
};

TEST_P(OptimizerSteps, TwoShardsEqualTheWholeBuffer) {
  std::vector<float> whole = p, sharded = p;
  auto full = make(0, n);
  const size_t cut = layout.at("h.0.attn.c_attn.weight").offset + 100;  // mid-tensor
  auto lo = make(0, cut), hi = make(cut, n);
  for (int step = 0; step < 3; ++step) {
    draw(g);
    full->step(whole.data(), g.data(), 1e-2f);
    lo->step(sharded.data(), g.data(), 1e-2f);
    hi->step(sharded.data(), g.data(), 1e-2f);
  }
  EXPECT_EQ(whole, sharded);
  EXPECT_NE(whole, p);
}

// The strategies pass clipping's factor to the step instead of scaling the gradients
// first (clip_grad_norm): the same parameters, bit for bit, and the gradients unchanged.
TEST_P(OptimizerSteps, ClipFactorInTheStepEqualsClippingFirst) {
  std::vector<float> folded = p, first = p;
  auto a = make(0, n), b = make(0, n);
  for (int step = 0; step < 3; ++step) {
    draw(g);
    const std::vector<float> kept = g;
    const float s = clip_scale(grad_norm(be, g.data(), n), 1.0f);
    ASSERT_LT(s, 1.0f);  // the norm is over the limit: a factor to apply
    a->step(folded.data(), g.data(), 1e-2f, s);
    ASSERT_EQ(g, kept);
    clip_grad_norm(be, g.data(), n, 1.0f);
    b->step(first.data(), g.data(), 1e-2f);
  }
  EXPECT_EQ(folded, first);
  EXPECT_NE(folded, p);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, OptimizerSteps, ::testing::Values("adamw", "sgd"));

TEST(AdamW, DecaysOnlyTwoDimensionalWeights) {
  const ParameterLayout layout = model_layout(
      ModelConfig{.vocab_size = 10, .context_length = 4, .n_layer = 1, .n_head = 1, .n_embd = 8});
  CpuBackend be;
  auto opt = make_optimizer(OptimizerConfig{}, layout, be, 0, layout.total());
  std::vector<float> p(layout.total(), 1.0f), g(layout.total(), 0.0f);
  opt->step(p.data(), g.data(), 0.5f);  // zero gradient: only the decay moves p
  EXPECT_FLOAT_EQ(p[layout.at("h.0.mlp.c_fc.weight").offset], 1.0f - 0.5f * 0.1f);
  EXPECT_FLOAT_EQ(p[layout.at("h.0.mlp.c_fc.bias").offset], 1.0f);
  EXPECT_FLOAT_EQ(p[layout.at("ln_f.weight").offset], 1.0f);
}

TEST(Optimizer, UnknownNameIsAnError) {
  ModelConfig mc;
  const ParameterLayout layout = model_layout(mc);
  CpuBackend be;
  OptimizerConfig oc;
  oc.name = "lion";
  EXPECT_THROW(make_optimizer(oc, layout, be, 0, layout.total()), Error);
}

}  // namespace
}  // namespace cohort
