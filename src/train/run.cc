// The run of `cohort train`: assembly (data, task and model, strategy, trainer, test
// faults), resume, the step loop with its evaluation, checkpoint and parameter-server cut
// schedule, the metrics lines (docs/metrics.md) and the progress line. Under mpirun every
// rank runs it; rank 0 prints, logs and writes checkpoints; a parameter server's server
// ranks run ps_server_run.cc instead.
#include "train/run.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>

#include "backend/make_backend.h"
#include "core/error.h"
#include "core/threads.h"
#include "dist/collective_tap.h"
#include "dist/gradient_communicator.h"
#include "dist/launcher.h"
#include "dist/ps_worker_strategy.h"
#include "dist/rank_agreement.h"
#include "dist/zero_strategy.h"
#include "train/checkpoint.h"
#include "train/init_from.h"
#include "train/memory_plan.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/ps_run.h"
#include "train/resume.h"
#include "train/run_data.h"
#include "train/stop_signal.h"
#include "train/task.h"
#include "train/trainer.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {
// Evaluation batches for synthetic data come from step numbers no training run reaches.
constexpr long kHeldOutStep = 1L << 30;
constexpr int kSyntheticEvalBatches = 8;

// Whether this run resumes: --resume, or a job cohort launch restarted once it has a
// checkpoint. Throws cohort::Error for a run directory that contradicts the choice.
bool decide_resume(const TrainConfig& tc, bool asked, bool restarted) {
  const bool has_checkpoint =
      !tc.run_dir.empty() && fs::exists(fs::path(tc.run_dir) / "checkpoints" / "latest");
  const bool resume = asked || (restarted && has_checkpoint);
  if (resume && tc.run_dir.empty()) {
    throw Error("--resume needs a run directory: pass --run-dir DIR (or set run_dir)");
  }
  if (!resume && has_checkpoint) {
    throw Error(
        fmt::format("{}: already has checkpoints: pass --resume to continue it, or "
                    "choose another --run-dir",
                    tc.run_dir));
  }
  return resume;
}

// Rank 0's metrics.jsonl, with the resume line first when resumed (docs/metrics.md: a
// restart is a resume with restart >= 1; a world change one whose world differs from
// checkpoint_world). Other ranks get a log that writes nothing.
MetricsLog open_metrics(const TrainConfig& tc, bool lead, const std::string& resumed_from,
                        const TrainingState& state, int restart, int world) {
  if (tc.run_dir.empty() || !lead) return MetricsLog();
  std::error_code ec;
  fs::create_directories(tc.run_dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create directory: {}", tc.run_dir, ec.message()));
  MetricsLog metrics(tc.run_dir + "/metrics.jsonl");
  if (!resumed_from.empty()) {
    metrics.write({{"kind", "resume"},
                   {"step", state.step},
                   {"from", resumed_from},
                   {"restart", restart},
                   {"world", world},
                   {"checkpoint_world", state.world > 0 ? nlohmann::json(state.world) : nullptr}});
  }
  return metrics;
}

// --rank-logs DIR: this rank's progress lines in DIR/rank-R.log (null without the flag).
std::unique_ptr<std::FILE, int (*)(std::FILE*)> open_rank_log(const std::string& dir, int rank) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> log(nullptr, &std::fclose);
  if (dir.empty()) return log;
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string path = fmt::format("{}/rank-{}.log", dir, rank);
  log.reset(std::fopen(path.c_str(), "a"));
  if (!log) throw Error(fmt::format("{}: cannot open for writing", path));
  return log;
}

// The train line of metrics.jsonl (docs/metrics.md).
nlohmann::json train_line(const StepResult& r, const TrainConfig& tc, PsWorkerStrategy* ps_worker) {
  nlohmann::json line = {{"kind", "train"}, {"step", r.step},           {"loss", r.loss},
                         {"lr", r.lr},      {"grad_norm", r.grad_norm}, {"seconds", r.seconds}};
  if (tc.resolved_precision() == "fp16") line["loss_scale"] = r.loss_scale;
  if (ps_worker) {
    const PsServerStats& s = ps_worker->server_stats();
    line["ps_wait_seconds"] = ps_worker->wait_seconds();
    line["staleness_mean"] = s.applied ? double(s.staleness_sum) / double(s.applied) : 0.0;
    line["staleness_max"] = s.staleness_max;
  }
  return line;
}

// The eval line of metrics.jsonl (docs/metrics.md).
nlohmann::json eval_line(long step, float loss, const Validation& v) {
  nlohmann::json line = {{"kind", "eval"},
                         {"step", step},
                         {"loss", loss},
                         {"val_loss", v.loss},
                         {"val_perplexity", std::exp(v.loss)}};
  line.update(v.fields);
  return line;
}

