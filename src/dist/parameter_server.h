// ParameterServer: the server side of a parameter-server run (ps_roles.h,
// ps_protocol.h). It owns one contiguous range of the flat parameters and that
// range's optimizer state, and answers the workers until the run stops.
//   Synchronous (staleness 0): step by step, it takes every worker's gradient (in
//   worker order, so the sum is reproducible), averages, clips by the global norm
//   (one all-reduce of a sum of squares between the servers), applies the optimizer
//   and sends each worker the new range.
//   Asynchronous, staleness s: it applies each gradient as it arrives and answers a
//   worker's pull for step k once every worker has finished step k - s (Stale
//   Synchronous Parallel, Ho et al. 2013). Each applied gradient's staleness, the
//   updates applied between the worker's pull and this gradient, is counted.
// At a cut step c (validation, checkpoint, the end), the pull for c waits until every
// worker has finished c, so every worker and server hold the same parameters:
// validation and checkpoints see a consistent snapshot.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "dist/ps_protocol.h"
#include "dist/ps_roles.h"
#include "optim/optimizer.h"

namespace cohort {

struct ParameterServerOptions {
  int staleness = 0;
  float max_norm = 1.0f;     // synchronous clipping (asynchronous: the workers clip)
  std::FILE* log = nullptr;  // one JSON line per update, if set
};

class ParameterServer {
 public:
  // comm: the whole job; servers: the server ranks only (for the global norm).
  // `params` are the full initial parameters; the server keeps its range.
  ParameterServer(Communicator& comm, Communicator& servers, const PsRoles& roles,
                  const ParameterLayout& layout, const std::vector<FlatRange>& ranges,
                  const float* params, const OptimizerConfig& optim, Backend& backend,
                  const ParameterServerOptions& options);
  Optimizer& optimizer() { return *optimizer_; }
  FlatRange range() const { return range_; }

  // Serves from step `start`. is_cut(c) names the cut steps; at each cut after the
  // start, once every worker holds the parameters for c, on_cut(c) runs (its
  // collectives meet the workers') and serving stops when it returns true.
  void serve(long start, const std::function<bool(long)>& is_cut,
             const std::function<bool(long)>& on_cut);

  const PsServerStats& stats() const { return stats_; }
  // Applied gradients by staleness: histogram[t] gradients had staleness t.
  const std::vector<long>& staleness_histogram() const { return histogram_; }

 private:
  void serve_sync(long start, const std::function<bool(long)>& is_cut,
                  const std::function<bool(long)>& on_cut);
  void serve_async(long start, const std::function<bool(long)>& is_cut,
                   const std::function<bool(long)>& on_cut);
  PsRequest receive_request(int worker);
  void receive_gradient(int worker, float* into);
  void reply(const std::vector<int>& workers, float grad_norm, bool applied);
  void record(int worker, long step, long staleness, long lead);

  Communicator& comm_;
  Communicator& servers_;
  PsRoles roles_;
  FlatRange range_;
  Backend& backend_;
  ParameterServerOptions options_;
  std::vector<float> params_, grads_, incoming_;
  std::unique_ptr<Optimizer> optimizer_;
  PsServerStats stats_;
  std::vector<long> histogram_;
};

}  // namespace cohort
