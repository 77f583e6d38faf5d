// cohort bench train (step_bench.cc): times Trainer::step, the step cohort train runs
// (forward, backward, the strategy's gradient exchange, clipping, AdamW), of a GPT on
// uniform random tokens: the work ../shared/peers/pytorch/gpt_bench.py does.
#pragma once

#include <cstdint>
#include <string>

#include "dist/strategy.h"

namespace cohort {

struct BenchTrainOptions {
  int layers = 12, heads = 12, channels = 768, vocab = 50257, batch = 4, seq = 64;
  int threads = 0, steps = 10, warmup = 3;
  uint64_t seed = 1337;
  StrategyConfig strategy;
  std::string recompute = "none";  // train.recompute
  bool no_comm = false;  // skip the gradient all-reduce: the step time without communication
};

// Prints ms/step (min, median, and the median step's parts), tokens/s, GFLOP/s, memory,
// and a RESULT JSON line; returns the exit code. Under mpirun every rank runs it.
int run_bench_train(const BenchTrainOptions& options);

}  // namespace cohort
