// cohort train: the flags. Parses them into a RunConfig (defaults < --config FILE <
// shortcut flags < --set) and RunOptions, answers --help-config and --dump-config, and
// calls run_training (src/train/run.h), which does the rest.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "train/run.h"
#include "train/run_config.h"

namespace cohort {

namespace {

struct TrainOptions {
  std::string config_file;
  std::vector<std::string> sets;
  // (flag, key=value) from the shortcut flags, applied before --set
  std::vector<std::pair<std::string, std::string>> flag_sets;
  bool dump_config = false;
  bool help_config = false;
  RunOptions run;
};

int run_train(const TrainOptions& o) {
  if (o.help_config) {
    fmt::print(
        "Config keys (top level, then TOML sections [model], [optim], [train], [data]; or "
        "--set key=value):\n{}",
        RunConfig::describe_keys());
    return 0;
  }
  RunConfig cfg;
  if (!o.config_file.empty()) cfg.apply_toml_file(o.config_file);
  for (const auto& [flag, s] : o.flag_sets) cfg.apply_override(s, flag);
  for (const auto& s : o.sets) cfg.apply_override(s);
  if (o.dump_config) {
    fmt::print("{}", cfg.to_toml());
    return 0;
  }
  if (o.run.plan_world > 0) cfg.train.run_dir.clear();  // a plan writes nothing
  RunOptions run = o.run;
  run.where = o.config_file.empty() ? "config" : o.config_file;
  return run_training(std::move(cfg), run);
}

// The flags that say what a run is: train's, and plan's (which plans that run).
void add_run_flags(CLI::App* cmd, const std::shared_ptr<TrainOptions>& o) {
  cmd->add_option("-c,--config", o->config_file, "TOML config file (see configs/)");
  cmd->add_option("--set", o->sets, "Override a config key: --set model.n_layer=6 (repeatable)");
  cmd->add_flag("--synthetic", o->run.synthetic, "Train on generated token sequences (no corpus)");
  cmd->add_option("--memory-limit", o->run.memory_limit,
                  "Refuse at start-up a run whose memory plan per rank exceeds this (4G, 512M; "
                  "0: no check; default: the memory available to each rank on this host)");
  cmd->add_flag("--resume", o->run.resume,
                "Continue exactly from the run directory's newest checkpoint");
  cmd->add_option("--rank-logs", o->run.rank_logs,
                  "Each rank also writes its progress lines to DIR/rank-R.log");
  cmd->add_option("--stop-at", o->run.stop_at,
                  "Stop after this step with a checkpoint (the schedule still spans --steps)");
  cmd->add_flag("--dump-config", o->dump_config, "Print the resolved config as TOML and exit");
  cmd->add_flag("--help-config", o->help_config, "List every config key with its default and exit");
  auto shortcut = [&](const char* flag, const char* key, const char* help) {
    cmd->add_option_function<std::string>(
           flag,
           [o, flag, key](const std::string& v) {
             o->flag_sets.emplace_back(flag, std::string(key) + "=" + v);
           },
           help)
        ->default_str(RunConfig::default_of(key));
  };
  shortcut("--steps", "train.steps", "Optimizer steps (train.steps)");
  shortcut("--batch-size", "train.batch_size",
           "Sequences per micro-batch, per rank (train.batch_size)");
  shortcut("--seq-len", "train.seq_len", "Tokens per sequence (train.seq_len)");
  shortcut("--grad-accum", "train.grad_accum", "Micro-batches per step (train.grad_accum)");
  shortcut("--lr", "train.lr", "Peak learning rate (train.lr)");
  shortcut("--threads", "train.threads", "CPU threads (train.threads)");
  shortcut("--seed", "train.seed", "Random seed (train.seed)");
  shortcut("--backend", "train.backend", "cpu | cuda: one GPU per rank (train.backend)");
  shortcut("--precision", "train.precision",
           "auto | fp32 | bf16 | fp16: the CUDA matmuls; auto is bf16 on cuda (train.precision)");
  shortcut("--data", "data_dir", "Prepared dataset directory (data_dir)");
  shortcut("--task", "train.task",
           "lm | mlm | classify | translate (train.task; model.arch follows)");
  shortcut("--init-from", "train.init_from",
           "Checkpoint or run directory whose tensors of the same name seed the model, e.g. "
           "an mlm run for --task classify (train.init_from)");
  shortcut("--run-dir", "run_dir", "Run directory for metrics.jsonl and checkpoints (run_dir)");
  shortcut("--strategy", "dist.strategy",
           "Data-parallel strategy under mpirun: allreduce | zero1 | zero2 | fsdp | ps");
  cmd->add_option_function<std::string>(
      "--ps-servers",
      [o](const std::string& v) {
        o->flag_sets.emplace_back("--ps-servers", "dist.strategy=ps");
        o->flag_sets.emplace_back("--ps-servers", "dist.ps_servers=" + v);
      },
      "Parameter server: the last S ranks serve parameters, ranks 0..N-S-1 compute "
      "(dist.strategy=ps, dist.ps_servers)");
  shortcut("--comm-timeout", "dist.comm_timeout",
           "Seconds a collective may wait for a rank before the job stops with a message "
           "naming the step and the missing ranks (0: never)");
  shortcut("--staleness", "dist.staleness",
           "Parameter server: 0 synchronous; s > 0 asynchronous, a worker at most s steps "
           "ahead of the slowest (dist.staleness)");
  shortcut("--recompute", "train.recompute",
           "none | attention | block: keep all but the attention probabilities, or each "
           "block's input only, and compute the rest again in backward (train.recompute)");
}

}  // namespace

void add_train_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = root.add_subcommand(
      "train",
      "Train a model on a prepared dataset: a GPT (--task lm), a BERT-style encoder (--task "
      "mlm, classify) or an encoder-decoder (--task translate)");
  add_run_flags(cmd, o);
  cmd->add_option_function<std::vector<std::string>>(
         "--test-slow-worker",
         [o](const std::vector<std::string>& values) {
           for (const auto& v : values) {
             TestFaults::Slow w;
             if (std::sscanf(v.c_str(), "%d:%ld:%ld", &w.rank, &w.step, &w.ms) != 3 || w.rank < 0 ||
                 w.step < 0 || w.ms < 0) {
               throw CLI::ValidationError("--test-slow-worker",
                                          "expected RANK:STEP:MS, e.g. 1:0:1500, got '" + v + "'");
             }
             o->run.faults.slow.push_back(w);
           }
         },
         "Testing: rank RANK sleeps MS milliseconds before step STEP (a straggler; "
         "repeatable)")
      ->group("")  // testing flags: usable, but not in the user's --help
      ->take_all();
  cmd->add_option_function<std::string>(
         "--test-kill-at",
         [o](const std::string& v) {
           TestFaults& f = o->run.faults;
           if (std::sscanf(v.c_str(), "%d:%ld", &f.kill_rank, &f.kill_step) != 2 ||
               f.kill_rank < 0 || f.kill_step < 0) {
             throw CLI::ValidationError("--test-kill-at",
                                        "expected RANK:STEP, e.g. 1:13, got '" + v + "'");
           }
         },
         "Testing: rank RANK kills itself (SIGKILL) before step STEP, unless restarted by "
         "cohort launch")
      ->group("");
  cmd->add_option_function<std::string>(
         "--test-skip-all-gather",
         [o](const std::string& v) {
           TestFaults& f = o->run.faults;
           if (std::sscanf(v.c_str(), "%d:%ld", &f.skip_gather_rank, &f.skip_gather_step) != 2 ||
               f.skip_gather_rank < 0 || f.skip_gather_step < 0) {
             throw CLI::ValidationError("--test-skip-all-gather",
                                        "expected RANK:STEP, e.g. 1:2, got '" + v + "'");
           }
         },
         "Testing: rank RANK skips the first all-gather its strategy starts in step STEP")
      ->group("");
  cmd->add_option("--test-nan-at", o->run.faults.nan_steps,
                  "Testing: rank 0's loss is NaN at these steps (repeatable)")
      ->group("");
  cmd->footer("Defaults of every config key: cohort train --help-config");
  cmd->callback([o, &exit_code]() { exit_code = run_train(*o); });
}

void add_plan_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = root.add_subcommand(
      "plan",
      "Print the memory a training run would take per rank (parameters, gradients, optimizer "
      "state, activations with and without recomputation, buffers), without running it");
  add_run_flags(cmd, o);
  o->run.plan_world = 1;
  cmd->add_option("--world", o->run.plan_world, "Ranks the run would have (zero1 shards over them)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->callback([o, &exit_code]() { exit_code = run_train(*o); });
}

}  // namespace cohort
