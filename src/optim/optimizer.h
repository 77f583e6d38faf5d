// Optimizers update a [begin, end) range of the flat parameter buffer: the whole
// buffer in a plain run, one rank's shard under ZeRO-1 or a parameter server. Their
// state covers only that range.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/arena.h"
#include "core/parameter_layout.h"

namespace cohort {

struct OptimizerConfig {
  std::string name = "adamw";  // adamw | sgd
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // AdamW, decoupled, 2-D weights only
  float momentum = 0.0f;      // SGD
};

// A named state buffer of an optimizer (AdamW's m and v, SGD's momentum), covering
// [begin, end): what a checkpoint saves and restores.
struct OptimizerStateBuffer {
  std::string name;
  float* data;  // in *space: copy through it (the GPU's memory under CUDA)
  size_t size;
  MemorySpace* space = &host_memory();
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of params[begin, end) from grads[begin, end) (full-buffer pointers), each
  // gradient times grad_scale as it is read (clipping's factor: clip_scale).
  void step(float* params, const float* grads, float lr, float grad_scale = 1.0f) {
    step_shard(params + begin_, grads + begin_, lr, grad_scale);
  }
  // The same on buffers that hold only [begin, end) (a parameter server's shard).
  virtual void step_shard(float* params, const float* grads, float lr, float grad_scale) = 0;
  size_t begin() const { return begin_; }
  size_t end() const { return end_; }
  long steps_taken() const { return t_; }
  void set_steps_taken(long t) { t_ = t; }  // on resume, with state() restored
  virtual std::vector<OptimizerStateBuffer> state() = 0;

 protected:
  Optimizer(size_t begin, size_t end) : begin_(begin), end_(end) {}
  size_t begin_, end_;
  long t_ = 0;
};

// Throws cohort::Error for an unknown name.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          const ParameterLayout& layout, Backend& backend,
                                          size_t begin, size_t end);

}  // namespace cohort
