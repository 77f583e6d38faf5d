// Promises of the training step: bit-identical runs for a fixed seed and thread count
// (dropout on), gradient accumulation equal to one big batch, the GPT-2 init, and
// rejection of out-of-vocabulary tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "data/synthetic_source.h"
#include "model/activation_plan.h"
#include "model/gpt.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "support/guarded_backend.h"
#include "train/trainer.h"

namespace cohort {
namespace {

ModelConfig small_config(float dropout) {
  return ModelConfig{.vocab_size = 97,
                     .context_length = 32,
                     .n_layer = 2,
                     .n_head = 3,
                     .n_embd = 48,
                     .dropout = dropout};
}

struct TrainedRun {
  std::vector<float> losses;
  std::vector<float> params;
};

TrainedRun train(const ModelConfig& mc, int batch, int accum, int steps,
                 const OptimizerConfig& oc = OptimizerConfig{}, float lr = 1e-3f) {
  CpuBackend backend;
  Gpt model(mc, backend);
  model.init_weights(7);
  TrainConfig tc;
  tc.batch_size = batch;
  tc.grad_accum = accum;
  tc.seq_len = 24;
  tc.steps = steps;
  tc.warmup = 2;
  tc.seed = 11;
  SoloCommunicator comm;
  auto strategy = make_strategy(StrategyConfig{}, comm, model, oc);
  SyntheticSource data(mc.vocab_size, 3, 5);
  Trainer trainer(model, *strategy, comm, data, tc, LrSchedule{lr, lr / 10, tc.warmup, steps});
  TrainedRun r;
  for (int s = 0; s < steps; ++s) r.losses.push_back(trainer.step().loss);
  r.params.assign(model.params(), model.params() + model.num_params());
  return r;
}

TEST(GptTraining, SameSeedAndThreadsGiveBitIdenticalLossesWithDropout) {
  const ModelConfig mc = small_config(0.1f);
  const TrainedRun a = train(mc, 4, 1, 20), b = train(mc, 4, 1, 20);
  EXPECT_EQ(a.losses, b.losses);  // exact: bit for bit
  EXPECT_EQ(a.params, b.params);
}

TEST(GptTraining, DropoutChangesTheRun) {
  const TrainedRun with = train(small_config(0.1f), 4, 1, 3),
                   without = train(small_config(0.0f), 4, 1, 3);
  EXPECT_EQ(with.losses[0] == without.losses[0], false);
}

// 4 micro-batches of 2 and 1 batch of 8 see the same samples (the synthetic source and
// the dropout keys both index samples globally), so one step must agree to float
// rounding: within 1e-6 relative on every parameter. The step is SGD, whose update is
// linear in the gradient; AdamW's first step is lr * g/|g|, which turns the rounding
// of a near-zero gradient into a full +-lr difference (the gradients themselves are
// compared in AccumulatedGradientsEqualOneBatch).
TEST(GptTraining, FourMicroBatchesOfTwoEqualOneBatchOfEight) {
  OptimizerConfig sgd;
  sgd.name = "sgd";
  for (float dropout : {0.0f, 0.1f}) {
    const ModelConfig mc = small_config(dropout);
    const TrainedRun big = train(mc, 8, 1, 1, sgd, 0.1f), small = train(mc, 2, 4, 1, sgd, 0.1f);
    ASSERT_EQ(big.params.size(), small.params.size());
    double worst = 0;
    for (size_t i = 0; i < big.params.size(); ++i) {
      const double d = std::abs(double(big.params[i]) - small.params[i]) /
                       std::max(0.02, std::abs(double(big.params[i])));  // 0.02: the init scale
      worst = std::max(worst, d);
    }
    EXPECT_LE(worst, 1e-6) << "dropout " << dropout;
    EXPECT_NEAR(big.losses[0], small.losses[0], 1e-6);
  }
}

TEST(GptTraining, AccumulatedGradientsEqualOneBatch) {
  const ModelConfig mc = small_config(0.1f);
  CpuBackend backend;
  SyntheticSource data(mc.vocab_size, 3, 5);
  std::vector<float> grads[2];
  for (int pass = 0; pass < 2; ++pass) {
    const int B = pass == 0 ? 8 : 2, M = pass == 0 ? 1 : 4, T = 24;
    Gpt model(mc, backend);
    model.init_weights(7);
    model.plan(B, T);
    std::vector<int32_t> x(size_t(B) * T), y(x.size());
    for (int micro = 0; micro < M; ++micro) {
      data.fill(0, micro, B, T, x.data(), y.data());
      ForwardOptions fo{true, 11, 0, uint32_t(micro * B)};
      model.forward(x.data(), y.data(), B, T, fo);
      model.backward(1.0f / M);
    }
    grads[pass].assign(model.grads(), model.grads() + model.num_params());
  }
  double err = 0, scale = 0;
  for (size_t i = 0; i < grads[0].size(); ++i) {
    err = std::max(err, std::abs(double(grads[0][i]) - grads[1][i]));
    scale = std::max(scale, std::abs(double(grads[0][i])));
  }
  EXPECT_LE(err / scale, 1e-5);  // float32 sums in another order
}

TEST(GptTraining, LossGoesDownOnLearnableData) {
  const TrainedRun r = train(small_config(0.0f), 8, 1, 80, OptimizerConfig{}, 3e-3f);
  EXPECT_LT(r.losses.back(), r.losses.front() - 1.0f);
}

TEST(GptInit, Gpt2Initialization) {
  ModelConfig mc = small_config(0.0f);
  mc.n_layer = 4;
  mc.n_embd = 96;
  CpuBackend backend;
  Gpt model(mc, backend);
  model.init_weights(3);
  auto stdev = [&](const std::string& name) {
    const auto& t = model.layout().at(name);
    double s = 0;
    for (size_t i = 0; i < t.numel; ++i)
      s += double(model.params()[t.offset + i]) * model.params()[t.offset + i];
    return std::sqrt(s / t.numel);
  };
  EXPECT_NEAR(stdev("h.0.attn.c_attn.weight"), 0.02, 0.001);
  EXPECT_NEAR(stdev("h.2.mlp.c_fc.weight"), 0.02, 0.001);
  EXPECT_NEAR(stdev("h.1.attn.c_proj.weight"), 0.02 / std::sqrt(8.0), 0.0005);
  EXPECT_NEAR(stdev("h.3.mlp.c_proj.weight"), 0.02 / std::sqrt(8.0), 0.0005);
  EXPECT_EQ(stdev("h.0.attn.c_attn.bias"), 0.0);
  EXPECT_EQ(stdev("h.0.ln_1.weight"), 1.0);
  const auto& wte = model.layout().at("wte.weight");
  for (size_t i = size_t(mc.vocab_size) * mc.n_embd; i < wte.numel; ++i)
    ASSERT_EQ(model.params()[wte.offset + i], 0.0f);
  // Same seed, same weights; another seed, other weights.
  Gpt again(mc, backend), other(mc, backend);
  again.init_weights(3);
  other.init_weights(4);
  EXPECT_TRUE(std::equal(model.params(), model.params() + model.num_params(), again.params()));
  EXPECT_FALSE(std::equal(model.params(), model.params() + model.num_params(), other.params()));
}

TEST(GptForward, RejectsTokensOutsideTheVocabulary) {
  CpuBackend backend;
  Gpt model(small_config(0.0f), backend);
  model.plan(1, 4);
  std::vector<int32_t> tokens = {1, 2, 97, 3}, targets = {2, 3, 4, 5};
  EXPECT_THROW(model.forward(tokens.data(), targets.data(), 1, 4, ForwardOptions{}), Error);
  tokens[2] = 5;
  targets[0] = -1;
  EXPECT_THROW(model.forward(tokens.data(), targets.data(), 1, 4, ForwardOptions{}), Error);
  EXPECT_THROW(model.plan(1, 33), Error);  // beyond context_length
}

// A 16-bit CUDA backend's plan: where its attention backward reads q, k, v only from its
// own state, every layer gets one qkv buffer ((L - 1) x B x T x 3C floats fewer); in
// training's plan the LM head pair's logits take the backend's size (half); a forward
// without targets on that plan, which needs fp32 logits, is refused.
TEST(ActivationPlanTest, TakesTheBackendsLayouts) {
  const ModelConfig mc{
      .vocab_size = 50, .context_length = 16, .n_layer = 3, .n_head = 2, .n_embd = 32};
  const int B = 2, T = 16;
  const size_t BT = size_t(B) * T, Vp = size_t(mc.padded_vocab_size());
  testing::GuardedBackend plain, device(false, true);
  Gpt own_model(mc, plain), shared_model(mc, device);
  own_model.plan(B, T, false);
  shared_model.plan(B, T, false);
  const ActivationPlan &own = own_model.activations(), &shared = shared_model.activations();
  for (size_t l = 1; l < own.stack.layers.size(); ++l) {
    EXPECT_NE(own.stack.layers[l].qkv, own.stack.layers[0].qkv) << "layer " << l;
    EXPECT_EQ(shared.stack.layers[l].qkv, shared.stack.layers[0].qkv) << "layer " << l;
  }
  EXPECT_EQ(own.logits_floats, BT * Vp);
  EXPECT_EQ(shared.logits_floats, BT * Vp / 2);
  EXPECT_EQ(shared.probs, shared.logits);
  // Each size here is a multiple of the plan's 256-byte alignment.
  const size_t qkv_bytes = BT * 3 * mc.n_embd * sizeof(float);
  EXPECT_EQ(own.arena.bytes() - shared.arena.bytes(),
            (mc.n_layer - 1) * qkv_bytes + BT * Vp / 2 * sizeof(float));
  // A plan that keeps the logits keeps them whole.
  shared_model.plan(B, T, true);
  EXPECT_EQ(shared_model.activations().logits_floats, BT * Vp);

  Gpt model(mc, device);
  model.init_weights(1);
  model.plan(B, T, /*keep_logits=*/false);
  std::vector<int32_t> tokens(BT, 3);
  EXPECT_THROW(model.forward(tokens.data(), nullptr, B, T, ForwardOptions{}), Error);
}

}  // namespace
}  // namespace cohort
