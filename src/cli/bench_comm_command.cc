// cohort bench comm: all-reduce time, algorithm bandwidth and bus bandwidth under the
// active communicator (run it under mpirun -np N), as nccl-tests defines them:
// algbw = bytes / time, busbw = algbw * 2 (N - 1) / N (the bytes each link carries in a
// ring all-reduce). memcpy bandwidth on this host is printed for comparison.
#include <fmt/format.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "core/stats.h"
#include "core/timer.h"
#include "dist/communicator.h"

namespace cohort {

namespace {

struct BenchCommOptions {
  std::vector<int> sizes_mb = {1, 16, 64, 256};
  int iters = 5, warmup = 1;
};

int run_bench_comm(const BenchCommOptions& o) {
  if (o.iters < 1 || o.warmup < 0) throw Error("--iters must be >= 1 and --warmup >= 0");
  for (int mb : o.sizes_mb) {
    if (mb < 1 || mb > 4096) throw Error(fmt::format("--sizes: {} MB is outside [1, 4096]", mb));
  }
  auto comm = make_communicator(nullptr, nullptr);
  const int N = comm->world();
  const bool lead = comm->rank() == 0;
  if (lead) {
    fmt::print("communicator: {}\n", comm->describe());
    fmt::print("{:>8} {:>12} {:>12} {:>14} {:>14}\n", "MB", "min ms", "median ms", "algbw GB/s",
               "busbw GB/s");
  }
  nlohmann::json results = nlohmann::json::array();
  for (int mb : o.sizes_mb) {
    const size_t n = size_t(mb) * (1 << 20) / sizeof(float);
    std::vector<float> buf(n, 1.0f);
    std::vector<double> times;
    for (int i = 0; i < o.warmup + o.iters; ++i) {
      comm->barrier();
      Timer t;
      comm->all_reduce_sum(buf.data(), n);
      double s = t.seconds();
      comm->all_reduce_sum(&s, 1);  // ranks leave a ring all-reduce together:
      s = s / N;                    // their mean time is the collective's
      if (i >= o.warmup) times.push_back(s);
    }
    const double bytes = double(n) * sizeof(float);
    const double best = *std::min_element(times.begin(), times.end()), med = median(times);
    const double algbw = bytes / med / 1e9, busbw = algbw * 2.0 * (N - 1) / N;
    if (lead) {
      fmt::print("{:>8} {:>12.3f} {:>12.3f} {:>14.2f} {:>14.2f}\n", mb, best * 1e3, med * 1e3,
                 algbw, busbw);
    }
    results.push_back({{"mb", mb},
                       {"ms_min", best * 1e3},
                       {"ms_median", med * 1e3},
                       {"algbw_gbs", algbw},
                       {"busbw_gbs", busbw}});
  }
  // memcpy on this host: the bandwidth a loopback transport competes with.
  const size_t n = size_t(256) << 20;
  std::vector<char> a(n, 1), b(n);
  std::vector<double> times;
  for (int i = 0; i < 3; ++i) {
    Timer t;
    std::memcpy(b.data(), a.data(), n);
    times.push_back(t.seconds());
  }
  const double memcpy_gbs = double(n) / median(times) / 1e9;
  if (lead) {
    fmt::print("memcpy (256 MB, one thread): {:.2f} GB/s\n", memcpy_gbs);
    fmt::print("RESULT {}\n", nlohmann::json{{"bench", "comm"},
                                             {"world", N},
                                             {"communicator", comm->describe()},
                                             {"all_reduce", results},
                                             {"memcpy_gbs", memcpy_gbs}}
                                  .dump());
  }
  return 0;
}

}  // namespace

void add_bench_comm_command(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<BenchCommOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "comm", "All-reduce time, algbw and busbw (run under mpirun -np N), memcpy for comparison");
  cmd->add_option("--sizes", o->sizes_mb, "Message sizes in MB")->capture_default_str();
  cmd->add_option("--iters", o->iters, "Timed iterations per size")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Untimed iterations per size")->capture_default_str();
  cmd->callback([o, &exit_code]() { exit_code = run_bench_comm(*o); });
}

}  // namespace cohort