// What rank 0 prints before the first step: the config, model, data, backend and batch.
void print_run_header(const RunConfig& cfg, const Model& model, const RunData& data,
                      Backend& backend, const Strategy& strategy, int ranks, int world,
                      long units_per_step) {
  const TrainConfig& tc = cfg.train;
  fmt::print("{}", cfg.to_toml());
  fmt::print("model: {}{} dropout={} | {:.2f}M parameters\n", tc.task == "lm" ? "GPT " : "",
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
        tc.steps, units_per_step, tc.batch_size, tc.grad_accum, ranks, tc.task, cfg.optim.name,
        tc.lr, tc.warmup, thread_count());
  } else {
    fmt::print(
        "train: {} steps x {} tokens (B={} per rank, T={}, accum={}, {} ranks) | {} lr={} "
        "warmup={} | {} threads per rank\n",
        tc.steps, units_per_step, tc.batch_size, tc.seq_len, tc.grad_accum, ranks, cfg.optim.name,
        tc.lr, tc.warmup, thread_count());
  }
  if (world > 1) fmt::print("dist:  {}\n", strategy.describe());
  std::fflush(stdout);
}

// The strategy when it shards the parameters (fsdp), else null.
ZeroStrategy* fsdp_of(Strategy& strategy) {
  auto* zero = dynamic_cast<ZeroStrategy*>(&strategy);
  return zero && zero->sharded_parameters() ? zero : nullptr;
}

}  // namespace

// A worker rank's run once it is assembled: the step loop with its evaluation,
// checkpoint, cut and stop schedule, and the end of the run. One object, so that the
// loop and its parts share the run's state as members rather than as captures.
class StepLoop {
 public:
  StepLoop(const RunConfig& cfg, const RunOptions& o, Communicator& world, Communicator& comm,
           bool ps, RunData& data, Task& task, Strategy& strategy, Trainer& trainer,
           CommWatchdog& watchdog, DynamicLossScaler& loss_scaler, TrainingState& state,
           MetricsLog& metrics, long tokens_per_step)
      : cfg_(cfg),
        tc_(cfg.train),
        o_(o),
        world_(world),
        comm_(comm),
        ps_(ps),
        lead_(comm.rank() == 0),
        data_(data),
        task_(&task),
        model_(task.model()),
        strategy_(&strategy),
        ps_worker_(dynamic_cast<PsWorkerStrategy*>(&strategy)),
        fsdp_(fsdp_of(strategy)),
        optimizer_(strategy.optimizer()),
        trainer_(trainer),
        watchdog_(watchdog),
        loss_scaler_(loss_scaler),
        state_(state),
        metrics_(metrics),
        tokens_per_step_(tokens_per_step) {}

  // Trains to the end (or a stop); returns the exit code.
  int run();

 private:
  void save(bool is_best) {
    if (tc_.run_dir.empty()) return;
    state_.step = trainer_.next_step();
    state_.world = world_.world();
    state_.loader_sample = data_.loader ? data_.loader->position(state_.step).sample : 0;
    CheckpointContents c;
    c.optimizer = optimizer_;
    c.model = &cfg_.model;
    c.layout = &model_.layout();
    c.params = model_.params();
    c.params_space = &model_.backend().memory();
    if (fsdp_) {
      c.params_sharded = true;
      c.params_begin = fsdp_->shard_begin();
      c.params_end = fsdp_->shard_end();
    }
    c.tokenizer_dir = data_.tokenizer_dir ? &*data_.tokenizer_dir : nullptr;
    c.run_config_toml = cfg_.to_toml();
    c.state = state_;
    auto watched = watchdog_.watch("the checkpoint", state_.step);
    save_checkpoint(tc_.run_dir, c, tc_.keep_checkpoints, is_best, world_);
  }
  // At a cut the servers of a parameter server learn what rank 0 decided (ps_run.h);
  // the other strategies' ranks all reached the same decision themselves.
  void tell_servers(bool save_now, bool is_best, bool stop) {
    if (!ps_) return;
    CutControl control;
    control.save = save_now && !tc_.run_dir.empty();
    control.is_best = is_best;
    control.stop = stop;
    world_.broadcast(&control, sizeof control, 0);
  }
  void rank_summary() {
    if (!ps_worker_) return;
    print_rank_summaries(
        world_,
        fmt::format("worker rank {}: {} steps, {:.2f} s sending to and waiting for the servers",
                    world_.rank(), trainer_.next_step(), ps_worker_->wait_seconds()));
  }
  // The task's validation, its batches shared by the ranks: periodic ones score the
  // first eval_tokens tokens (lm), the last one all of the split.
  std::optional<Validation> validate(bool whole_split) {
    if (!task_->can_validate()) return std::nullopt;
    auto watched = watchdog_.watch("validation", trainer_.next_step());
    // An asynchronous parameter server's workers drift apart between cuts; at a cut
    // they must hold one snapshot, or their validation shares would not add up.
    if (ps_worker_ && !strategy_->synchronous()) {
      check_replicas_identical(comm_, model_.params(), model_.num_params(),
                               model_.backend().memory());
    }
    return task_->validate(whole_split);
  }

