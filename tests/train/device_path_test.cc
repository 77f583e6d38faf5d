// The training loop on a backend whose memory the host cannot touch (GuardedBackend: the
// CPU behind a GPU's memory rules): steps with dropout under each strategy, a checkpoint
// written mid-run and resumed, and validation, all bit-identical to the CPU backend. So
// everything between the model and the disk reaches parameters, gradients and optimizer
// state only through the backend's memory, as the CUDA backend needs.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "data/synthetic_source.h"
#include "model/gpt.h"
#include "optim/lr_schedule.h"
#include "support/guarded_backend.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/resume.h"
#include "train/trainer.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;

const ModelConfig kConfig{.vocab_size = 97,
                          .context_length = 32,
                          .n_layer = 2,
                          .n_head = 3,
                          .n_embd = 48,
                          .dropout = 0.1f};

struct RunResult {
  std::vector<float> losses, params;
  double val_loss = 0;
};

// steps steps; with cut_at > 0, a checkpoint at cut_at and a fresh model, optimizer and
// trainer resumed from it by resume_from, which `cohort train --resume` calls too.
RunResult train(Backend& backend, const std::string& strategy_name, int steps, int cut_at,
                const fs::path& dir, DynamicLossScaler* scaler = nullptr) {
  TrainConfig tc;
  tc.batch_size = 4;
  tc.seq_len = 24;
  tc.steps = steps;
  tc.warmup = 2;
  tc.seed = 11;
  tc.grad_clip = 1.0f;
  const LrSchedule schedule{1e-3f, 1e-4f, tc.warmup, steps};
  StrategyConfig sc;
  sc.name = strategy_name;
  SoloCommunicator comm;
  SyntheticSource data(kConfig.vocab_size, 3, 5);
  RunResult r;
  auto model = std::make_unique<Gpt>(kConfig, backend);
  model->init_weights(7);
  auto strategy = make_strategy(sc, comm, *model, OptimizerConfig{});
  auto trainer = std::make_unique<Trainer>(*model, *strategy, comm, data, tc, schedule);
  trainer->set_loss_scaler(scaler);
  strategy->start(0);
  for (int s = 0; s < steps; ++s) {
    if (cut_at > 0 && s == cut_at) {
      CheckpointContents c;
      c.model = &kConfig;
      c.layout = &model->layout();
      c.params = model->params();
      c.params_space = &backend.memory();
      c.optimizer = strategy->optimizer();
      c.state.step = s;
      const fs::path ck = save_checkpoint(dir, c, 2, false, comm);
      const LoadedCheckpoint loaded = load_checkpoint(ck);
      trainer.reset();
      strategy.reset();
      model = std::make_unique<Gpt>(kConfig, backend);
      strategy = make_strategy(sc, comm, *model, OptimizerConfig{});
      trainer = std::make_unique<Trainer>(*model, *strategy, comm, data, tc, schedule);
      const TrainingState state =
          resume_from(loaded, *model, strategy->optimizer(), *trainer, nullptr);
      strategy->start(state.step);
    }
    r.losses.push_back(trainer->step().loss);
  }
  r.params.resize(model->num_params());
  model->download_params(r.params.data());
  std::vector<int32_t> val(400);
  for (size_t i = 0; i < val.size(); ++i) val[i] = int32_t((i * 31 + 7) % kConfig.vocab_size);
  r.val_loss = evaluate_stream(*model, val, 4, 24, 24).mean_loss();
  return r;
}

class DevicePath : public ::testing::TestWithParam<std::string> {};

TEST_P(DevicePath, GuardedBackendTrainsResumesAndEvaluatesLikeTheCpu) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("device_path_" + GetParam());
  fs::remove_all(dir);
  CpuBackend cpu;
  testing::GuardedBackend guarded;
  const RunResult want = train(cpu, GetParam(), 6, 0, dir / "cpu");
  const RunResult got = train(guarded, GetParam(), 6, 3, dir / "guarded");
  EXPECT_EQ(got.losses, want.losses);
  EXPECT_TRUE(got.params == want.params) << "weights after 6 steps differ";
  EXPECT_EQ(got.val_loss, want.val_loss);
  fs::remove_all(dir);
}

// fp16's loss scaling in the training loop: backward at 2^16, gradients divided by it
// after the reduction. Powers of two scale exactly, so the run must equal the unscaled
// one bit for bit; that pins where the unscaling happens (after the all-reduce, before
// the norm and the clip).
TEST_P(DevicePath, LossScaledTrainingEqualsUnscaled) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("loss_scaled_" + GetParam());
  CpuBackend cpu;
  testing::GuardedBackend guarded;
  DynamicLossScaler scaler;
  const RunResult want = train(cpu, GetParam(), 4, 0, dir);
  const RunResult got = train(guarded, GetParam(), 4, 0, dir, &scaler);
  EXPECT_EQ(got.losses, want.losses);
  EXPECT_TRUE(got.params == want.params);
  EXPECT_EQ(scaler.scale(), 65536.0f);
  EXPECT_EQ(scaler.skipped_steps(), 0);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Strategies, DevicePath, ::testing::Values("allreduce", "zero1"));

}  // namespace
}  // namespace cohort
