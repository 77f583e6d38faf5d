// CountingCommunicator under mpirun -np 2: each collective's bytes per rank as its
// header defines them (a ring's), the data passed through unchanged, and one real
// strategy step counted: allreduce and zero1 (a reduce-scatter of the gradient, an
// all-gather of the parameters) move the same bytes, as ZeRO promises.
#include "dist/counting_communicator.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "dist/strategy.h"
#include "model/gpt.h"

namespace cohort {
namespace {

Communicator& world() {
  static std::unique_ptr<Communicator> c = make_communicator(nullptr, nullptr);
  return *c;
}

TEST(CountingCommunicator, CountsEachCollectiveAsARingMovesItAndPassesTheDataOn) {
  ASSERT_EQ(world().world(), 2) << "start with mpirun -np 2";
  CountingCommunicator c(world());
  const int r = c.rank();
  std::vector<float> x(10, float(r + 1));
  c.all_reduce_sum(x.data(), x.size());  // 2 (N-1)/N of 40 bytes each way
  EXPECT_EQ(x[9], 3.0f);
  EXPECT_EQ(c.counts().bytes_sent, 40u);
  EXPECT_EQ(c.counts().bytes_received, 40u);
  std::vector<float> y(7, 1.0f);  // blocks of 16 and 12 bytes: the other block each way
  c.reduce_scatter_sum(y.data(), {4, 3});
  EXPECT_EQ(y[r == 0 ? 0 : 4], 2.0f);
  const uint64_t other = r == 0 ? 12u : 16u;
  EXPECT_EQ(c.counts().bytes_received, 40u + other);
  c.all_gather(y.data(), {4, 3});
  EXPECT_EQ(c.counts().bytes_sent, 40u + 2 * other);
  double d = 1.0;
  c.broadcast(&d, sizeof d, 1);
  EXPECT_EQ(c.counts().calls, 4u);
  EXPECT_EQ(c.counts().bytes_sent, 40u + 2 * other + (r == 1 ? 8u : 0u));
  EXPECT_EQ(c.counts().bytes_received, 40u + 2 * other + (r == 0 ? 8u : 0u));
}

uint64_t step_traffic(const char* strategy_name, TrafficCounts* out) {
  const ModelConfig mc{
      .vocab_size = 61, .context_length = 16, .n_layer = 1, .n_head = 2, .n_embd = 32};
  CpuBackend backend;
  Gpt model(mc, backend);
  model.init_weights(1);
  CountingCommunicator c(world());
  StrategyConfig sc;
  sc.name = strategy_name;
  auto strategy = make_strategy(sc, c, model, OptimizerConfig{});
  strategy->start(0);
  const TrafficCounts before = c.counts();
  for (size_t i = 0; i < model.num_params(); ++i) model.grads()[i] = 0.001f * float(i % 7);
  // The hook hands each gradient range to the strategy, as backward would.
  if (auto hook = strategy->grad_ready_hook())
    for (size_t i = 0; i < model.grad_ready_ranges().size(); ++i) hook(i);
  strategy->update(0, 1.0f, 1e-3f, false);
  out->bytes_sent = c.counts().bytes_sent - before.bytes_sent;
  out->bytes_received = c.counts().bytes_received - before.bytes_received;
  return model.num_params() * sizeof(float);
}

TEST(CountingCommunicator, AllreduceAndZeroOneMoveTheSameBytes) {
  TrafficCounts ar, z1;
  const uint64_t bytes = step_traffic("allreduce", &ar);
  step_traffic("zero1", &z1);
  // On 2 ranks a ring moves half the gradient each way twice; beside it a few scalars
  // (the global norm, the skip verdict).
  EXPECT_GE(ar.bytes_sent, bytes);
  EXPECT_LT(ar.bytes_sent, bytes + 64);
  EXPECT_EQ(ar.bytes_sent, ar.bytes_received);
  EXPECT_GE(z1.bytes_sent, bytes - 64);
  EXPECT_LT(z1.bytes_sent, bytes + 64);
}

}  // namespace
}  // namespace cohort
