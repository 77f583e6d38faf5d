// cohort train: resolves the run config, builds model, optimizer and data, runs the
// step loop with a live progress line, then reports held-out loss and perplexity.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "backend/cpu/cpu_backend.h"
#include "cli/commands.h"
#include "cli/run_config.h"
#include "core/error.h"
#include "core/threads.h"
#include "data/synthetic_source.h"
#include "model/gpt.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace cohort {

namespace {

struct TrainOptions {
  std::string config_file;
  std::vector<std::string> sets;
  // (flag, key=value) from the shortcut flags, applied before --set
  std::vector<std::pair<std::string, std::string>> flag_sets;
  bool synthetic = false;
  bool dump_config = false;
  bool help_config = false;
};

// Evaluation batches for synthetic data come from step numbers no training run reaches.
constexpr long kHeldOutStep = 1L << 30;
constexpr int kEvalBatches = 8;

int run_train(const TrainOptions& o) {
  if (o.help_config) {
    fmt::print(
        "Config keys (TOML sections [model], [optim], [train], [data]; or --set key=value):\n{}",
        RunConfig::describe_keys());
    return 0;
  }
  RunConfig cfg;
  if (!o.config_file.empty()) cfg.apply_toml_file(o.config_file);
  for (const auto& [flag, s] : o.flag_sets) cfg.apply_override(s, flag);
  for (const auto& s : o.sets) cfg.apply_override(s);
  cfg.validate(o.config_file.empty() ? "config" : o.config_file);
  if (o.dump_config) {
    fmt::print("{}", cfg.to_toml());
    return 0;
  }
  if (!o.synthetic) {
    throw Error("no training data: pass --synthetic to train on generated tokens");
  }
  set_thread_count(cfg.train.threads);

  CpuBackend backend;
  Gpt model(cfg.model, backend);
  model.init_weights(cfg.train.seed);
  auto optimizer = make_optimizer(cfg.optim, model.layout(), backend, 0, model.num_params());
  LrSchedule schedule{cfg.train.lr, cfg.train.min_lr, cfg.train.warmup, cfg.train.steps};
  SyntheticSource data(cfg.model.vocab_size, cfg.data.synthetic_branching, cfg.train.seed);
  Trainer trainer(model, *optimizer, data, cfg.train, schedule);

  MetricsLog metrics;
  if (!cfg.train.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(cfg.train.out_dir, ec);
    if (ec)
      throw Error(fmt::format("{}: cannot create directory: {}", cfg.train.out_dir, ec.message()));
    metrics = MetricsLog(cfg.train.out_dir + "/metrics.jsonl");
  }

  const long tokens_per_step =
      long(cfg.train.batch_size) * cfg.train.seq_len * cfg.train.grad_accum;
  fmt::print(
      "model: GPT L={} NH={} C={} V={} (padded {}) context={} dropout={} | {:.2f}M parameters\n",
      cfg.model.n_layer, cfg.model.n_head, cfg.model.n_embd, cfg.model.vocab_size,
      cfg.model.padded_vocab_size(), cfg.model.context_length, cfg.model.dropout,
      model.num_params() / 1e6);
  fmt::print("data:  {}\n", data.describe());
  fmt::print("train: {} steps x {} tokens (B={} T={} accum={}) | {} lr={} warmup={} | {} threads\n",
             cfg.train.steps, tokens_per_step, cfg.train.batch_size, cfg.train.seq_len,
             cfg.train.grad_accum, cfg.optim.name, cfg.train.lr, cfg.train.warmup, thread_count());
  std::fflush(stdout);

  ProgressLine progress(cfg.train.steps, tokens_per_step, cfg.train.log_every);
  double first_loss = 0.0;
  for (long s = 0; s < cfg.train.steps; ++s) {
    const StepResult r = trainer.step();
    if (!std::isfinite(r.loss)) {
      progress.finish();
      throw Error(fmt::format("step {}: loss is not finite ({}); lower train.lr", r.step, r.loss),
                  4);
    }
    if (s == 0) first_loss = r.loss;
    progress.update(r);
    metrics.write({{"kind", "train"},
                   {"step", r.step},
                   {"loss", r.loss},
                   {"lr", r.lr},
                   {"grad_norm", r.grad_norm},
                   {"seconds", r.seconds}});
  }
  progress.finish();
  const float val = trainer.evaluate(kHeldOutStep, kEvalBatches);
  metrics.write({{"kind", "eval"}, {"split", "held-out"}, {"loss", val}});
  fmt::print("held-out loss {:.4f} | perplexity {:.3f} | first-step loss {:.4f} (ln V = {:.4f})\n",
             val, std::exp(double(val)), first_loss, std::log(double(cfg.model.vocab_size)));
  return 0;
}

}  // namespace

void add_train_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = root.add_subcommand("train", "Train a GPT model");
  cmd->add_option("-c,--config", o->config_file, "TOML config file (see configs/)");
  cmd->add_option("--set", o->sets, "Override a config key: --set model.n_layer=6 (repeatable)");
  cmd->add_flag("--synthetic", o->synthetic, "Train on generated token sequences (no corpus)");
  cmd->add_flag("--dump-config", o->dump_config, "Print the resolved config as TOML and exit");
  cmd->add_flag("--help-config", o->help_config, "List every config key with its default and exit");
  auto shortcut = [&](const char* flag, const char* key, const char* help) {
    cmd->add_option_function<std::string>(
        flag,
        [o, flag, key](const std::string& v) {
          o->flag_sets.emplace_back(flag, std::string(key) + "=" + v);
        },
        help);
  };
  shortcut("--steps", "train.steps", "Optimizer steps (train.steps)");
  shortcut("--batch-size", "train.batch_size", "Sequences per micro-batch (train.batch_size)");
  shortcut("--seq-len", "train.seq_len", "Tokens per sequence (train.seq_len)");
  shortcut("--grad-accum", "train.grad_accum", "Micro-batches per step (train.grad_accum)");
  shortcut("--lr", "train.lr", "Peak learning rate (train.lr)");
  shortcut("--threads", "train.threads", "CPU threads (train.threads)");
  shortcut("--seed", "train.seed", "Random seed (train.seed)");
  shortcut("--out", "train.out_dir", "Output directory for metrics.jsonl (train.out_dir)");
  cmd->callback([o, &exit_code]() { exit_code = run_train(*o); });
}

}  // namespace cohort