  const RunConfig& cfg_;
  const TrainConfig& tc_;
  const RunOptions& o_;
  Communicator& world_;
  Communicator& comm_;  // the ranks that compute
  const bool ps_, lead_;
  RunData& data_;
  Task* task_;
  Model& model_;
  Strategy* strategy_;
  PsWorkerStrategy* ps_worker_;  // null unless this rank is a parameter server's worker
  ZeroStrategy* fsdp_;           // null unless the parameters are sharded
  Optimizer* optimizer_;         // null on a parameter server's worker
  Trainer& trainer_;
  CommWatchdog& watchdog_;
  DynamicLossScaler& loss_scaler_;
  TrainingState& state_;
  MetricsLog& metrics_;
  long tokens_per_step_;
};

int StepLoop::run() {
  const auto rank_log = open_rank_log(o_.rank_logs, comm_.rank());
  ProgressLine progress(tc_.steps, tokens_per_step_, tc_.log_every, trainer_.next_step(),
                        lead_ ? stdout : nullptr, task_->unit());
  ProgressLine rank_progress(tc_.steps, tokens_per_step_, tc_.log_every, trainer_.next_step(),
                             rank_log.get(), task_->unit());
  std::optional<Validation> last_val;
  float last_loss = NAN;  // every metrics line carries step and loss
  bool stopped_early = false;
  int bad_in_a_row = 0;
  while (trainer_.next_step() < tc_.steps) {
    const StepResult r = trainer_.step();
    state_.lr = r.lr;
    if (r.overflow) {
      // fp16 finding its loss scale: expected now and then, not a bad step.
      metrics_.write({{"kind", "overflow"},
                      {"step", r.step},
                      {"loss", r.loss},
                      {"loss_scale", r.loss_scale},
                      {"next_loss_scale", loss_scaler_.scale()}});
    } else if (r.skipped) {
      // The parameters are unchanged; every rank saw the same verdict.
      ++bad_in_a_row;
      progress.finish();
      if (lead_) {
        fmt::print(stderr,
                   "cohort: warning: step {}: loss {} | gradient norm {}: not finite, step "
                   "skipped ({} in a row; the run stops at {})\n",
                   r.step, r.loss, r.grad_norm, bad_in_a_row, tc_.max_bad_steps);
      }
      metrics_.write(
          {{"kind", "skipped"}, {"step", r.step}, {"loss", r.loss}, {"grad_norm", r.grad_norm}});
      if (bad_in_a_row >= tc_.max_bad_steps) {
        throw CollectiveError(
            fmt::format("steps {}-{}: loss or gradient norm not finite {} times in a row "
                        "(train.max_bad_steps); the parameters are those of step {}{}; lower "
                        "train.lr or raise train.warmup",
                        r.step - bad_in_a_row + 1, r.step, bad_in_a_row, r.step - bad_in_a_row + 1,
                        tc_.run_dir.empty() ? "" : ", and the checkpoints are intact"),
            4);
      }
    } else {
      bad_in_a_row = 0;
      last_loss = r.loss;
    }
    progress.update(r);
    rank_progress.update(r);
    metrics_.write(train_line(r, tc_, ps_worker_));
    const long done = r.step + 1;
    const bool last = done == tc_.steps;
    bool is_best = false;
    if (tc_.eval_every > 0 && done % tc_.eval_every == 0 && !last) {
      if (auto v = validate(false)) {
        last_val = v;
        is_best = state_.record_validation(v->loss, done);
        progress.finish();
        if (lead_) {
          fmt::print("step {}: val_loss {:.4f} | val perplexity {:.2f}{}{}{}\n", done, v->loss,
                     std::exp(v->loss),
                     tc_.eval_tokens > 0 && tc_.task == "lm"
                         ? fmt::format(" (first {} tokens)", tc_.eval_tokens)
                         : "",
                     v->text, is_best ? " (best)" : "");
        }
        metrics_.write(eval_line(r.step, r.loss, *v));
        if (tc_.patience > 0 && state_.evals_since_best >= tc_.patience) stopped_early = true;
      }
    }
    if (last) break;  // the final validation and checkpoint follow the loop
    // Preemption: the ranks agree on a signal every step (a parameter server's workers
    // at cut steps, the only steps where they all meet).
    const bool cut = is_cut_step(done, tc_, o_.stop_at);
    int signal = 0;
    if (!ps_ || cut) {
      double s = stop_signal();
      comm_.all_reduce_max(&s, 1);
      signal = int(s);
    }
    const bool periodic = tc_.checkpoint_every > 0 && done % tc_.checkpoint_every == 0;
    const bool stop_here = (o_.stop_at > 0 && done == o_.stop_at) || signal != 0;
    const bool save_now = periodic || (is_best && tc_.patience > 0) || stopped_early || stop_here;
    if (cut) tell_servers(save_now, is_best, stopped_early || stop_here);
    if (save_now) save(is_best);
    if (stop_here) {
      progress.finish();
      if (lead_ && signal != 0) {
        fmt::print("stopped by {} after step {}{}; continue with --resume\n", signal_name(signal),
                   done,
                   tc_.run_dir.empty() ? " (no run_dir: nothing saved)" : ", checkpoint written");
      } else if (lead_) {
        fmt::print("stopped after step {} (--stop-at); continue with --resume\n", done);
      }
      rank_summary();
      return 0;
    }
    if (stopped_early) {
      progress.finish();
      if (lead_) {
        fmt::print(
            "early stop at step {}: no improvement in {} validations (best val_loss "
            "{:.4f} at step {})\n",
            done, tc_.patience, state_.best_val_loss, state_.best_step);
      }
      break;
    }
  }
  progress.finish();
  if (fsdp_) {
    // Nothing is replicated: each rank's shard is its own.
    if (lead_ && comm_.world() > 1)
      fmt::print("shards: {} ranks hold a shard of the parameters each\n", comm_.world());
  } else {
    check_replicas_identical(comm_, model_.params(), model_.num_params(),
                             model_.backend().memory());
    if (lead_ && comm_.world() > 1)
      fmt::print("replicas: {} ranks hold bit-identical parameters\n", comm_.world());
  }

  if (o_.synthetic) {
    const float val = trainer_.evaluate(kHeldOutStep, kSyntheticEvalBatches);
    Validation held_out;
    held_out.loss = val;
    nlohmann::json line = eval_line(trainer_.next_step() - 1, last_loss, held_out);
    line["split"] = "held-out";
    metrics_.write(line);
    if (lead_) {
      fmt::print("held-out loss {:.4f} | perplexity {:.3f} (ln V = {:.4f})\n", val,
                 std::exp(double(val)), std::log(double(cfg_.model.vocab_size)));
    }
    tell_servers(true, false, true);
    save(false);
    rank_summary();
    return 0;
  }
  if (!stopped_early) {
    if (auto v = validate(true)) {
      last_val = v;
      const bool is_best = state_.record_validation(v->loss, trainer_.next_step());
      metrics_.write(eval_line(trainer_.next_step() - 1, last_loss, *v));
      tell_servers(true, is_best, true);
      save(is_best);
    } else {
      tell_servers(true, false, true);
      save(false);
    }
  }
  rank_summary();
  if (!lead_) return 0;
  if (last_val) {
    fmt::print("val_loss {:.4f} | val perplexity {:.2f} (whole split){} | best {:.4f} at step {}\n",
               last_val->loss, std::exp(last_val->loss), last_val->text, state_.best_val_loss,
               state_.best_step);
  }
  if (!tc_.run_dir.empty()) {
    fmt::print("checkpoints: {}/checkpoints (latest, best)\n", tc_.run_dir);
  }
  return 0;
}

