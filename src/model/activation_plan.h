// ActivationPlan: the GPT's activation and backward scratch buffers for one (B, T),
// carved out of one Arena at start-up. A step never allocates. A forward with a smaller
// (B, T) uses the front of each buffer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/backend.h"
#include "core/arena.h"
#include "model/block_stack.h"
#include "model/model_config.h"

namespace cohort {

struct ActivationPlan {
  // Every buffer in the backend's memory; the blocks' as the stack plans them.
  // keep_logits false: probs is logits (the softmax replaces the logits), one (B, T, Vp)
  // buffer less, and the logits buffer takes the backend's lm_head_loss_floats.
  ActivationPlan(const ModelConfig& config, const BlockStack& blocks, int B, int T,
                 Backend& backend, bool keep_logits = true);

  int B, T;
  Arena arena;
  int32_t* tokens;         // (B, T)
  int32_t* targets;        // (B, T)
  float* encoded;          // (B, T, C) embeddings after dropout
  StackActivations stack;  // the blocks', ln_f's output (stack.out) and the residual gradient
  BlockScratch scratch;    // scratch.d_c_a also takes ln_f's output gradient
  float* logits;           // (B, T, Vp), or in training's plan the backend's lm_head_loss_floats
  size_t logits_floats;
  float* probs;   // (B, T, Vp) softmax (maybe logits itself); backward turns it into dlogits
  float* losses;  // (B, T)
};

}  // namespace cohort
