// A step whose loss is finite but whose gradient norm is not (one rank's gradient has a
// NaN) is skipped on every rank: no rank changes its parameters or optimizer state, and
// the next step trains on. Run under mpirun -np 2, for allreduce and zero1 (each rank
// learns the norm through a collective, so a NaN on rank 1 alone must reach rank 0).
// The fault is injected by NonFiniteMicroBatches (src/train/fault_injection.h).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "data/synthetic_source.h"
#include "dist/communicator.h"
#include "dist/strategy.h"
#include "model/gpt.h"
#include "optim/lr_schedule.h"
#include "train/fault_injection.h"
#include "train/trainer.h"

namespace cohort {
namespace {

Communicator& comm() {
  static std::unique_ptr<Communicator> c = make_communicator(nullptr, nullptr);
  return *c;
}

struct StepLog {
  std::vector<StepResult> results;
  std::vector<std::vector<float>> params;  // after each step
};

StepLog run(const std::string& strategy_name, NonFiniteMicroBatches::Fault fault, int bad_rank) {
  const ModelConfig mc{.vocab_size = 61,
                       .context_length = 16,
                       .n_layer = 2,
                       .n_head = 2,
                       .n_embd = 32,
                       .dropout = 0.1f};
  CpuBackend backend;
  Gpt model(mc, backend);
  model.init_weights(5);
  TrainConfig tc;
  tc.batch_size = 2;
  tc.grad_accum = 2;
  tc.seq_len = 16;
  tc.steps = 4;
  tc.seed = 3;
  StrategyConfig sc;
  sc.name = strategy_name;
  auto strategy = make_strategy(sc, comm(), model, OptimizerConfig{});
  SyntheticSource data(mc.vocab_size, 3, 9);
  LmMicroBatches lm(model, data, tc.batch_size, tc.seq_len);
  NonFiniteMicroBatches faulty(lm, model, fault, {2}, bad_rank, comm().rank());
  Trainer trainer(model, faulty, *strategy, comm(), tc, LrSchedule{1e-3f, 1e-4f, 1, tc.steps});
  strategy->start(0);
  StepLog log;
  for (int s = 0; s < tc.steps; ++s) {
    log.results.push_back(trainer.step());
    log.params.emplace_back(model.params(), model.params() + model.num_params());
  }
  return log;
}

class NonFiniteStep : public testing::TestWithParam<const char*> {};

TEST_P(NonFiniteStep, ANanGradientOnOneRankWithAFiniteLossSkipsTheStepEverywhere) {
  ASSERT_EQ(comm().world(), 2) << "start with mpirun -np 2";
  const StepLog log = run(GetParam(), NonFiniteMicroBatches::Fault::kGradient, /*bad_rank=*/1);
  const StepResult& bad = log.results[2];
  EXPECT_TRUE(std::isfinite(bad.loss)) << bad.loss;
  EXPECT_FALSE(std::isfinite(bad.grad_norm)) << bad.grad_norm;
  EXPECT_TRUE(bad.skipped);
  EXPECT_EQ(log.params[2], log.params[1]) << "the skipped step changed this rank's parameters";
  for (int s : {0, 1, 3}) {
    EXPECT_FALSE(log.results[s].skipped) << "step " << s;
    EXPECT_TRUE(std::isfinite(log.results[s].grad_norm)) << "step " << s;
  }
  EXPECT_NE(log.params[3], log.params[2]) << "training did not go on after the skipped step";
  // Every rank made the same decision and holds the same parameters.
  double skipped = bad.skipped ? 1.0 : 0.0;
  comm().all_reduce_sum(&skipped, 1);
  EXPECT_EQ(skipped, 2.0);
  std::vector<float> p = log.params[3], sum = p;
  comm().all_reduce_sum(sum.data(), sum.size());
  for (size_t i = 0; i < p.size(); ++i) ASSERT_EQ(2 * p[i], sum[i]) << i;
}

// The same fault as a NaN loss on one rank: the logged loss (the global mean) is NaN,
// and the step is skipped everywhere too.
TEST_P(NonFiniteStep, ANanLossOnOneRankSkipsTheStepEverywhere) {
  const StepLog log = run(GetParam(), NonFiniteMicroBatches::Fault::kLoss, /*bad_rank=*/0);
  EXPECT_FALSE(std::isfinite(log.results[2].loss));
  EXPECT_TRUE(log.results[2].skipped);
  EXPECT_EQ(log.params[2], log.params[1]);
  EXPECT_FALSE(log.results[3].skipped);
}

INSTANTIATE_TEST_SUITE_P(Strategies, NonFiniteStep, testing::Values("allreduce", "zero1"));

}  // namespace
}  // namespace cohort
