// cohort train: resolves the run config, builds model, optimizer and data (a prepared
// dataset or --synthetic tokens), runs the step loop with a live progress line,
// validates every eval_every steps (early stopping with patience), checkpoints every
// checkpoint_every steps and at the end, and resumes exactly with --resume. Under
// mpirun every rank runs this; rank 0 prints, logs and writes checkpoints. With
// --ps-servers S the last S ranks run train_server.cc instead.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "backend/make_backend.h"
#include "dist/gradient_communicator.h"
#include "cli/commands.h"
#include "train/run_config.h"
#include "train/ps_run.h"
#include "core/error.h"
#include "core/threads.h"
#include "data/dataset.h"
#include "data/sharded_loader.h"
#include "data/synthetic_source.h"
#include "data/task_dataset.h"
#include "dist/communicator.h"
#include "dist/launcher.h"
#include "dist/ps_worker_strategy.h"
#include "dist/rank_agreement.h"
#include "model/gpt.h"
#include "model/make_model.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/fault_injection.h"
#include "train/init_from.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/stop_signal.h"
#include "train/task_batches.h"
#include "train/task_eval.h"
#include "train/trainer.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

struct TrainOptions {
  std::string config_file;
  std::vector<std::string> sets;
  // (flag, key=value) from the shortcut flags, applied before --set
  std::vector<std::pair<std::string, std::string>> flag_sets;
  bool synthetic = false;
  bool resume = false;
  long stop_at = 0;       // stop after this step with a checkpoint, as a preempted job would
  std::string rank_logs;  // each rank writes its progress lines to DIR/rank-R.log
  bool dump_config = false;
  bool help_config = false;
  // Testing: worker `rank` sleeps `ms` milliseconds before step `step` (a straggler).
  struct SlowWorker {
    int rank = -1;
    long step = 0;
    long ms = 0;
  };
  std::vector<SlowWorker> slow;
  std::vector<long> nan_steps;  // testing: rank 0's loss is NaN at these steps
  std::string kill_at;          // testing: "RANK:STEP": SIGKILL before that step (first run)
};

// Evaluation batches for synthetic data come from step numbers no training run reaches.
constexpr long kHeldOutStep = 1L << 30;
constexpr int kSyntheticEvalBatches = 8;

RunConfig resolve_config(const TrainOptions& o) {
  RunConfig cfg;
  if (!o.config_file.empty()) cfg.apply_toml_file(o.config_file);
  for (const auto& [flag, s] : o.flag_sets) cfg.apply_override(s, flag);
  for (const auto& s : o.sets) cfg.apply_override(s);
  return cfg;
}

// The data a run trains and validates on.
struct RunData {
  std::unique_ptr<BatchSource> train;
  std::string fingerprint;          // what every rank must agree on
  ShardedLoader* loader = nullptr;  // train as a ShardedLoader, when it is one
  std::vector<int32_t> val;         // empty: no validation split
  long val_words = 0;
  std::optional<fs::path> tokenizer_dir;
  std::string describe;
  // The encoder and seq2seq tasks: samples instead of token streams.
  std::optional<TaskInfo> task;
  std::vector<TaskSample> task_train, task_val;
};

