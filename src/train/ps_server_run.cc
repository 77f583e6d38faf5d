// The server ranks of `cohort train --ps-servers S` (ps_run.h).
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/threads.h"
#include "dist/parameter_server.h"
#include "dist/rank_agreement.h"
#include "model/make_model.h"
#include "train/checkpoint.h"
#include "train/init_from.h"
#include "train/ps_run.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

std::string histogram_text(const std::vector<long>& h) {
  std::string s;
  for (size_t t = 0; t < h.size(); ++t) {
    if (h[t] > 0) s += fmt::format("{}{}:{}", s.empty() ? "" : " ", t, h[t]);
  }
  return s;
}

}  // namespace

int run_parameter_server(RunConfig& cfg, const std::string& data_fingerprint, long stop_at,
                         bool resume, Communicator& world, Communicator& servers,
                         const PsRoles& roles) {
  const TrainConfig& tc = cfg.train;
  set_thread_count(tc.threads);
  const ParameterLayout layout = model_layout(cfg.model);
  check_ranks_agree(world, cfg.to_toml(), layout, data_fingerprint);
  const std::vector<FlatRange> ranges = ps_shard_ranges(layout, roles.servers);

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> log(nullptr, &std::fclose);
  if (!tc.run_dir.empty()) {
    std::error_code ec;
    fs::create_directories(tc.run_dir, ec);
    const std::string path = fmt::format("{}/ps-server-{}.jsonl", tc.run_dir, world.rank());
    log.reset(std::fopen(path.c_str(), resume ? "a" : "w"));
    if (!log) throw Error(fmt::format("{}: cannot open for writing", path));
  }
  ParameterServerOptions options;
  options.staleness = cfg.dist.staleness;
  options.max_norm = tc.grad_clip;
  options.log = log.get();

  CpuBackend backend;
  std::unique_ptr<ParameterServer> server;
  long start = 0;
  std::optional<fs::path> ck_dir;
  if (resume) {
    LoadedCheckpoint ck = load_newest_good_checkpoint(tc.run_dir, [](const std::string&) {});
    ck_dir = ck.dir;
    server = std::make_unique<ParameterServer>(world, servers, roles, layout, ranges,
                                               ck.params.data(), cfg.optim, backend, options);
    load_optimizer_state(*ck_dir, server->optimizer());
    start = ck.state.step;
  } else {
    // Every rank initializes the same way from the seed; the server keeps its range.
    const std::unique_ptr<Model> initial = make_model(cfg.model, backend);
    initial->init_weights(tc.seed);
    if (!tc.init_from.empty()) init_from_checkpoint(*initial, tc.init_from);
    server = std::make_unique<ParameterServer>(world, servers, roles, layout, ranges,
                                               initial->params(), cfg.optim, backend, options);
  }

  long served_from = start, last = start;
  auto on_cut = [&](long done) {
    last = done;
    CutControl control;
    world.broadcast(&control, sizeof control, 0);
    if (control.save) {
      CheckpointContents c;
      c.model = &cfg.model;
      c.layout = &layout;
      c.optimizer = &server->optimizer();
      c.optimizer_is_part = true;
      c.state.step = done;
      save_checkpoint(tc.run_dir, c, tc.keep_checkpoints, control.is_best != 0, world);
    }
    return control.stop != 0;
  };
  server->serve(
      start, [&](long c) { return is_cut_step(c, tc, stop_at); }, on_cut);

  const PsServerStats& s = server->stats();
  const double steps = std::max(1L, last - served_from);
  const auto [begin, end] = server->range();
  print_rank_summaries(
      world,
      fmt::format("server rank {}: params [{}, {}) {:.2f} MB | {} gradients applied, "
                  "staleness mean {:.2f} max {} (histogram {}), max lead {} steps | per step: "
                  "{:.2f} MB in, {:.2f} MB out",
                  world.rank(), begin, end, (end - begin) * 4e-6, s.applied,
                  s.applied ? double(s.staleness_sum) / double(s.applied) : 0.0, s.staleness_max,
                  histogram_text(server->staleness_histogram()), s.lead_max,
                  double(s.bytes_in) / steps / 1e6, double(s.bytes_out) / steps / 1e6));
  return 0;
}

}  // namespace cohort
