// ActivationPlan: every activation and backward scratch buffer for one (B, T), carved
// out of one Arena at start-up. A step never allocates. A forward with a smaller
// (B, T) uses the front of each buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/arena.h"
#include "model/model_config.h"

namespace cohort {

struct LayerActivations {
  float* ln1;        // (B, T, C)
  float* ln1_mean;   // (B, T)
  float* ln1_rstd;   // (B, T)
  float* qkv;        // (B, T, 3C); one buffer for all layers where the backend's attention
                     // backward reads only its state (attention_backward_reads_state_only)
  float* att;        // (B, NH, T, T) softmax probabilities before dropout, or (B, NH, T) LSE
                     // and the backend's own state (Backend::attention_state_floats)
  float* atty;       // (B, T, C) attention output, heads concatenated
  float* residual2;  // (B, T, C) after the attention branch
  float* ln2;        // (B, T, C)
  float* ln2_mean;   // (B, T)
  float* ln2_rstd;   // (B, T)
  float* mlp;        // (B, T, 8C) the MLP's hidden state (Backend::mlp_forward)
  float* residual3;  // (B, T, C) the layer's output
};

struct ActivationPlan {
  // Every buffer in the backend's memory. att holds the backend's
  // attention_state_floats; d_att is T x T per head where the backend's attention stores
  // probabilities, else empty. keep_logits false: probs is logits (the softmax replaces
  // the logits), one (B, T, Vp) buffer less.
  ActivationPlan(const ModelConfig& config, int B, int T, Backend& backend,
                 bool keep_logits = true);

  int B, T;
  Arena arena;
  int32_t* tokens;   // (B, T)
  int32_t* targets;  // (B, T)
  float* encoded;    // (B, T, C) embeddings after dropout
  std::vector<LayerActivations> layers;
  float* lnf;       // (B, T, C)
  float* lnf_mean;  // (B, T)
  float* lnf_rstd;  // (B, T)
  float* logits;    // (B, T, Vp), or in training's plan the backend's lm_head_loss_floats
  size_t logits_floats;
  float* probs;   // (B, T, Vp) softmax (maybe logits itself); backward turns it into dlogits
  float* losses;  // (B, T)
  float* branch;  // (B, T, C) a projection's output before dropout and the residual add
  // backward scratch
  float* dresidual;  // (B, T, C) gradient of the residual stream
  float* d_c_a;      // (B, T, C)
  float* d_c_b;      // (B, T, C)
  float* d_3c;       // (B, T, 3C)
  float* d_4c;       // (B, T, 4C)
  float* d_att;      // (B, NH, T, T), or null
};

}  // namespace cohort