// A task dataset (cohort prepare genre | translation) for train.task mlm, classify or
// translate; sets the model's vocabulary and classes from it.
RunData open_task_data(RunConfig& cfg, const std::string& where, bool load_samples) {
  RunData d;
  const fs::path dir = cfg.train.data_dir;
  const TaskInfo info = read_task_info(dir);
  const std::string& task = cfg.train.task;
  const bool genre = task == "mlm" || task == "classify";
  if ((genre && info.task != "genre") || (!genre && info.task != "translation")) {
    throw Error(fmt::format(
        "{}: train.task = {} needs a {} dataset, but {} is a {} dataset", where, task,
        genre ? "genre (cohort prepare genre)" : "translation (cohort prepare translation)",
        dir.string(), info.task));
  }
  if (cfg.model.vocab_size == 0) cfg.model.vocab_size = info.vocab_size;
  if (cfg.model.vocab_size != info.vocab_size) {
    throw Error(fmt::format("{}: model.vocab_size is {} but {} needs {} (leave it unset)", where,
                            cfg.model.vocab_size, dir.string(), info.vocab_size));
  }
  if (task == "classify" && cfg.model.n_classes == 0)
    cfg.model.n_classes = int(info.classes.size());
  if (task == "classify" && cfg.model.n_classes != int(info.classes.size())) {
    throw Error(fmt::format("{}: model.n_classes is {} but {} has {} classes", where,
                            cfg.model.n_classes, dir.string(), info.classes.size()));
  }
  if (info.max_len > cfg.model.context_length) {
    throw Error(
        fmt::format("{}: {} has sequences of up to {} tokens, more than "
                    "model.context_length {}",
                    where, dir.string(), info.max_len, cfg.model.context_length));
  }
  cfg.validate(where);
  d.fingerprint = fmt::format("{} {} train {}", dir.filename().string(), task,
                              task_split_fingerprint(dir, "train"));
  d.task = info;
  d.tokenizer_dir = dir / "tokenizer";
  if (!load_samples) return d;
  d.task_train = read_task_split(dir, "train", info);
  if (fs::exists(dir / "val.jsonl")) d.task_val = read_task_split(dir, "val", info);
  d.describe = fmt::format("{}: {} {} training samples, {} validation ({})", dir.string(),
                           d.task_train.size(), info.task, d.task_val.size(), info.source);
  return d;
}

// Without load_tokens only the fingerprint and vocabulary are resolved (a server's need).
RunData open_data(RunConfig& cfg, bool synthetic, const std::string& where,
                  const Communicator& comm, bool load_tokens) {
  RunData d;
  cfg.resolve_task();
  if (cfg.train.task != "lm") {
    if (synthetic) throw Error(fmt::format("{}: --synthetic is for train.task = lm", where));
    if (cfg.train.data_dir.empty()) {
      throw Error(fmt::format("{}: train.task = {} needs --data: a dataset from cohort prepare {}",
                              where, cfg.train.task,
                              cfg.train.task == "translate" ? "translation" : "genre"));
    }
    return open_task_data(cfg, where, load_tokens);
  }
  if (synthetic) {
    if (cfg.model.vocab_size == 0) cfg.model.vocab_size = 256;
    cfg.validate(where);
    auto source = std::make_unique<SyntheticSource>(cfg.model.vocab_size,
                                                    cfg.data.synthetic_branching, cfg.train.seed);
    source->set_rank(comm.rank(), cfg.train.grad_accum);
    d.train = std::move(source);
    d.describe = d.train->describe();
    d.fingerprint = d.describe;
    return d;
  }
  if (cfg.train.data_dir.empty()) {
    throw Error(
        fmt::format("{}: no training data: set data_dir to a prepared dataset "
                    "(cohort prepare brown --out data/brown) or pass --synthetic",
                    where));
  }
  const fs::path dir = cfg.train.data_dir;
  if (is_task_dataset(dir)) {
    throw Error(
        fmt::format("{}: {} is a {} dataset: train it with --task {}", where, dir.string(),
                    read_task_info(dir).task,
                    read_task_info(dir).task == "genre" ? "mlm or --task classify" : "translate"));
  }
  const DatasetInfo info = read_dataset_info(dir);
  if (cfg.model.vocab_size == 0) {
    cfg.model.vocab_size = info.vocab_size;
  } else if (cfg.model.vocab_size != info.vocab_size) {
    throw Error(
        fmt::format("{}: model.vocab_size is {} but {} has a vocabulary of {} "
                    "(leave model.vocab_size unset to take the dataset's)",
                    where, cfg.model.vocab_size, dir.string(), info.vocab_size));
  }
  cfg.validate(where);
  d.fingerprint = dir.filename().string() + " train " + info.splits.at("train").fingerprint;
  if (!load_tokens) return d;
  auto loader = std::make_unique<ShardedLoader>(
      load_split(dir, info, "train"), info.vocab_size, cfg.train.seq_len, cfg.train.batch_size,
      cfg.train.grad_accum, cfg.train.seed, comm.rank(), comm.world(), (dir / "train").string());
  d.loader = loader.get();
  d.describe =
      fmt::format("{} ({} tokenizer, V={})", loader->describe(), info.tokenizer, info.vocab_size);
  d.train = std::move(loader);
  if (info.splits.count("val")) {
    d.val = load_split(dir, info, "val");
    d.val_words = info.splits.at("val").words;
  }
  d.tokenizer_dir = dir / "tokenizer";
  return d;
}

