// Gpt: GPT-2 (pre-LayerNorm, learned positions, tied LM head, GELU-tanh MLP), forward
// and backward written once against Backend. Parameters and gradients live in two
// flat buffers described by ParameterLayout; activations in an ActivationPlan made by
// plan(B, T). Reference: Radford et al. 2019 and Hugging Face's GPT2LMHeadModel.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/arena.h"
#include "model/activation_plan.h"
#include "model/model_config.h"
#include "model/parameter_layout.h"

namespace cohort {

struct ForwardOptions {
  bool training = false;  // dropout on
  uint64_t dropout_seed = 0;
  uint32_t step = 0;           // optimizer step: part of every dropout key
  uint32_t sample_offset = 0;  // global index of this micro-batch's first sample
};

class Gpt {
 public:
  Gpt(const ModelConfig& config, Backend& backend);

  const ModelConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  Backend& backend() { return backend_; }
  size_t num_params() const { return layout_.total(); }
  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_.data(); }
  const float* grads() const { return grads_.data(); }

  // GPT-2 init: N(0, 0.02); residual output projections (attn.c_proj, mlp.c_proj)
  // N(0, 0.02/sqrt(2L)); biases 0; LayerNorm weights 1; wte padding rows 0. Each value
  // is a pure function of (seed, its index), so init is the same on every rank.
  void init_weights(uint64_t seed);

  // Allocates activations for batches up to (B, T). T <= context_length.
  void plan(int B, int T);
  int planned_batch() const { return acts_ ? acts_->B : 0; }
  int planned_seq() const { return acts_ ? acts_->T : 0; }

  // tokens, targets: (B, T) row-major. targets may be null (logits only); returns the
  // mean cross-entropy over the B*T positions (or 0 without targets). Throws
  // cohort::Error if a token id is outside [0, V).
  float forward(const int32_t* tokens, const int32_t* targets, int B, int T,
                const ForwardOptions& options);
  // Adds d(loss_scale * mean loss)/d(params) into grads(), for the batch of the last
  // forward (which must have had targets). Accumulation over micro-batches passes
  // loss_scale = 1/micro_batches. grad_ready, when given, is called with each range of
  // grad_ready_ranges() the moment backward has finished it, so its communication can
  // start while backward goes on.
  using GradReadyFn = std::function<void(size_t index)>;
  void backward(float loss_scale = 1.0f, const GradReadyFn& grad_ready = {});
  // [begin, end) ranges of the flat buffer in the order backward finishes them: ln_f,
  // layer L-1, ..., layer 0, then the embeddings (wte gets its last gradient there).
  const std::vector<std::pair<size_t, size_t>>& grad_ready_ranges() const { return ready_ranges_; }
  void zero_grad();

  const float* logits() const { return acts_->logits; }  // (B, T, Vp) of the last forward
  // (B, T) per-position cross-entropy of the last forward with targets.
  const float* losses() const { return acts_->losses; }
  size_t activation_bytes() const { return acts_ ? acts_->arena.bytes() : 0; }

 private:
  struct LayerParams;
  LayerParams layer_params(float* base, int l) const;
  DropoutKey dropout_key(uint32_t site) const;

  ModelConfig config_;
  Backend& backend_;
  ParameterLayout layout_;
  std::vector<std::array<size_t, 12>> layer_offsets_;  // per layer, LayerParams' field order
  std::vector<std::pair<size_t, size_t>> ready_ranges_;
  Arena params_, grads_;
  std::unique_ptr<ActivationPlan> acts_;
  int last_B_ = 0, last_T_ = 0;
  bool last_has_targets_ = false;
  ForwardOptions last_options_;
};

}  // namespace cohort
