// BlockStack: a family's body, n blocks of one BlockSpec and the LayerNorm after them
// (GPT: h.* and ln_f; encoder: h.* and ln_f; seq2seq: enc.* and enc_ln_f, dec.* and
// ln_f). Its forward takes the embeddings and leaves the final norm's output; its
// backward takes that output's gradient and leaves the embeddings'. The weights are bound
// once; the activations (StackActivations) are planned per batch shape by the model.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backend/parameter_buffers.h"
#include "model/recompute.h"
#include "model/transformer_block.h"

namespace cohort {

struct StackActivations {
  // Per block: every activation (with Recompute::attention the attention probabilities in
  // one buffer, the first block's, for all), or with Recompute::block only ln1 (its
  // statistics) and out, the block's input and output on the residual stream.
  std::vector<BlockActivations> layers;
  float *out, *out_mean, *out_rstd;  // the final LayerNorm's output and statistics
  float* dres;                       // (B, T, C) the residual stream's gradient
  // Recompute::block: one block's other activations, shared by every block, and where
  // a recomputed block writes its output and the LayerNorm after it (discarded).
  BlockActivations work{};
  float *work_out = nullptr, *work_norm = nullptr, *work_mean = nullptr, *work_rstd = nullptr;
};

// Where a stack's parameters sit among its model's units (ParameterStore): the final norm
// is unit `first`, block l unit first + n_layer - l.
struct StackUnits {
  UnitAccess access;
  size_t first = 0;
};

class BlockStack {
 public:
  // Blocks `prefix`0. .. `prefix`{n_layer-1}. and the final norm `final_norm`{weight,bias}.
  // final_products_only: the final norm's output is read only by products until the
  // backward has (the LM heads; not a head that gathers rows from it, nor a memory that
  // is decoded against across several forwards): Backend::hold_product_input.
  BlockStack(const ParameterLayout& layout, float* params, float* grads, const std::string& prefix,
             int n_layer, const BlockSpec& spec, const std::string& final_norm,
             bool final_products_only, const BlockDropoutSites& sites);

  const BlockSpec& spec() const { return spec_; }
  // What the forward keeps for the backward; before plan().
  void set_recompute(Recompute r) { recompute_ = r; }
  Recompute recompute() const { return recompute_; }
  int n_layer() const { return int(blocks_.size()); }
  void plan(StackActivations& a, BufferPlan& plan, Backend& backend, int B, int T, int C, int NH,
            int S = 0) const;

  // x (B, T, C): the embeddings after dropout; a.out receives the final norm's output.
  // Each block's unit is gathered before it runs and released after; the final norm's
  // stays gathered for the caller (its head, or the backward that follows) to release.
  void forward(Backend& be, StackActivations& a, BlockScratch& s, const float* x,
               const BlockInputs& in, int C, int NH, const DropoutKey& key,
               const StackUnits& units = {}) const;
  // dout: d(a.out), read once; a.dres receives d(x). ready(k) is called as the final norm's
  // (k = 0) and then block l's (k = n_layer - l) gradients are complete. Every unit of the
  // stack is released by the end.
  void backward(Backend& be, StackActivations& a, BlockScratch& s, const float* x,
                const float* dout, const BlockInputs& in, int C, int NH, const DropoutKey& key,
                const std::function<void(size_t)>& ready, const StackUnits& units = {}) const;

 private:
  StreamNorm norm_before(StackActivations& a, int l) const;
  // Block l's activations as its forward and backward see them.
  BlockActivations block_activations(const StackActivations& a, int l) const;

  BlockSpec spec_;
  BlockDropoutSites sites_;
  std::vector<BlockParams> blocks_, dblocks_;
  const float *final_w_, *final_b_;
  float *dfinal_w_, *dfinal_b_;
  bool final_products_only_;
  Recompute recompute_ = Recompute::none;
};

}  // namespace cohort