int run_train(const TrainOptions& o) {
  if (o.help_config) {
    fmt::print(
        "Config keys (top level, then TOML sections [model], [optim], [train], [data]; or "
        "--set key=value):\n{}",
        RunConfig::describe_keys());
    return 0;
  }
  const std::string where = o.config_file.empty() ? "config" : o.config_file;
  RunConfig cfg = resolve_config(o);
  if (o.dump_config) {
    fmt::print("{}", cfg.to_toml());
    return 0;
  }
  // Under mpirun, start-up errors are compared between ranks, so that a config every
  // rank reads alike is reported once rather than once per rank.
  std::string error;
  int error_code = 0;
  auto capture = [&](auto&& step) {
    try {
      step();
    } catch (const CollectiveError&) {
      throw;
    } catch (const Error& e) {
      if (!launched_by_mpi()) throw;
      error = e.what();
      error_code = e.exit_code();
    }
  };
  // Under `cohort launch`, a restarted job (COHORT_RESTART >= 1) resumes from its run
  // directory if it got as far as a checkpoint, and starts afresh if it did not.
  const char* restart = std::getenv("COHORT_RESTART");
  const bool restarted = restart != nullptr && std::atoi(restart) > 0;
  bool resume = o.resume;
  capture([&] {
    cfg.validate(where);
    // Before any rank takes a role: a parameter server's ranks would otherwise be serving
    // while its workers refused the backend.
    check_backend_supports(cfg.train, cfg.dist);
    if (restarted && !cfg.train.run_dir.empty() &&
        fs::exists(fs::path(cfg.train.run_dir) / "checkpoints" / "latest")) {
      resume = true;
    }
    if (resume && cfg.train.run_dir.empty()) {
      throw Error("--resume needs a run directory: pass --run-dir DIR (or set run_dir)");
    }
    if (!resume && !cfg.train.run_dir.empty() &&
        fs::exists(fs::path(cfg.train.run_dir) / "checkpoints" / "latest")) {
      throw Error(
          fmt::format("{}: already has checkpoints: pass --resume to continue it, or "
                      "choose another --run-dir",
                      cfg.train.run_dir));
    }
  });
  std::unique_ptr<Communicator> world_owner = make_communicator(nullptr, nullptr);
  Communicator& world = *world_owner;
  raise_if_any_failed(world, error, error_code);
  install_stop_handlers();
  // comm: the ranks that compute. A parameter server's workers and servers each get
  // their own communicator; otherwise every rank computes.
  const bool ps = cfg.dist.name == "ps";
  PsRoles roles;
  std::unique_ptr<Communicator> role_comm;
  if (ps) {
    roles = ps_roles(cfg.dist.ps_servers, world.world());
    role_comm = world.split(roles.is_server(world.rank()) ? 1 : 0);
  }
  Communicator& comm = ps ? *role_comm : world;
  const bool serving = ps && roles.is_server(world.rank());
  RunData data;
  capture([&] { data = open_data(cfg, o.synthetic, where, comm, !serving); });
  raise_if_any_failed(world, error, error_code);
  if (serving) {
    return run_parameter_server(cfg, data.fingerprint, o.stop_at, resume, world, comm, roles);
  }
  const bool lead = comm.rank() == 0;
  const TrainConfig& tc = cfg.train;
  set_thread_count(tc.threads);

  const std::unique_ptr<Backend> backend_owner = make_backend(tc.backend, tc.precision);
  Backend& backend = *backend_owner;
  const std::unique_ptr<Model> model_owner = make_model(cfg.model, backend);
  Model& model = *model_owner;
  Gpt* gpt = dynamic_cast<Gpt*>(&model);
  model.init_weights(tc.seed);
  if (!tc.init_from.empty() && !resume) {
    const InitFromReport r = init_from_checkpoint(model, tc.init_from);
    if (lead) {
      std::string fresh;
      for (const auto& n : r.fresh) fresh += (fresh.empty() ? "" : ", ") + n;
      fmt::print("init: {} tensors from {}{}\n", r.copied, r.dir,
                 fresh.empty() ? "" : "; newly initialized: " + fresh);
    }
  }
  check_ranks_agree(world, cfg.to_toml(), model.layout(), data.fingerprint);
  // NCCL between GPUs; host-side collectives (losses, checks) stay on `world`.
  const std::unique_ptr<Communicator> gpu_comm = make_gradient_communicator(tc.backend, world);
  auto strategy = make_strategy(cfg.dist, gpu_comm ? *gpu_comm : world, model, cfg.optim);
  auto* ps_worker = dynamic_cast<PsWorkerStrategy*>(strategy.get());
  Optimizer* optimizer = strategy->optimizer();  // null on a parameter server's worker
  LrSchedule schedule{tc.lr, tc.min_lr, tc.warmup, tc.steps};
  std::unique_ptr<MicroBatches> batches;
  if (data.task) {
    const TaskBatchShape shape{tc.batch_size, tc.grad_accum, comm.rank(), comm.world(), tc.seed};
    if (auto* enc = dynamic_cast<EncoderModel*>(&model)) {
      batches = std::make_unique<EncoderMicroBatches>(*enc, *data.task, data.task_train,
                                                      tc.task == "mlm", shape);
    } else {
      batches =
          std::make_unique<Seq2SeqMicroBatches>(dynamic_cast<Seq2SeqModel&>(model), *data.task,
                                                data.task_train, tc.label_smoothing, shape);
    }
  } else {
    batches = std::make_unique<LmMicroBatches>(*gpt, *data.train, tc.batch_size, tc.seq_len);
  }
  // Test faults, only when their flags ask: decorators around the micro-batches and
  // observers of the step loop (train/fault_injection.h).
  std::unique_ptr<MicroBatches> nan_batches;
  if (!o.nan_steps.empty()) {
    nan_batches = std::make_unique<NonFiniteMicroBatches>(
        *batches, model, NonFiniteMicroBatches::Fault::kLoss,
        std::set<long>(o.nan_steps.begin(), o.nan_steps.end()), 0, world.rank());
  }
  Trainer trainer(model, nan_batches ? *nan_batches : *batches, *strategy, comm, tc, schedule);
  std::vector<std::unique_ptr<StepObserver>> faults;
  if (!o.kill_at.empty()) {
    int kill_rank = -1;
    long kill_step = -1;
    if (std::sscanf(o.kill_at.c_str(), "%d:%ld", &kill_rank, &kill_step) != 2)
      throw Error(fmt::format("--test-kill-at: expected RANK:STEP, got '{}'", o.kill_at));
    // A restarted job (cohort launch) runs on: the kill happens once.
    if (kill_rank == world.rank() && !restarted)
      faults.push_back(std::make_unique<KillBeforeStep>(kill_step));
  }
  std::vector<std::pair<long, long>> sleeps;
  for (const auto& slow : o.slow)
    if (slow.rank == world.rank()) sleeps.emplace_back(slow.step, slow.ms);
  if (!sleeps.empty()) faults.push_back(std::make_unique<SleepBeforeSteps>(std::move(sleeps)));
  for (auto& f : faults) trainer.add_observer(f.get());
  CommWatchdog watchdog(comm, cfg.dist.comm_timeout);
  trainer.set_watchdog(&watchdog);
  DynamicLossScaler loss_scaler;
  if (tc.resolved_precision() == "fp16") trainer.set_loss_scaler(&loss_scaler);

  TrainingState state;
  state.seed = tc.seed;
  std::string resumed_from;  // the checkpoint directory, when resumed
  if (resume) {
    LoadedCheckpoint ck = load_newest_good_checkpoint(tc.run_dir, [&](const std::string& w) {
      if (lead) fmt::print(stderr, "cohort: warning: {}\n", w);
    });
    const fs::path ck_dir = ck.dir;
    if (ck.model.shape() != cfg.model.shape()) {
      throw Error(fmt::format("{}: checkpoint model ({}) differs from the config's ({})",
                              ck_dir.string(), ck.model.shape(), cfg.model.shape()));
    }
    model.upload_params(ck.params.data());
    if (optimizer) load_optimizer_state(ck_dir, *optimizer);
    state = ck.state;
    trainer.set_next_step(state.step);
    if (data.loader) data.loader->restore({state.step, state.loader_sample});
    if (lead) fmt::print("resumed from {} at step {}\n", ck_dir.string(), state.step);
    resumed_from = ck_dir.string();
  }
  // Every replica starts from the same parameters: rank 0's, or the servers'.
  strategy->start(trainer.next_step());

  MetricsLog metrics;
  if (!tc.run_dir.empty() && lead) {
    std::error_code ec;
    fs::create_directories(tc.run_dir, ec);
    if (ec) throw Error(fmt::format("{}: cannot create directory: {}", tc.run_dir, ec.message()));
    metrics = MetricsLog(tc.run_dir + "/metrics.jsonl");
    if (!resumed_from.empty()) {
      // docs/metrics.md: a restart is a resume with restart >= 1; a world change one
      // whose world differs from checkpoint_world.
      metrics.write({{"kind", "resume"},
                     {"step", state.step},
                     {"from", resumed_from},
                     {"restart", restart ? std::atoi(restart) : 0},
                     {"world", world.world()},
                     {"checkpoint_world", state.world > 0 ? nlohmann::json(state.world) : nullptr}});
    }
  }

  // Tasks count samples (their sequences vary in length); the LM counts tokens.
  const long samples_per_step = long(tc.batch_size) * tc.grad_accum * comm.world();
  const long tokens_per_step = data.task ? samples_per_step : samples_per_step * tc.seq_len;
  const char* unit = data.task ? "samples" : "tok";
  if (lead) {
    fmt::print("{}", cfg.to_toml());
    fmt::print("model: {}{} dropout={} | {:.2f}M parameters\n", gpt ? "GPT " : "",
               cfg.model.shape(), cfg.model.dropout, model.num_params() / 1e6);
    fmt::print("data:  {}\n", data.describe);
    if (tc.backend != "cpu") {
      fmt::print("backend: {} | {} matmuls{}\n", backend.name(), tc.resolved_precision(),
                 tc.resolved_precision() == "fp16" ? ", dynamic loss scaling from 2^16" : "");
    }
    if (data.task) {
      fmt::print(
          "train: {} steps x {} samples (B={} per rank, accum={}, {} ranks), task {} | {} lr={} "
          "warmup={} | {} threads per rank\n",
          tc.steps, samples_per_step, tc.batch_size, tc.grad_accum, comm.world(), tc.task,
          cfg.optim.name, tc.lr, tc.warmup, thread_count());
    } else {
      fmt::print(
          "train: {} steps x {} tokens (B={} per rank, T={}, accum={}, {} ranks) | {} lr={} "
          "warmup={} | {} threads per rank\n",
          tc.steps, tokens_per_step, tc.batch_size, tc.seq_len, tc.grad_accum, comm.world(),
          cfg.optim.name, tc.lr, tc.warmup, thread_count());
    }
    if (world.world() > 1) fmt::print("dist:  {}\n", strategy->describe());
    std::fflush(stdout);
  }

  auto save = [&](bool is_best) {
    if (tc.run_dir.empty()) return;
    state.step = trainer.next_step();
    state.world = world.world();
    state.loader_sample = data.loader ? data.loader->position(state.step).sample : 0;
    CheckpointContents c;
    c.optimizer = optimizer;
    c.model = &cfg.model;
    c.layout = &model.layout();
    c.params = model.params();
    c.params_space = &model.backend().memory();
    c.tokenizer_dir = data.tokenizer_dir ? &*data.tokenizer_dir : nullptr;
    c.run_config_toml = cfg.to_toml();
    c.state = state;
    auto watched = watchdog.watch("the checkpoint", state.step);
    save_checkpoint(tc.run_dir, c, tc.keep_checkpoints, is_best, world);
  };
  // At a cut the servers of a parameter server learn what rank 0 decided (train_cut.h);
  // the other strategies' ranks all reached the same decision themselves.
  auto tell_servers = [&](bool save_now, bool is_best, bool stop) {
    if (!ps) return;
    CutControl control;
    control.save = save_now && !tc.run_dir.empty();
    control.is_best = is_best;
    control.stop = stop;
    world.broadcast(&control, sizeof control, 0);
  };
  auto rank_summary = [&]() {
    if (!ps_worker) return;
    print_rank_summaries(
        world,
        fmt::format("worker rank {}: {} steps, {:.2f} s sending to and waiting for the servers",
                    world.rank(), trainer.next_step(), ps_worker->wait_seconds()));
  };
  // Mean validation loss per token, the ranks sharing the batches; none without a split.
  // Periodic validations score the first eval_tokens tokens; the last one all of them.
  // The tasks' validation: their loss on the whole val split, and for classify its
  // accuracy and macro-F1 (val_extra, val_json).
  std::string val_extra;
  nlohmann::json val_json = nlohmann::json::object();
  auto validate_task = [&]() -> std::optional<double> {
    if (data.task_val.empty()) return std::nullopt;
    auto watched = watchdog.watch("validation", trainer.next_step());
    if (ps_worker && !strategy->synchronous()) {
      check_replicas_identical(comm, model.params(), model.num_params(), model.backend().memory());
    }
    TaskEvalTotals t;
    if (auto* enc = dynamic_cast<EncoderModel*>(&model)) {
      t = evaluate_encoder(*enc, *data.task, data.task_val, tc.task == "mlm", tc.batch_size,
                           tc.seed, comm.rank(), comm.world());
    } else {
      t = evaluate_seq2seq(dynamic_cast<Seq2SeqModel&>(model), *data.task, data.task_val,
                           tc.batch_size, comm.rank(), comm.world());
    }
    task_eval_reduce(t, comm);
    if (tc.task == "classify") {
      const ClassificationScores sc = score_confusion(t.confusion, cfg.model.n_classes);
      val_extra = fmt::format(" | accuracy {:.4f} | macro-F1 {:.4f}", sc.accuracy, sc.macro_f1);
      val_json = {{"val_accuracy", sc.accuracy}, {"val_macro_f1", sc.macro_f1}};
    }
    return t.loss();
  };
  auto validate = [&](bool whole_split) -> std::optional<double> {
    if (data.task) return validate_task();
    if (data.val.empty()) return std::nullopt;
    auto watched = watchdog.watch("validation", trainer.next_step());
    // An asynchronous parameter server's workers drift apart between cuts; at a cut
    // they must hold one snapshot, or their validation shares would not add up.
    if (ps_worker && !strategy->synchronous()) {
      check_replicas_identical(comm, model.params(), model.num_params(), model.backend().memory());
    }
    const EvalTotals t =
        evaluate_stream(*gpt, data.val, tc.batch_size, tc.seq_len, tc.seq_len,
                        whole_split ? 0 : tc.eval_tokens, comm.rank(), comm.world());
    double sums[2] = {t.nll, double(t.predicted)};
    comm.all_reduce_sum(sums, 2);
    return sums[0] / sums[1];
  };

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> rank_log(nullptr, &std::fclose);
  if (!o.rank_logs.empty()) {
    std::error_code ec;
    fs::create_directories(o.rank_logs, ec);
    const std::string path = fmt::format("{}/rank-{}.log", o.rank_logs, comm.rank());
    rank_log.reset(std::fopen(path.c_str(), "a"));
    if (!rank_log) throw Error(fmt::format("{}: cannot open for writing", path));
  }
  ProgressLine progress(tc.steps, tokens_per_step, tc.log_every, trainer.next_step(),
                        lead ? stdout : nullptr, unit);
  ProgressLine rank_progress(tc.steps, tokens_per_step, tc.log_every, trainer.next_step(),
                             rank_log.get(), unit);
  double last_val = NAN;
  float last_loss = NAN;  // every metrics line carries step and loss
  bool stopped_early = false;
  int bad_in_a_row = 0;
  while (trainer.next_step() < tc.steps) {
    const StepResult r = trainer.step();
    state.lr = r.lr;
    if (r.overflow) {
      // fp16 finding its loss scale: expected now and then, not a bad step.
      metrics.write({{"kind", "overflow"},
                     {"step", r.step},
                     {"loss", r.loss},
                     {"loss_scale", r.loss_scale},
                     {"next_loss_scale", loss_scaler.scale()}});
    } else if (r.skipped) {
      // The parameters are unchanged; every rank saw the same verdict.
      ++bad_in_a_row;
      progress.finish();
      if (lead) {
        fmt::print(stderr,
                   "cohort: warning: step {}: loss {} | gradient norm {}: not finite, step "
                   "skipped ({} in a row; the run stops at {})\n",
                   r.step, r.loss, r.grad_norm, bad_in_a_row, tc.max_bad_steps);
      }
      metrics.write(
          {{"kind", "skipped"},
           {"step", r.step},
           {"loss", r.loss},
           {"grad_norm", r.grad_norm}});
      if (bad_in_a_row >= tc.max_bad_steps) {
        throw CollectiveError(
            fmt::format("steps {}-{}: loss or gradient norm not finite {} times in a row "
                        "(train.max_bad_steps); the parameters are those of step {}{}; lower "
                        "train.lr or raise train.warmup",
                        r.step - bad_in_a_row + 1, r.step, bad_in_a_row, r.step - bad_in_a_row + 1,
                        tc.run_dir.empty() ? "" : ", and the checkpoints are intact"),
            4);
      }
    } else {
      bad_in_a_row = 0;
      last_loss = r.loss;
    }
    progress.update(r);
    rank_progress.update(r);
    nlohmann::json line = {{"kind", "train"}, {"step", r.step},           {"loss", r.loss},
                           {"lr", r.lr},      {"grad_norm", r.grad_norm}, {"seconds", r.seconds}};
    if (tc.resolved_precision() == "fp16") line["loss_scale"] = r.loss_scale;
    if (ps_worker) {
      const PsServerStats& s = ps_worker->server_stats();
      line["ps_wait_seconds"] = ps_worker->wait_seconds();
      line["staleness_mean"] = s.applied ? double(s.staleness_sum) / double(s.applied) : 0.0;
      line["staleness_max"] = s.staleness_max;
    }
    metrics.write(line);
    const long done = r.step + 1;
    const bool last = done == tc.steps;
    bool is_best = false;
    if (tc.eval_every > 0 && done % tc.eval_every == 0 && !last) {
      if (auto v = validate(false)) {
        last_val = *v;
        is_best = state.record_validation(*v, done);
        progress.finish();
        if (lead) {
          fmt::print(
              "step {}: val_loss {:.4f} | val perplexity {:.2f}{}{}{}\n", done, *v, std::exp(*v),
              tc.eval_tokens > 0 && !data.task ? fmt::format(" (first {} tokens)", tc.eval_tokens)
                                               : "",
              val_extra, is_best ? " (best)" : "");
        }
        nlohmann::json line = {{"kind", "eval"},
                               {"step", r.step},
                               {"loss", r.loss},
                               {"val_loss", *v},
                               {"val_perplexity", std::exp(*v)}};
        line.update(val_json);
        metrics.write(line);
        if (tc.patience > 0 && state.evals_since_best >= tc.patience) stopped_early = true;
      }
    }
    if (last) break;  // the final validation and checkpoint follow the loop
    // Preemption: the ranks agree on a signal every step (a parameter server's workers
    // at cut steps, the only steps where they all meet).
    const bool cut = is_cut_step(done, tc, o.stop_at);
    int signal = 0;
    if (!ps || cut) {
      double s = stop_signal();
      comm.all_reduce_max(&s, 1);
      signal = int(s);
    }
    const bool periodic = tc.checkpoint_every > 0 && done % tc.checkpoint_every == 0;
    const bool stop_here = (o.stop_at > 0 && done == o.stop_at) || signal != 0;
    const bool save_now = periodic || (is_best && tc.patience > 0) || stopped_early || stop_here;
    if (cut) tell_servers(save_now, is_best, stopped_early || stop_here);
    if (save_now) save(is_best);
    if (stop_here) {
      progress.finish();
      if (lead && signal != 0) {
        fmt::print("stopped by {} after step {}{}; continue with --resume\n", signal_name(signal),
                   done,
                   tc.run_dir.empty() ? " (no run_dir: nothing saved)" : ", checkpoint written");
      } else if (lead) {
        fmt::print("stopped after step {} (--stop-at); continue with --resume\n", done);
      }
      rank_summary();
      return 0;
    }
    if (stopped_early) {
      progress.finish();
      if (lead) {
        fmt::print(
            "early stop at step {}: no improvement in {} validations (best val_loss "
            "{:.4f} at step {})\n",
            done, tc.patience, state.best_val_loss, state.best_step);
      }
      break;
    }
  }
  progress.finish();
  check_replicas_identical(comm, model.params(), model.num_params(), model.backend().memory());
  if (lead && comm.world() > 1) {
    fmt::print("replicas: {} ranks hold bit-identical parameters\n", comm.world());
  }

  if (o.synthetic) {
    const float val = trainer.evaluate(kHeldOutStep, kSyntheticEvalBatches);
    metrics.write({{"kind", "eval"},
                   {"step", trainer.next_step() - 1},
                   {"loss", last_loss},
                   {"split", "held-out"},
                   {"val_loss", val}});
    if (lead) {
      fmt::print("held-out loss {:.4f} | perplexity {:.3f} (ln V = {:.4f})\n", val,
                 std::exp(double(val)), std::log(double(cfg.model.vocab_size)));
    }
    tell_servers(true, false, true);
    save(false);
    rank_summary();
    return 0;
  }
  if (!stopped_early) {
    if (auto v = validate(true)) {
      last_val = *v;
      const bool is_best = state.record_validation(*v, trainer.next_step());
      nlohmann::json line = {{"kind", "eval"},
                             {"step", trainer.next_step() - 1},
                             {"loss", last_loss},
                             {"val_loss", *v},
                             {"val_perplexity", std::exp(*v)}};
      line.update(val_json);
      metrics.write(line);
      tell_servers(true, is_best, true);
      save(is_best);
    } else {
      tell_servers(true, false, true);
      save(false);
    }
  }
  rank_summary();
  if (!lead) return 0;
  if (std::isfinite(last_val)) {
    fmt::print("val_loss {:.4f} | val perplexity {:.2f} (whole split){} | best {:.4f} at step {}\n",
               last_val, std::exp(last_val), val_extra, state.best_val_loss, state.best_step);
  }
  if (!tc.run_dir.empty()) {
    fmt::print("checkpoints: {}/checkpoints (latest, best)\n", tc.run_dir);
  }
  return 0;
}

}  // namespace

