// Gpt: GPT-2 (pre-LayerNorm, learned positions, tied LM head, GELU-tanh MLP), forward
// and backward written once against Backend: the embeddings, a BlockStack of causal
// blocks with ln_f, and the LM head. Parameters and gradients live in two flat buffers
// described by ParameterLayout; activations in an ActivationPlan made by plan(B, T).
// Reference: Radford et al. 2019 and Hugging Face's GPT2LMHeadModel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/arena.h"
#include "model/activation_plan.h"
#include "model/model.h"
#include "model/model_config.h"
#include "model/model_layout.h"

namespace cohort {

class Gpt : public Model {
 public:
  Gpt(const ModelConfig& config, Backend& backend);

  // Allocates activations for batches up to (B, T). T <= context_length. keep_logits
  // false (training, which needs only the loss and its gradient): a forward with targets
  // replaces the logits by their softmax, saving one (B, T, Vp) buffer; logits() is then
  // not available after such a forward.
  void plan(int B, int T, bool keep_logits = true);
  int planned_batch() const { return acts_ ? acts_->B : 0; }
  int planned_seq() const { return acts_ ? acts_->T : 0; }

  // tokens, targets: (B, T) row-major. targets may be null (logits only); returns the
  // mean cross-entropy over the B*T positions (or 0 without targets). Throws
  // cohort::Error if a token id is outside [0, V).
  float forward(const int32_t* tokens, const int32_t* targets, int B, int T,
                const ForwardOptions& options);
  // Adds d(loss_scale * mean loss)/d(params) into grads(), for the batch of the last
  // forward (which must have had targets). Accumulation over micro-batches passes
  // loss_scale = 1/micro_batches. Ranges, in the order backward finishes them: ln_f,
  // layer L-1, ..., layer 0, then the embeddings (wte gets its last gradient there).
  void backward(float loss_scale = 1.0f, const GradReadyFn& grad_ready = {}) override;
  void set_recompute(Recompute r) override { blocks_.set_recompute(r); }

  // (B, T, Vp) logits of the last forward, in the backend's memory.
  const float* logits() const { return acts_->logits; }
  // Rows [first_row, first_row + n_rows) of logits(), copied to the host: (n_rows, Vp).
  std::vector<float> copy_logits(size_t first_row, size_t n_rows) const;
  // (B, T) per-position cross-entropy of the last forward with targets (host copy).
  const std::vector<float>& losses() const { return host_losses_; }
  size_t activation_bytes() const { return acts_ ? acts_->arena.bytes() : 0; }
  // The buffers of the last plan() (tests read their layout).
  const ActivationPlan& activations() const { return *acts_; }

 private:
  DropoutKey dropout_key(uint32_t site) const { return Model::dropout_key(last_options_, site); }

  BlockStack blocks_;
  std::unique_ptr<ActivationPlan> acts_;
  int last_B_ = 0, last_T_ = 0;
  bool last_has_targets_ = false;
  ForwardOptions last_options_;
  std::vector<float> host_losses_;
};

}  // namespace cohort
