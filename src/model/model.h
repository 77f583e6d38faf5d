// Model: what every model family shares: its config, its flat parameter and gradient
// buffers (ParameterBuffers, which is all that strategies, optimizers and checkpoints
// see of it), the GPT-2 init, and backward with its gradient-ready hook. The
// families (Gpt, EncoderModel, Seq2SeqModel) add their own forward, which takes the
// batch their task needs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/parameter_buffers.h"
#include "model/model_config.h"
#include "model/model_layout.h"
#include "model/recompute.h"

namespace cohort {

struct ForwardOptions {
  bool training = false;  // dropout on
  uint64_t dropout_seed = 0;
  uint32_t step = 0;           // optimizer step: part of every dropout key
  uint32_t sample_offset = 0;  // global index of this micro-batch's first sample
};

class Model : public ParameterBuffers {
 public:
  Model(const ModelConfig& config, Backend& backend);

  const ModelConfig& config() const { return config_; }

  // GPT-2 init for every family: N(0, 0.02); residual output projections (names
  // ending c_proj.weight) N(0, 0.02/sqrt(2L)) with L all blocks; biases 0; LayerNorm
  // weights 1; wte padding rows 0. Each value is a pure function of (seed, its index),
  // so init is the same on every rank.
  void init_weights(uint64_t seed);

  // Adds d(loss_scale * loss)/d(params) into grads() for the batch of the last forward.
  // grad_ready, when given, is called with each range of grad_ready_ranges() the moment
  // backward has finished it (ParameterBuffers::GradReadyFn).
  virtual void backward(float loss_scale = 1.0f, const GradReadyFn& grad_ready = {}) = 0;

  // What the forward keeps for the backward (model/recompute.h); takes effect at the next
  // plan(). The same bits either way.
  virtual void set_recompute(Recompute r) = 0;

 protected:
  // Each family's forward calls this first: the parameters may have changed since the
  // last step (Backend::parameters_updated).
  void parameters_updated() { backend_.parameters_updated(params_.data(), params_.size()); }
  // Throw cohort::Error naming the id (or length) and its position: ids must be in
  // [0, V), or -1 (an ignored target) where allow_ignored; lengths in [1, T].
  void check_ids(const int32_t* ids, size_t n, bool allow_ignored, const char* what) const;
  void check_lengths(const int32_t* lengths, int B, int T, const char* what) const;
  DropoutKey dropout_key(const ForwardOptions& options, uint32_t site) const;
  // Sets grad_ready_ranges() from each tensor's unit (unit_of(name), 0 = the first
  // backward finishes) among `units`; each unit's tensors must be contiguous and the
  // units must tile the flat buffer.
  void set_grad_ready_units(size_t units, const std::function<size_t(const std::string&)>& unit_of);

  ModelConfig config_;
};

}  // namespace cohort
