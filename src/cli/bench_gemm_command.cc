// cohort bench gemm: this machine's sgemm GFLOP/s (OpenBLAS, the CPU backend's GEMM) at
// the shapes a GPT step multiplies, with the same transposes as backend/cpu/cpu_matmul.cc,
// and at 1024^3: the measured limit that model FLOP/s (MFU) is stated against.
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "core/stats.h"
#include "core/threads.h"
#include "core/timer.h"

namespace cohort {

namespace {

struct BenchGemmOptions {
  int channels = 384, vocab = 8192, batch = 8, seq = 256;
  int threads = 0, reps = 5;
};

struct Shape {
  std::string what;
  CBLAS_TRANSPOSE ta, tb;
  int m, n, k;
};

int run_bench_gemm(const BenchGemmOptions& o) {
  if (o.channels < 1 || o.vocab < 1 || o.batch < 1 || o.seq < 1 || o.reps < 1) {
    throw Error("bench gemm: every size and --reps must be positive");
  }
  set_thread_count(o.threads);
  const int N = o.batch * o.seq, C = o.channels, Vp = (o.vocab + 127) / 128 * 128;
  const auto NT = CblasNoTrans, T = CblasTrans;
  // (what, transposes, M, N, K) as cpu_matmul.cc calls them.
  std::vector<Shape> shapes = {
      {"1024^3", NT, NT, 1024, 1024, 1024}, {"qkv fwd", NT, NT, N, 3 * C, C},
      {"qkv dinp", NT, T, N, C, 3 * C},     {"qkv dweight", T, NT, C, 3 * C, N},
      {"attn proj fwd", NT, NT, N, C, C},   {"fc fwd", NT, NT, N, 4 * C, C},
      {"fc dinp", NT, T, N, C, 4 * C},      {"fc dweight", T, NT, C, 4 * C, N},
      {"fc proj fwd", NT, NT, N, C, 4 * C}, {"lm head fwd", NT, T, N, Vp, C},
      {"lm head dx", NT, NT, N, C, Vp},     {"lm head dwte", T, NT, Vp, C, N},
  };
  fmt::print("sgemm (OpenBLAS), {} threads; model shapes for B={} T={} C={} V={} (padded {})\n",
             thread_count(), o.batch, o.seq, C, o.vocab, Vp);
  fmt::print("{:>14} {:>22} {:>10} {:>12} {:>12}\n", "shape", "M x N x K (A,B)", "min ms",
             "best GF/s", "median GF/s");
  nlohmann::json results = nlohmann::json::array();
  for (const Shape& s : shapes) {
    const int lda = s.ta == NT ? s.k : s.m, ldb = s.tb == NT ? s.n : s.k;
    std::vector<float> a(size_t(s.m) * s.k, 0.5f), b(size_t(s.k) * s.n, 0.25f),
        c(size_t(s.m) * s.n);
    std::vector<double> t;
    for (int r = 0; r < o.reps + 1; ++r) {
      Timer timer;
      cblas_sgemm(CblasRowMajor, s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb,
                  0.0f, c.data(), s.n);
      if (r > 0) t.push_back(timer.seconds());  // the first run warms caches and threads
    }
    const double flops = 2.0 * s.m * s.n * s.k;
    const double best = *std::min_element(t.begin(), t.end()), med = median(t);
    fmt::print("{:>14} {:>22} {:>10.3f} {:>12.1f} {:>12.1f}\n", s.what,
               fmt::format("{}x{}x{} ({},{})", s.m, s.n, s.k, s.ta == T ? "T" : "N",
                           s.tb == T ? "T" : "N"),
               best * 1e3, flops / best / 1e9, flops / med / 1e9);
    results.push_back({{"shape", s.what},
                       {"m", s.m},
                       {"n", s.n},
                       {"k", s.k},
                       {"gflops_best", flops / best / 1e9},
                       {"gflops_median", flops / med / 1e9}});
  }
  fmt::print("RESULT {}\n", nlohmann::json{{"threads", thread_count()}, {"gemm", results}}.dump());
  return 0;
}

}  // namespace

void add_bench_gemm_command(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<BenchGemmOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "gemm", "sgemm GFLOP/s at a GPT's matmul shapes and at 1024^3 (the machine's limit)");
  cmd->add_option("--channels", o->channels, "C")->capture_default_str();
  cmd->add_option("--vocab", o->vocab, "V")->capture_default_str();
  cmd->add_option("--batch", o->batch, "B")->capture_default_str();
  cmd->add_option("--seq", o->seq, "T")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: OMP_NUM_THREADS or all cores)")
      ->capture_default_str();
  cmd->add_option("--reps", o->reps, "Timed runs per shape")->capture_default_str();
  cmd->callback([o, &exit_code]() { exit_code = run_bench_gemm(*o); });
}

}  // namespace cohort
