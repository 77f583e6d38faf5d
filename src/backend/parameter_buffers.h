// ParameterBuffers: a model's flat parameter and gradient buffers, in its backend's memory,
// with the flat layout that names their parts and the ranges in which backward finishes
// the gradients. This is all that strategies, optimizers and checkpoints see of a model,
// so dist/, optim/ and train/'s checkpoint code need nothing from model/. Model (model/)
// derives from it and adds the forward and backward of its family.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/arena.h"
#include "core/parameter_layout.h"

namespace cohort {

// Where a strategy keeps the parameters between their uses. Without a store every
// parameter is readable at all times. With one (fsdp) a rank holds only its shard, and a
// model brackets its reads of each unit's parameters (a range of grad_ready_ranges(),
// indexed as there) with gather and release, in the order it reads them.
class ParameterStore {
 public:
  // The direction a pass visits the units in: forward from the last unit to unit 0,
  // backward from 0 up. A store may fetch the unit a pass needs next ahead of time.
  enum class Pass { forward, backward };
  virtual ~ParameterStore() = default;
  // Unit `unit`'s parameters are readable until release(unit); a no-op where they are.
  virtual void gather(size_t unit, Pass pass) = 0;
  virtual void release(size_t unit) = 0;
};

// A model's view of its store: no-ops without one.
struct UnitAccess {
  ParameterStore* store = nullptr;
  void gather(size_t unit, ParameterStore::Pass pass) const {
    if (store) store->gather(unit, pass);
  }
  void release(size_t unit) const {
    if (store) store->release(unit);
  }
};

class ParameterBuffers {
 public:
  ParameterBuffers(ParameterLayout layout, Backend& backend);
  virtual ~ParameterBuffers();
  ParameterBuffers(const ParameterBuffers&) = delete;
  ParameterBuffers& operator=(const ParameterBuffers&) = delete;

  const ParameterLayout& layout() const { return layout_; }
  Backend& backend() { return backend_; }
  size_t num_params() const { return layout_.total(); }
  // params() and grads() are in backend().memory(): host code reads or writes them
  // only where that is host memory, or through these copies of the whole buffer.
  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_.data(); }
  const float* grads() const { return grads_.data(); }
  void zero_grad() { grads_.zero(); }
  void upload_params(const float* host);    // num_params() floats
  void download_params(float* host) const;  // num_params() floats
  void download_grads(float* host) const;   // num_params() floats

  // Called by backward with the index of each range of grad_ready_ranges() the moment
  // that range's gradients are final, so its communication can start while backward
  // goes on.
  using GradReadyFn = std::function<void(size_t index)>;
  // [begin, end) ranges of the flat buffer in the order backward finishes them; they
  // tile the buffer. One range unless the model reports finer ones.
  const std::vector<std::pair<size_t, size_t>>& grad_ready_ranges() const { return ready_ranges_; }

  // Installed by a strategy that shards the parameters (not owned; null: none). The
  // model's forward and backward then gather each unit before reading it.
  void set_parameter_store(ParameterStore* store) { units_.store = store; }
  ParameterStore* parameter_store() const { return units_.store; }

 protected:
  Backend& backend_;
  ParameterLayout layout_;
  Arena params_, grads_;
  std::vector<std::pair<size_t, size_t>> ready_ranges_;
  UnitAccess units_;
};

}  // namespace cohort
