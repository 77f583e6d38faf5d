// Seq2SeqModel: the original Transformer's encoder-decoder (Vaswani et al. 2017) on
// cohort's engine, pre-LN (see transformer_block.h). One vocabulary shared by source,
// target and output layer (wte is tied three ways, as in the paper), one learned
// position table for both sides. The encoder attends bidirectionally over each
// source's first src_len[b] tokens; the decoder's self-attention is causal and its
// cross-attention reads the encoder's (final-LN) output, padding masked.
// Teacher forcing: tgt_in is BOS + target, tgt_out target + EOS, -1 where padded. The
// loss is label-smoothed cross-entropy; a sample's loss is the mean over its target
// tokens and the batch loss the mean over samples (as in encoder_model.h, so ranks
// add up exactly).
#pragma once

#include <cstdint>
#include <vector>

#include "model/block_stack.h"
#include "model/model.h"

namespace cohort {

struct Seq2SeqBatch {
  int B = 0, S = 0, T = 0;
  const int32_t* src = nullptr;      // (B, S), padded after src_len[b]
  const int32_t* src_len = nullptr;  // (B), each in [1, S]
  const int32_t* tgt_in = nullptr;   // (B, T)
  const int32_t* tgt_out = nullptr;  // (B, T), -1 where padded; null: logits only
};

class Seq2SeqModel : public Model {
 public:
  Seq2SeqModel(const ModelConfig& config, Backend& backend);

  void plan(int B, int S, int T);
  int planned_batch() const { return plan_B_; }
  // Encodes and decodes; returns the batch loss (0 without tgt_out).
  float forward(const Seq2SeqBatch& batch, const ForwardOptions& options, float label_smoothing);
  void backward(float loss_scale = 1.0f, const GradReadyFn& grad_ready = {}) override;
  void set_recompute(Recompute r) override {
    encoder_.set_recompute(r);
    decoder_.set_recompute(r);
  }

  // For decoding: encode once, then decode any prefixes of the same B rows (no dropout).
  void encode(const int32_t* src, const int32_t* src_len, int B, int S);
  // Decodes tgt_in (B, T) against the last encode(); returns the logits of the last
  // position of each row, (B, Vp), copied to the host.
  std::vector<float> decode(const int32_t* tgt_in, int B, int T);

  // (B, T, Vp) logits of the last forward or decode, in the backend's memory.
  const float* logits() const { return logits_; }
  // Rows [first_row, first_row + n_rows) of logits(), copied to the host: (n_rows, Vp).
  std::vector<float> copy_logits(size_t first_row, size_t n_rows) const;
  // Of the last forward with targets: per-sample sum of -log p(target) (for perplexity;
  // NaN unless that forward's label_smoothing was 0) and number of target tokens.
  const std::vector<double>& sample_nll() const { return sample_nll_; }
  const std::vector<int>& sample_tokens() const { return sample_tokens_; }

 private:
  void encode_impl(const ForwardOptions& options);
  void decode_impl(const ForwardOptions& options);

  // The encoder's blocks attend both ways over the source's valid positions; the
  // decoder's causally over the target, then across to the encoder's output.
  BlockStack encoder_, decoder_;
  StackActivations enc_acts_;  // enc_acts_.out: the memory the decoder attends to
  StackActivations dec_acts_;  // dec_acts_.out: ln_f's output, the LM head's input
  BlockScratch scratch_;
  Arena arena_;
  int plan_B_ = 0, plan_S_ = 0, plan_T_ = 0;
  int B_ = 0, S_ = 0, T_ = 0;
  float *src_emb_, *dmemory_;
  float *tgt_emb_, *logits_, *probs_, *losses_, *row_scale_, *dlnf_;
  // Ids in the backend's memory: src (B, S), src_len (B), tgt_in and tgt_out (B, T).
  int32_t *src_, *src_len_, *tgt_in_, *tgt_out_;
  std::vector<int32_t> host_tgt_out_;
  std::vector<double> sample_nll_;
  std::vector<int> sample_tokens_;
  bool has_targets_ = false;
  float smoothing_ = 0.0f;
  ForwardOptions options_;
};

}  // namespace cohort
