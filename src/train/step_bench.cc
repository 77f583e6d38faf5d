// cohort bench train: times full training steps (Trainer::step: forward, backward, the
// strategy's exchange, clipping, AdamW) of a GPT on uniform random tokens, the work
// ../shared/peers/pytorch/gpt_bench.py does, and prints the same figures: ms/step (min,
// median), tokens/s, GFLOP/s, and a RESULT JSON line for scripts. Under mpirun -np N each rank
// trains on its own tokens with the chosen strategy (ddp_bench.py's work); a step's time is its
// slowest rank's and tokens/s counts the global batch.
//
// FLOPs per token = 6*N + 12*L*C*T, N = every parameter except the position table,
// the tied embedding counted once with its V real rows (nanoGPT / llm.c convention).
#include "train/step_bench.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/stats.h"
#include "core/threads.h"
#include "data/synthetic_source.h"
#include "dist/communicator.h"
#include "dist/counting_communicator.h"
#include "model/gpt.h"
#include "optim/lr_schedule.h"
#include "train/trainer.h"

namespace cohort {

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
  if (o.strategy.name == "ps") {
    throw Error("bench train: --strategy ps is measured by cohort train (bench/ps_compare.sh)");
  }
  if (o.no_comm && o.strategy.name != "allreduce")
    throw Error("--no-comm needs --strategy allreduce");
  CpuBackend backend;
  Gpt model(mc, backend);
  model.init_weights(o.seed);
  model.set_recompute(parse_recompute(o.recompute, "--recompute"));
  OptimizerConfig oc;  // AdamW betas 0.9/0.95, wd 0.1: the peer's settings
  // --no-comm: each rank's strategy sees only itself, so its gradients are not exchanged.
  SoloCommunicator alone;
  // Each rank's bytes, as a ring would move them (counting_communicator.h).
  CountingCommunicator counted(o.no_comm ? static_cast<Communicator&>(alone) : *comm);
  auto strategy = make_strategy(o.strategy, counted, model, oc);
  SyntheticSource data(o.vocab, 0, o.seed);
  data.set_rank(comm->rank(), 1);
  // The step users run: Trainer::step with the strategy, clipping at 1.0 and AdamW.
  TrainConfig tc;
  tc.batch_size = o.batch;
  tc.seq_len = o.seq;
  tc.grad_accum = 1;
  tc.seed = o.seed;
  tc.grad_clip = 1.0f;
  LmMicroBatches batches(model, data, o.batch, o.seq);
  Trainer trainer(model, batches, *strategy, *comm, tc, LrSchedule{3e-4f, 3e-4f, 0, 1});
  strategy->start(0);
  const size_t BT = size_t(o.batch) * o.seq;

  const size_t C = o.channels;
  const double n_mm = double(model.num_params()) - double(mc.context_length) * C -
                      double(mc.padded_vocab_size() - mc.vocab_size) * C;
  const double flops_per_token = 6.0 * n_mm + 12.0 * o.layers * C * o.seq;

  std::vector<double> t_step, t_fwd, t_bwd, t_opt;
  float loss_first = 0, loss_last = 0;
  TrafficCounts before_timed;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    if (s == o.warmup) before_timed = counted.counts();
    const StepResult r = trainer.step();
    if (s == 0) loss_first = r.loss;
    loss_last = r.loss;
    if (s >= o.warmup) {
      t_step.push_back(r.seconds);
      t_fwd.push_back(r.forward_seconds);
      t_bwd.push_back(r.backward_seconds);
      t_opt.push_back(r.update_seconds);
    }
  }
  // The mean over the ranks: with blocks of unequal size (a unit inside one rank's shard)
  // a ring's sends fall unevenly on the ranks, but their sum is the ring's.
  double sent_per_step =
      double(counted.counts().bytes_sent - before_timed.bytes_sent) / std::max(1, o.steps);
  comm->all_reduce_sum(&sent_per_step, 1);
  sent_per_step /= world;
  // A step takes as long as its slowest rank.
  for (auto* v : {&t_step, &t_fwd, &t_bwd, &t_opt}) comm->all_reduce_max(v->data(), v->size());
  if (!lead) return 0;
  // Rank 0's optimizer state: the whole buffer's, or its ZeRO shard's.
  double optimizer_mb = 0;
  for (const auto& buf : strategy->optimizer()->state()) optimizer_mb += buf.size * 4.0 / 1e6;
  const long BT_global = long(BT) * world;
  const double params_mb = model.num_params() * 4.0 / 1e6;
  const double mn = *std::min_element(t_step.begin(), t_step.end());
  const double med = median(t_step);
  fmt::print("model: L={} NH={} C={} V={} (padded {}) | params {:.2f}M (matmul-relevant {:.2f}M)\n",
             o.layers, o.heads, o.channels, o.vocab, mc.padded_vocab_size(),
             model.num_params() / 1e6, n_mm / 1e6);
  fmt::print(
      "run: B={} T={} tokens/step={} threads={} ranks={} ({}{}) warmup={} timed={} | loss {:.3f} "
      "-> "
      "{:.3f}\n",
      o.batch, o.seq, BT_global, thread_count(), world, o.strategy.name + " " + o.strategy.wire,
      o.no_comm ? ", no gradient sync" : "", o.warmup, o.steps, loss_first, loss_last);
  fmt::print("ms/step: min {:.1f} median {:.1f} (fwd {:.1f} bwd {:.1f} update {:.1f})\n", mn * 1e3,
             med * 1e3, median(t_fwd) * 1e3, median(t_bwd) * 1e3, median(t_opt) * 1e3);
  fmt::print(
      "traffic: a rank sent {:.1f} MB a step, mean over the ranks ({:.2f} x the parameters' "
      "{:.1f} MB)\n",
      sent_per_step / 1e6, sent_per_step / (params_mb * 1e6), params_mb);
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
                        {"recompute", o.recompute},
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
                        {"bytes_sent_per_step", sent_per_step},
                        {"loss_first", loss_first},
                        {"loss_last", loss_last}};
  fmt::print("RESULT {}\n", res.dump());
  return 0;
}

}  // namespace cohort
