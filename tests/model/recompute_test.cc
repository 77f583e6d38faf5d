// Activation recomputation (train.recompute = attention and block) gives the same bits as
// keeping every activation: loss, every gradient, and the ranges' grad_ready order, for each
// family with dropout on (the recomputed forward must draw the same masks); and the GPT's
// plan keeps less.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "model/encoder_model.h"
#include "model/gpt.h"
#include "model/seq2seq_model.h"

namespace cohort {
namespace {

ModelConfig config(const char* arch) {
  ModelConfig c{.vocab_size = 37,
                .context_length = 12,
                .n_layer = 3,
                .n_head = 2,
                .n_embd = 16,
                .dropout = 0.2f};
  c.arch = arch;
  if (c.arch == "encoder") c.n_classes = 3;
  if (c.arch == "seq2seq") c.n_decoder_layer = 2;
  return c;
}

ForwardOptions training() {
  ForwardOptions o;
  o.training = true;
  o.dropout_seed = 9;
  o.step = 4;
  return o;
}

struct Result {
  float loss;
  std::vector<float> grads;
  std::vector<size_t> units;
};

// One forward and backward (twice, so the second reuses the plan's buffers) of `model`
// after set_recompute(r) and plan(); step(model) runs the forward, returns the loss.
template <typename Family>
Result run(const char* arch, Recompute r, const std::function<void(Family&)>& plan,
           const std::function<float(Family&)>& forward) {
  CpuBackend be;
  Family m(config(arch), be);
  m.init_weights(7);
  m.set_recompute(r);
  plan(m);
  Result out;
  for (int pass = 0; pass < 2; ++pass) {
    m.zero_grad();
    out.loss = forward(m);
    out.units.clear();
    m.backward(1.0f, [&](size_t u) { out.units.push_back(u); });
  }
  out.grads.assign(m.grads(), m.grads() + m.num_params());
  return out;
}

template <typename Family>
void expect_same_bits(const char* arch, const std::function<void(Family&)>& plan,
                      const std::function<float(Family&)>& forward) {
  const Result kept = run<Family>(arch, Recompute::none, plan, forward);
  for (Recompute r : {Recompute::attention, Recompute::block}) {
    SCOPED_TRACE(recompute_name(r));
    const Result again = run<Family>(arch, r, plan, forward);
    EXPECT_EQ(kept.loss, again.loss);
    EXPECT_EQ(kept.units, again.units);
    ASSERT_EQ(kept.grads.size(), again.grads.size());
    size_t differ = 0;
    for (size_t i = 0; i < kept.grads.size(); ++i) differ += kept.grads[i] != again.grads[i];
    EXPECT_EQ(differ, 0u) << "of " << kept.grads.size() << " gradients";
  }
}

TEST(Recompute, GptRecomputationGivesTheSameBits) {
  std::vector<int32_t> x(24), y(24);
  for (int i = 0; i < 24; ++i) x[i] = i % 37, y[i] = (i * 5 + 1) % 37;
  expect_same_bits<Gpt>(
      "gpt", [](Gpt& m) { m.plan(2, 12, false); },
      [&](Gpt& m) { return m.forward(x.data(), y.data(), 2, 12, training()); });
}

TEST(Recompute, EncoderRecomputationGivesTheSameBits) {
  std::vector<int32_t> tokens(24), targets(24, -1), lengths = {12, 7}, labels = {0, 2};
  for (int i = 0; i < 24; ++i) tokens[i] = (i * 3 + 1) % 37;
  targets[2] = 7, targets[15] = 11;
  for (bool mlm : {false, true}) {
    SCOPED_TRACE(mlm ? "mlm" : "classify");
    const EncoderBatch b{.B = 2,
                         .T = 12,
                         .tokens = tokens.data(),
                         .lengths = lengths.data(),
                         .mlm_targets = mlm ? targets.data() : nullptr,
                         .labels = labels.data()};
    expect_same_bits<EncoderModel>(
        "encoder", [](EncoderModel& m) { m.plan(2, 12); },
        [&](EncoderModel& m) { return m.forward(b, training()); });
  }
}

TEST(Recompute, Seq2SeqRecomputationGivesTheSameBits) {
  std::vector<int32_t> src(20), src_len = {10, 6}, tin(16), tout(16);
  for (int i = 0; i < 20; ++i) src[i] = (i * 7 + 2) % 37;
  for (int i = 0; i < 16; ++i) tin[i] = (i * 5 + 3) % 37, tout[i] = (i * 11 + 1) % 37;
  tout[15] = -1;
  const Seq2SeqBatch b{.B = 2,
                       .S = 10,
                       .T = 8,
                       .src = src.data(),
                       .src_len = src_len.data(),
                       .tgt_in = tin.data(),
                       .tgt_out = tout.data()};
  expect_same_bits<Seq2SeqModel>(
      "seq2seq", [](Seq2SeqModel& m) { m.plan(2, 10, 8); },
      [&](Seq2SeqModel& m) { return m.forward(b, training(), 0.1f); });
}

// The plan keeps each block's input and ln_1 plus one block's worth: less, from 3 blocks.
TEST(Recompute, GptPlanKeepsLess) {
  CpuBackend be;
  ModelConfig c = config("gpt");
  c.n_layer = 6;
  Gpt kept(c, be), again(c, be);
  again.set_recompute(Recompute::block);
  kept.plan(4, 12, false);
  again.plan(4, 12, false);
  EXPECT_LT(again.activation_bytes(), kept.activation_bytes() * 6 / 10)
      << again.activation_bytes() << " vs " << kept.activation_bytes();
  // attention: one block's probabilities (B x NH x T x T) instead of six.
  Gpt attention(c, be);
  attention.set_recompute(Recompute::attention);
  attention.plan(4, 12, false);
  const size_t probs = size_t(4) * c.n_head * 12 * 12 * sizeof(float);
  EXPECT_LE(attention.activation_bytes() + 5 * probs, kept.activation_bytes())
      << attention.activation_bytes() << " vs " << kept.activation_bytes();
}

}  // namespace
}  // namespace cohort
