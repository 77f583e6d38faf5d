// Dynamic loss scaling: the scale's schedule (halve and skip on overflow, double after
// growth_interval clean steps, bounds), overflow detection, and that scaling a GPT's
// backward by a power of two and unscaling gives the unscaled gradients bit for bit.
#include "optim/loss_scaler.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "model/gpt.h"

namespace cohort {
namespace {

TEST(DynamicLossScaler, HalvesOnOverflowAndDoublesAfterACleanRun) {
  DynamicLossScaler s({65536.0f, 3});
  EXPECT_EQ(s.scale(), 65536.0f);
  s.update(false);
  EXPECT_EQ(s.scale(), 32768.0f);
  EXPECT_EQ(s.skipped_steps(), 1);
  s.update(true);
  s.update(true);
  s.update(false);  // breaks the run
  EXPECT_EQ(s.scale(), 16384.0f);
  s.update(true);
  s.update(true);
  EXPECT_EQ(s.scale(), 16384.0f);
  s.update(true);
  EXPECT_EQ(s.scale(), 32768.0f);
  EXPECT_EQ(s.skipped_steps(), 2);
}

TEST(DynamicLossScaler, StaysWithinOneAndTwoToThe24) {
  DynamicLossScaler low({2.0f, 1});
  for (int i = 0; i < 5; ++i) low.update(false);
  EXPECT_EQ(low.scale(), 1.0f);
  DynamicLossScaler high({8388608.0f, 1});
  for (int i = 0; i < 5; ++i) high.update(true);
  EXPECT_EQ(high.scale(), 16777216.0f);
  EXPECT_THROW(DynamicLossScaler({3.0f, 10}), Error);
  EXPECT_THROW(DynamicLossScaler({1024.0f, 0}), Error);
}

TEST(DynamicLossScaler, UnscaleDetectsInfAndNan) {
  CpuBackend be;
  DynamicLossScaler s;
  std::vector<float> g = {65536.0f, -131072.0f, 0.5f};
  EXPECT_TRUE(s.unscale(be, g.data(), g.size()));
  EXPECT_EQ(g, (std::vector<float>{1.0f, -2.0f, 0.5f / 65536.0f}));
  std::vector<float> inf = {1.0f, std::numeric_limits<float>::infinity()};
  EXPECT_FALSE(s.unscale(be, inf.data(), inf.size()));
  std::vector<float> nan = {std::numeric_limits<float>::quiet_NaN(), 1.0f};
  EXPECT_FALSE(s.unscale(be, nan.data(), nan.size()));
}

TEST(DynamicLossScaler, ScaledBackwardUnscalesToTheSameGradients) {
  const ModelConfig c{.vocab_size = 61,
                      .context_length = 16,
                      .n_layer = 2,
                      .n_head = 2,
                      .n_embd = 16,
                      .dropout = 0.1f};
  CpuBackend be;
  std::vector<int32_t> tokens(2 * 16), targets(2 * 16);
  for (size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = int32_t((i * 7) % 61);
    targets[i] = int32_t((i * 13 + 5) % 61);
  }
  ForwardOptions o;
  o.training = true;
  o.dropout_seed = 3;
  auto grads_with = [&](float loss_scale) {
    Gpt m(c, be);
    m.init_weights(1);
    m.plan(2, 16);
    m.forward(tokens.data(), targets.data(), 2, 16, o);
    m.backward(loss_scale);
    return std::vector<float>(m.grads(), m.grads() + m.num_params());
  };
  const std::vector<float> plain = grads_with(1.0f);
  DynamicLossScaler s;
  std::vector<float> scaled = grads_with(s.scale());
  ASSERT_TRUE(s.unscale(be, scaled.data(), scaled.size()));
  EXPECT_TRUE(scaled == plain) << "power-of-two loss scaling must be exact in fp32";
}

}  // namespace
}  // namespace cohort
