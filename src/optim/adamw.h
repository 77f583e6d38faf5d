// AdamW (Loshchilov & Hutter 2019) as torch.optim.AdamW computes it. Weight decay is
// applied per tensor: ParameterLayout marks 2-D weights as decayed; biases, LayerNorm
// parameters and nothing else are exempt (the nanoGPT / GPT-2 convention).
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace cohort {

class AdamW final : public Optimizer {
 public:
  AdamW(const OptimizerConfig& config, const ParameterLayout& layout, Backend& backend,
        size_t begin, size_t end);
  void step_shard(float* params, const float* grads, float lr, float grad_scale) override;
  float* m() { return m_.data(); }  // (end - begin) first moments
  float* v() { return v_.data(); }  // (end - begin) second moments
  std::vector<OptimizerStateBuffer> state() override {
    return {{"m", m_.data(), m_.size(), &m_.space()}, {"v", v_.data(), v_.size(), &v_.space()}};
  }

 private:
  OptimizerConfig config_;
  const ParameterLayout& layout_;
  Backend& backend_;
  Arena m_, v_;
  // The shard's tensors as runs of equal weight decay, from the shard's start: the same
  // every step.
  std::vector<Backend::AdamWSegment> segments_;
};

}  // namespace cohort
