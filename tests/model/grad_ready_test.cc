// Every family reports its gradients unit by unit as backward finishes them, so the
// all-reduce of a unit overlaps the rest of backward: the units come in order 0, 1, ...,
// tile the flat buffer, and a unit's gradients do not change after it is reported (the
// value at the report equals the value when backward returns, bit for bit).
#include <gtest/gtest.h>

#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "model/encoder_model.h"
#include "model/gpt.h"
#include "model/seq2seq_model.h"

namespace cohort {
namespace {

// Runs backward with a hook that snapshots each unit's range when it is reported.
void check_units(Model& model, const std::function<void(const Model::GradReadyFn&)>& backward,
                 size_t expected_units) {
  const auto& ranges = model.grad_ready_ranges();
  ASSERT_EQ(ranges.size(), expected_units);
  std::vector<size_t> order;
  std::vector<std::vector<float>> at_report(ranges.size());
  backward([&](size_t unit) {
    order.push_back(unit);
    const auto [b, e] = ranges[unit];
    at_report[unit].assign(model.grads() + b, model.grads() + e);
  });
  ASSERT_EQ(order.size(), ranges.size());
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);
  for (size_t u = 0; u < ranges.size(); ++u) {
    const auto [b, e] = ranges[u];
    const std::vector<float> final(model.grads() + b, model.grads() + e);
    EXPECT_TRUE(final == at_report[u]) << "unit " << u << " changed after it was reported";
    bool any = false;
    for (float g : final) any = any || g != 0.0f;
    EXPECT_TRUE(any) << "unit " << u << " has no gradient";
  }
}

ModelConfig config(const char* arch) {
  ModelConfig c{.vocab_size = 37,
                .context_length = 12,
                .n_layer = 2,
                .n_head = 2,
                .n_embd = 16,
                .dropout = 0.1f};
  c.arch = arch;
  if (c.arch == "encoder") c.n_classes = 3;
  if (c.arch == "seq2seq") c.n_decoder_layer = 3;
  return c;
}

ForwardOptions training() {
  ForwardOptions o;
  o.training = true;
  o.dropout_seed = 5;
  return o;
}

TEST(GradReady, GptReportsLnFThenEachLayerThenTheEmbeddings) {
  CpuBackend be;
  Gpt m(config("gpt"), be);
  m.init_weights(1);
  m.plan(2, 8, false);
  std::vector<int32_t> x(16), y(16);
  for (int i = 0; i < 16; ++i) x[i] = i % 37, y[i] = (i * 5 + 1) % 37;
  m.forward(x.data(), y.data(), 2, 8, training());
  check_units(
      m, [&](const Model::GradReadyFn& hook) { m.backward(1.0f, hook); }, 2 + 2);
}

TEST(GradReady, EncoderClassifierAndMaskedLmReportPerLayer) {
  for (bool mlm : {false, true}) {
    SCOPED_TRACE(mlm ? "mlm" : "classify");
    CpuBackend be;
    EncoderModel m(config("encoder"), be);
    m.init_weights(2);
    m.plan(2, 8);
    std::vector<int32_t> tokens(16), targets(16, -1), lengths = {8, 5}, labels = {0, 2};
    for (int i = 0; i < 16; ++i) tokens[i] = (i * 3 + 1) % 37;
    targets[2] = 7, targets[9] = 11;
    EncoderBatch b{.B = 2,
                   .T = 8,
                   .tokens = tokens.data(),
                   .lengths = lengths.data(),
                   .mlm_targets = mlm ? targets.data() : nullptr,
                   .labels = labels.data()};
    m.forward(b, training());
    check_units(
        m, [&](const Model::GradReadyFn& hook) { m.backward(1.0f, hook); }, 2 + 2);
  }
}

TEST(GradReady, Seq2SeqReportsDecoderThenEncoderLayers) {
  CpuBackend be;
  Seq2SeqModel m(config("seq2seq"), be);
  m.init_weights(3);
  m.plan(2, 6, 5);
  std::vector<int32_t> src(12), src_len = {6, 4}, tin(10), tout(10);
  for (int i = 0; i < 12; ++i) src[i] = (i * 7 + 2) % 37;
  for (int i = 0; i < 10; ++i) tin[i] = (i * 5 + 3) % 37, tout[i] = (i * 11 + 1) % 37;
  tout[9] = -1;
  Seq2SeqBatch b{.B = 2,
                 .S = 6,
                 .T = 5,
                 .src = src.data(),
                 .src_len = src_len.data(),
                 .tgt_in = tin.data(),
                 .tgt_out = tout.data()};
  m.forward(b, training(), 0.0f);
  // ln_f, 3 decoder blocks, enc_ln_f, 2 encoder blocks, the embeddings.
  check_units(
      m, [&](const Model::GradReadyFn& hook) { m.backward(1.0f, hook); }, 1 + 3 + 1 + 2 + 1);
}

}  // namespace
}  // namespace cohort