void add_train_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = root.add_subcommand(
      "train",
      "Train a model on a prepared dataset: a GPT (--task lm), a BERT-style encoder (--task "
      "mlm, classify) or an encoder-decoder (--task translate)");
  cmd->add_option("-c,--config", o->config_file, "TOML config file (see configs/)");
  cmd->add_option("--set", o->sets, "Override a config key: --set model.n_layer=6 (repeatable)");
  cmd->add_flag("--synthetic", o->synthetic, "Train on generated token sequences (no corpus)");
  cmd->add_flag("--resume", o->resume,
                "Continue exactly from the run directory's newest checkpoint");
  cmd->add_option("--rank-logs", o->rank_logs,
                  "Each rank also writes its progress lines to DIR/rank-R.log");
  cmd->add_option("--stop-at", o->stop_at,
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
           "Data-parallel strategy under mpirun: allreduce | zero1 | ps");
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
  cmd->add_option_function<std::vector<std::string>>(
         "--test-slow-worker",
         [o](const std::vector<std::string>& values) {
           for (const auto& v : values) {
             TrainOptions::SlowWorker w;
             if (std::sscanf(v.c_str(), "%d:%ld:%ld", &w.rank, &w.step, &w.ms) != 3 || w.rank < 0 ||
                 w.step < 0 || w.ms < 0) {
               throw CLI::ValidationError("--test-slow-worker",
                                          "expected RANK:STEP:MS, e.g. 1:0:1500, got '" + v + "'");
             }
             o->slow.push_back(w);
           }
         },
         "Testing: rank RANK sleeps MS milliseconds before step STEP (a straggler; "
         "repeatable)")
      ->group("")  // testing flags: usable, but not in the user's --help
      ->take_all();
  cmd->add_option("--test-kill-at", o->kill_at,
                  "Testing: rank RANK kills itself (SIGKILL) before step STEP, unless "
                  "restarted by cohort launch")
      ->group("");
  cmd->add_option("--test-nan-at", o->nan_steps,
                  "Testing: rank 0's loss is NaN at these steps (repeatable)")
      ->group("");
  cmd->footer("Defaults of every config key: cohort train --help-config");
  cmd->callback([o, &exit_code]() { exit_code = run_train(*o); });
}

}  // namespace cohort
