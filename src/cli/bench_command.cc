// cohort bench: its subcommands' flags; `bench train` runs train/step_bench.h.
#include <memory>

#include "cli/commands.h"
#include "train/step_bench.h"

namespace cohort {

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
  train
      ->add_option("--strategy", o->strategy.name, "Under mpirun: allreduce | zero1 | zero2 | fsdp")
      ->capture_default_str();
  train->add_option("--bucket-mb", o->strategy.bucket_mb, "allreduce bucket size (MB)")
      ->capture_default_str();
  train->add_option("--wire", o->strategy.wire, "allreduce: gradients on the wire as fp32 | bf16")
      ->capture_default_str();
  train
      ->add_option("--recompute", o->recompute,
                   "none | attention | block: activations kept for backward (train.recompute)")
      ->capture_default_str();
  train->add_flag("--no-comm", o->no_comm,
                  "allreduce without the gradient all-reduce (the step time communication adds)");
  train->callback([o, &exit_code]() { exit_code = run_bench_train(*o); });
}

}  // namespace cohort
