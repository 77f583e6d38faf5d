// cohort bench train: times full training steps (forward, backward, AdamW) of a GPT
// on uniform random tokens, the work ../shared/peers/pytorch/gpt_bench.py does, and
// prints the same figures: ms/step (min, median), tokens/s, GFLOP/s, and a RESULT
// JSON line for scripts. Under mpirun -np N each rank trains on its own tokens with
// the chosen strategy (ddp_bench.py's work); a step's time is its slowest rank's and
// tokens/s counts the global batch.
//
// FLOPs per token = 6*N + 12*L*C*T, N = every parameter except the position table,
// the tied embedding counted once with its V real rows (nanoGPT / llm.c convention).
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/stats.h"
#include "core/threads.h"
#include "core/timer.h"
#include "data/synthetic_source.h"
#include "dist/communicator.h"
#include "dist/strategy.h"
#include "model/gpt.h"

namespace cohort {

namespace {

struct BenchTrainOptions {
  int layers = 12, heads = 12, channels = 768, vocab = 50257, batch = 4, seq = 64;
  int threads = 0, steps = 10, warmup = 3;
  uint64_t seed = 1337;
  StrategyConfig strategy;
  bool no_comm = false;  // skip the gradient all-reduce: the step time without communication
};

int run_bench_train(const BenchTrainOptions& o) {
  if (o.steps <= 0) throw Error("--steps must be positive");
  if (o.warmup < 0) throw Error("--warmup must be >= 0");
  ModelConfig mc;
  mc.n_layer = o.layers;
  mc.n_head = o.heads;
  mc.n_embd = o.channels;
  mc.vocab_size = o.vocab;
  mc.context_length = std::max(1024, o.seq);
  mc.validate("bench train");
  if (o.batch <= 0 || o.seq <= 0) throw Error("--batch and --seq must be positive");
  set_thread_count(o.threads);

  auto comm = make_communicator(nullptr, nullptr);
  const int world = comm->world();
  const bool lead = comm->rank() == 0;
  CpuBackend backend;
  Gpt model(mc, backend);
  model.init_weights(o.seed);
  model.plan(o.batch, o.seq, /*keep_logits=*/false);  // as training plans it
  OptimizerConfig oc;  // AdamW betas 0.9/0.95, wd 0.1: the peer's settings
  if (o.strategy.name == "ps") {
    throw Error("bench train: --strategy ps is measured by cohort train (bench/ps_compare.sh)");
  }
  auto owned = make_strategy(o.strategy, *comm, model, oc);
  auto* strategy = dynamic_cast<CollectiveStrategy*>(owned.get());
  if (o.no_comm && o.strategy.name != "allreduce")
    throw Error("--no-comm needs --strategy allreduce");
  SyntheticSource data(o.vocab, 0, o.seed);
  data.set_rank(comm->rank(), 1);
  const size_t BT = size_t(o.batch) * o.seq;
  std::vector<int32_t> inputs(BT), targets(BT);

  const size_t C = o.channels;
  const double n_mm = double(model.num_params()) - double(mc.context_length) * C -
                      double(mc.padded_vocab_size() - mc.vocab_size) * C;
  const double flops_per_token = 6.0 * n_mm + 12.0 * o.layers * C * o.seq;

  std::vector<double> t_step, t_fwd, t_bwd, t_opt;
  float loss_first = 0, loss_last = 0;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    data.fill(s % 4, 0, o.batch, o.seq, inputs.data(), targets.data());
    ForwardOptions fo;
    fo.training = true;
    fo.step = s;
    Timer t;
    const float loss = model.forward(inputs.data(), targets.data(), o.batch, o.seq, fo);
    const double a = t.seconds();
    model.backward(1.0f, o.no_comm ? Gpt::GradReadyFn{} : strategy->grad_ready_hook());
    if (!o.no_comm) strategy->finish_gradients();
    const double b = t.seconds();
    strategy->optimizer_step(3e-4f);
    model.zero_grad();
    const double c = t.seconds();
    if (s == 0) loss_first = loss;
    loss_last = loss;
    if (s >= o.warmup) {
      t_step.push_back(c);
      t_fwd.push_back(a);
      t_bwd.push_back(b - a);
      t_opt.push_back(c - b);
    }
  }
  // A step takes as long as its slowest rank.
  for (auto* v : {&t_step, &t_fwd, &t_bwd, &t_opt}) comm->all_reduce_max(v->data(), v->size());
  if (!lead) return 0;
  // Rank 0's optimizer state: the whole buffer's, or its ZeRO shard's.
  double optimizer_mb = 0;
  for (const auto& buf : strategy->optimizer()->state()) optimizer_mb += buf.size * 4.0 / 1e6;
  const long BT_global = long(BT) * world;
  const double mn = *std::min_element(t_step.begin(), t_step.end());
  const double med = median(t_step);
  const double params_mb = model.num_params() * 4.0 / 1e6;
  fmt::print("model: L={} NH={} C={} V={} (padded {}) | params {:.2f}M (matmul-relevant {:.2f}M)\n",
             o.layers, o.heads, o.channels, o.vocab, mc.padded_vocab_size(),
             model.num_params() / 1e6, n_mm / 1e6);
  fmt::print(
      "run: B={} T={} tokens/step={} threads={} ranks={} ({}{}) warmup={} timed={} | loss {:.3f} "
      "-> "
      "{:.3f}\n",
      o.batch, o.seq, BT_global, thread_count(), world, o.strategy.name + " " + o.strategy.wire,
      o.no_comm ? ", no gradient sync" : "", o.warmup, o.steps, loss_first, loss_last);
  fmt::print("ms/step: min {:.1f} median {:.1f} (fwd {:.1f} bwd {:.1f} opt {:.1f})\n", mn * 1e3,
             med * 1e3, median(t_fwd) * 1e3, median(t_bwd) * 1e3, median(t_opt) * 1e3);
  fmt::print(
      "tokens/s (median step): {:.1f} | GFLOP/s: {:.1f}  [FLOPs/token = 6*N + 12*L*C*T = "
      "6*{:.0f} + 12*{}*{}*{} = {:.4g}]\n",
      BT_global / med, flops_per_token * BT_global / med / 1e9, n_mm, o.layers, C, o.seq,
      flops_per_token);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_rss_mb = double(usage.ru_maxrss) * 1024 / 1e6;  // ru_maxrss is in KiB
  fmt::print(
      "memory per rank: params {:.1f} MB, grads {:.1f} MB, AdamW state {:.1f} MB, activations "
      "{:.1f} MB (planned once, the peak) | process peak RSS {:.1f} MB\n",
      params_mb, params_mb, optimizer_mb, model.activation_bytes() / 1e6, peak_rss_mb);
  nlohmann::json res = {{"bench", "cohort_train"},
                        {"threads", thread_count()},
                        {"ranks", world},
                        {"strategy", o.strategy.name},
                        {"no_comm", o.no_comm},
                        {"wire", o.strategy.wire},
                        {"layers", o.layers},
                        {"heads", o.heads},
                        {"dim", o.channels},
                        {"vocab", o.vocab},
                        {"batch", o.batch},
                        {"seq", o.seq},
                        {"steps", o.steps},
                        {"n_mm", n_mm},
                        {"flops_per_token", flops_per_token},
                        {"activation_mb", model.activation_bytes() / 1e6},
                        {"peak_rss_mb", peak_rss_mb},
                        {"ms_step_min", mn * 1e3},
                        {"ms_step_median", med * 1e3},
                        {"tok_s_median", BT_global / med},
                        {"tok_s_best", BT_global / mn},
                        {"gflops_median", flops_per_token * BT_global / med / 1e9},
                        {"optimizer_mb_per_rank", optimizer_mb},
                        {"loss_first", loss_first},
                        {"loss_last", loss_last}};
  fmt::print("RESULT {}\n", res.dump());
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& root, int& exit_code) {
  CLI::App* bench = root.add_subcommand("bench", "Benchmarks");
  add_bench_comm_command(*bench, exit_code);
  add_bench_gemm_command(*bench, exit_code);
  bench->require_subcommand(1);
  auto o = std::make_shared<BenchTrainOptions>();
  CLI::App* train = bench->add_subcommand(
      "train", "Time training steps of a GPT on random tokens (compare with gpt_bench.py)");
  train->add_option("--layers", o->layers, "L")->capture_default_str();
  train->add_option("--heads", o->heads, "NH")->capture_default_str();
  train->add_option("--channels", o->channels, "C")->capture_default_str();
  train->add_option("--vocab", o->vocab, "V")->capture_default_str();
  train->add_option("--batch", o->batch, "B")->capture_default_str();
  train->add_option("--seq", o->seq, "T")->capture_default_str();
  train->add_option("--threads", o->threads, "CPU threads (0: OMP_NUM_THREADS or all cores)")
      ->capture_default_str();
  train->add_option("--steps", o->steps, "Timed steps")->capture_default_str();
  train->add_option("--warmup", o->warmup, "Untimed steps first")->capture_default_str();
  train->add_option("--seed", o->seed, "Seed")->capture_default_str();
  train->add_option("--strategy", o->strategy.name, "Under mpirun: allreduce | zero1")
      ->capture_default_str();
  train->add_option("--bucket-mb", o->strategy.bucket_mb, "allreduce bucket size (MB)")
      ->capture_default_str();
  train->add_option("--wire", o->strategy.wire, "allreduce: gradients on the wire as fp32 | bf16")
      ->capture_default_str();
  train->add_flag("--no-comm", o->no_comm,
                  "allreduce without the gradient all-reduce (the step time communication adds)");
  train->callback([o, &exit_code]() { exit_code = run_bench_train(*o); });
}

}  // namespace cohort
