#include "dist/parameter_server.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/timer.h"
#include "optim/grad_clip.h"

namespace cohort {

ParameterServer::ParameterServer(Communicator& comm, Communicator& servers, const PsRoles& roles,
                                 const ParameterLayout& layout,
                                 const std::vector<FlatRange>& ranges, const float* params,
                                 const OptimizerConfig& optim, Backend& backend,
                                 const ParameterServerOptions& options)
    : comm_(comm),
      servers_(servers),
      roles_(roles),
      range_(ranges.at(size_t(roles.server_index(comm.rank())))),
      backend_(backend),
      options_(options),
      params_(params + range_.first, params + range_.second),
      grads_(params_.size()),
      incoming_(params_.size()),
      optimizer_(make_optimizer(optim, layout, backend, range_.first, range_.second)) {}

PsRequest ParameterServer::receive_request(int worker) {
  PsRequest req;
  comm_.recv(&req, sizeof req, worker, kPsRequest);
  stats_.bytes_in += sizeof req;
  return req;
}

void ParameterServer::receive_gradient(int worker, float* into) {
  comm_.recv(into, params_.size() * sizeof(float), worker, kPsGradient);
  stats_.bytes_in += long(params_.size() * sizeof(float));
}

void ParameterServer::reply(const std::vector<int>& workers, float grad_norm, bool applied) {
  PsReply r;
  r.grad_norm = grad_norm;
  r.applied = applied;
  r.stats = stats_;
  std::vector<std::unique_ptr<CommRequest>> sends;
  for (int w : workers) {
    sends.push_back(comm_.isend(&r, sizeof r, w, kPsReply));
    sends.push_back(comm_.isend(params_.data(), params_.size() * sizeof(float), w, kPsParams));
    stats_.bytes_out += long(sizeof r + params_.size() * sizeof(float));
  }
  for (auto& s : sends) s->wait();
}

void ParameterServer::record(int worker, long step, long staleness, long lead) {
  ++stats_.applied;
  stats_.staleness_sum += staleness;
  stats_.staleness_max = std::max<int64_t>(stats_.staleness_max, staleness);
  stats_.lead_max = std::max<int64_t>(stats_.lead_max, lead);
  if (histogram_.size() <= size_t(staleness)) histogram_.resize(size_t(staleness) + 1);
  ++histogram_[size_t(staleness)];
  if (options_.log) {
    std::fprintf(options_.log,
                 "{\"worker\": %d, \"step\": %ld, \"staleness\": %ld, \"lead\": %ld, "
                 "\"version\": %ld}\n",
                 worker, step, staleness, lead, long(stats_.version));
  }
}

void ParameterServer::serve(long start, const std::function<bool(long)>& is_cut,
                            const std::function<bool(long)>& on_cut) {
  if (options_.staleness == 0) {
    serve_sync(start, is_cut, on_cut);
  } else {
    serve_async(start, is_cut, on_cut);
  }
  if (options_.log) std::fflush(options_.log);
}

namespace {
void expect(const PsRequest& req, int worker, int32_t kind, long step) {
  COHORT_CHECK(req.kind == kind && req.step == step)
      << "parameter server: worker " << worker << " sent request kind " << req.kind << " for step "
      << req.step << ", expected kind " << kind << " for step " << step;
}
}  // namespace

void ParameterServer::serve_sync(long start, const std::function<bool(long)>& is_cut,
                                 const std::function<bool(long)>& on_cut) {
  std::vector<int> everyone;
  for (int w = 0; w < roles_.workers; ++w) {
    wait_for_message(comm_, w, kPsRequest);
    expect(receive_request(w), w, kPsPull, start);
    everyone.push_back(w);
  }
  reply(everyone, 0.0f, true);
  const size_t n = params_.size();
  for (long step = start;; ++step) {
    float lr = 0.0f;
    bool skip = false;
    for (int w = 0; w < roles_.workers; ++w) {
      wait_for_message(comm_, w, kPsRequest);
      const PsRequest req = receive_request(w);
      expect(req, w, kPsPush, step);
      skip = skip || req.skip != 0;
      if (w == 0) {
        lr = req.lr;
        receive_gradient(w, grads_.data());
      } else {
        receive_gradient(w, incoming_.data());
        backend_.accumulate(grads_.data(), incoming_.data(), n);
      }
    }
    backend_.scale(grads_.data(), 1.0f / float(roles_.workers), n);
    double ss = backend_.sum_squares(grads_.data(), n);
    servers_.all_reduce_sum(&ss, 1);
    const float norm = static_cast<float>(std::sqrt(ss));
    const float s = clip_scale(norm, options_.max_norm);
    // Every server sees the same requests and the same norm: they skip together.
    const bool apply = !skip && std::isfinite(norm);
    if (apply) {
      optimizer_->step_shard(params_.data(), grads_.data(), lr, s);
      for (int w = 0; w < roles_.workers; ++w) record(w, step, 0, 0);
      ++stats_.version;
    }
    reply(everyone, norm, apply);
    if (is_cut(step + 1) && on_cut(step + 1)) return;
  }
}

void ParameterServer::serve_async(long start, const std::function<bool(long)>& is_cut,
                                  const std::function<bool(long)>& on_cut) {
  struct Pull {
    int worker;
    long step;
  };
  std::vector<long> completed(size_t(roles_.workers), start);
  std::vector<int64_t> read_version(size_t(roles_.workers), 0);
  std::vector<Pull> pending;
  long last_cut = start;
  for (;;) {
    const int w = wait_for_message(comm_, -1, kPsRequest);
    const PsRequest req = receive_request(w);
    if (req.kind == kPsPush) {
      COHORT_CHECK(req.step == completed[size_t(w)])
          << "parameter server: worker " << w << " pushed step " << req.step << ", expected "
          << completed[size_t(w)];
      receive_gradient(w, incoming_.data());
      if (req.skip == 0) {
        // The worker clipped its gradient before sending it (PsWorkerStrategy).
        optimizer_->step_shard(params_.data(), incoming_.data(), req.lr, 1.0f);
        const long slowest = *std::min_element(completed.begin(), completed.end());
        record(w, req.step, long(stats_.version - read_version[size_t(w)]), req.step - slowest);
        ++stats_.version;
      }
      completed[size_t(w)] = req.step + 1;
      pending.push_back({w, req.step + 1});
    } else {
      expect(req, w, kPsPull, start);
      pending.push_back({w, req.step});
    }
    const long slowest = *std::min_element(completed.begin(), completed.end());
    for (size_t i = 0; i < pending.size();) {
      const Pull p = pending[i];
      const bool allowed =
          is_cut(p.step) ? slowest >= p.step : slowest >= p.step - options_.staleness;
      if (!allowed) {
        ++i;
        continue;
      }
      stats_.lead_max = std::max<int64_t>(stats_.lead_max, p.step - slowest);
      reply({p.worker}, 0.0f, true);
      read_version[size_t(p.worker)] = stats_.version;
      pending.erase(pending.begin() + long(i));
    }
    if (slowest > last_cut && is_cut(slowest) && pending.empty()) {
      last_cut = slowest;
      if (on_cut(slowest)) return;
    }
  }
}

}  // namespace cohort
