// sample_token: greedy at temperature 0, top-k and top-p limits, seeded reproducibility,
// and frequencies that follow the softmax.
#include "train/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace cohort {
namespace {

TEST(Sampler, GreedyTopKAndTopP) {
  const std::vector<float> logits = {0.0f, 3.0f, 1.0f, 2.9f, -5.0f};
  SamplingOptions o;
  o.temperature = 0.0f;
  EXPECT_EQ(sample_token(logits.data(), 5, o, 0), 1);
  o.temperature = 1.0f;
  o.top_p = 1.0f;
  o.top_k = 2;
  for (uint64_t d = 0; d < 200; ++d) {
    const int t = sample_token(logits.data(), 5, o, d);
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
  o.top_k = 0;
  o.top_p = 0.3f;  // token 1 alone holds ~0.45 of the mass
  for (uint64_t d = 0; d < 200; ++d) EXPECT_EQ(sample_token(logits.data(), 5, o, d), 1);
}

TEST(Sampler, SeededAndDistributedAsTheSoftmax) {
  const std::vector<float> logits = {0.0f, std::log(3.0f)};  // p = 0.25, 0.75
  SamplingOptions o;
  o.temperature = 1.0f;
  o.top_p = 1.0f;
  o.seed = 42;
  int ones = 0;
  const int n = 20000;
  for (int d = 0; d < n; ++d) ones += sample_token(logits.data(), 2, o, uint64_t(d));
  EXPECT_NEAR(double(ones) / n, 0.75, 0.015);
  EXPECT_EQ(sample_token(logits.data(), 2, o, 17), sample_token(logits.data(), 2, o, 17));
}

}  // namespace
}  // namespace cohort