int run_training(RunConfig cfg, const RunOptions& o) {
  const std::string& where = o.where;
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
    resume = decide_resume(cfg.train, o.resume, restarted);
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
  if (resume && !ps) {
    // On another number of ranks the global batch stays the checkpoint's.
    capture([&] {
      const std::string kept = keep_global_batch(cfg, comm.world());
      if (!kept.empty() && comm.rank() == 0) fmt::print("{}\n", kept);
    });
    raise_if_any_failed(world, error, error_code);
  }
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
  // Before the model exists: a run that cannot fit is refused here, not killed halfway.
  if (o.plan_world > 0) {
    if (lead) fmt::print("{}", plan_memory(cfg, backend, data, comm, o.plan_world).table());
    return 0;
  }
  capture([&] {
    const size_t limit = memory_limit_bytes(o.memory_limit, "--memory-limit");  // bad text first
    const MemoryPlan plan = plan_memory(cfg, backend, data, comm, comm.world());
    if (lead) fmt::print("{}\n", plan.summary());
    const bool over = limit > 0 && plan.host_total() > limit;
    check_memory_plan(
        plan, limit,
        o.memory_limit.empty() ? "the memory available to this rank" : "--memory-limit",
        over ? fitting_setting(cfg, backend, data, comm, comm.world(), limit) : "");
  });
  raise_if_any_failed(comm, error, error_code);  // the computing ranks: servers serve already
  const std::unique_ptr<Task> task = make_task(cfg, backend, data, comm);
  Model& model = task->model();
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
  CommWatchdog watchdog(comm, cfg.dist.comm_timeout, abort_every_rank);
  // The strategy's collectives, each told to the watchdog (and, with dist.check_collectives,
  // compared between the ranks) before it runs: a rank that skips one is named.
  Communicator* strategy_comm = gpu_comm ? gpu_comm.get() : &world;
  std::unique_ptr<CollectiveCheck> check;
  std::unique_ptr<CollectiveTap> checked, watched;
  if (cfg.dist.check_collectives && !ps) {
    check = std::make_unique<CollectiveCheck>(*strategy_comm);
    checked = std::make_unique<CollectiveTap>(*strategy_comm,
                                              [&check](const std::string& w) { (*check)(w); });
    strategy_comm = checked.get();
  }
  if (watchdog.active() && !ps) {
    watched = std::make_unique<CollectiveTap>(
        *strategy_comm, [&watchdog](const std::string& w) { watchdog.note(w); });
    strategy_comm = watched.get();
  }
  // Test faults, only when their flags ask (train/fault_injection.h).
  InstalledFaults faults(o.faults, task->batches(), model, world.rank(), restarted);
  auto strategy =
      make_strategy(cfg.dist, faults.strategy_communicator(*strategy_comm), model, cfg.optim);
  Optimizer* optimizer = strategy->optimizer();  // null on a parameter server's worker
  // fsdp: the initialized parameters outside this rank's shard go now, before a resume
  // loads the shard, so that the two never add up.
  if (ZeroStrategy* fsdp = fsdp_of(*strategy)) fsdp->sharded_parameters()->release_all();
  LrSchedule schedule{tc.lr, tc.min_lr, tc.warmup, tc.steps};
  Trainer trainer(model, faults.batches(), *strategy, comm, tc, schedule);
  faults.observe(trainer);
  trainer.set_watchdog(&watchdog);
  DynamicLossScaler loss_scaler;
  if (tc.resolved_precision() == "fp16") trainer.set_loss_scaler(&loss_scaler);

  TrainingState state;
  state.seed = tc.seed;
  std::string resumed_from;  // the checkpoint directory, when resumed
  if (resume) {
    // An fsdp rank reads only its shard of the parameters.
    std::optional<ParamRange> range;
    if (ZeroStrategy* fsdp = fsdp_of(*strategy))
      range = ParamRange{fsdp->shard_begin(), fsdp->shard_end()};
    LoadedCheckpoint ck = load_newest_good_checkpoint(
        tc.run_dir,
        [&](const std::string& w) {
          if (lead) fmt::print(stderr, "cohort: warning: {}\n", w);
        },
        range);
    state = resume_from(ck, model, optimizer, trainer, data.loader);
    if (lead) fmt::print("resumed from {} at step {}\n", ck.dir.string(), state.step);
    resumed_from = ck.dir.string();
  }
  // Every replica starts from the same parameters: rank 0's, or the servers'.
  strategy->start(trainer.next_step());

  MetricsLog metrics =
      open_metrics(tc, lead, resumed_from, state, restart ? std::atoi(restart) : 0, world.world());

  // Tasks count samples (their sequences vary in length); the LM counts tokens.
  const long samples_per_step = long(tc.batch_size) * tc.grad_accum * comm.world();
  const long tokens_per_step = samples_per_step * task->units_per_sample();
  if (lead) {
    print_run_header(cfg, model, data, backend, *strategy, comm.world(), world.world(),
                     tokens_per_step);
  }

  StepLoop loop(cfg, o, world, comm, ps, data, *task, *strategy, trainer, watchdog, loss_scaler,
                state, metrics, tokens_per_step);
  return loop.run();
}

}  // namespace cohort
