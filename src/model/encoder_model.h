// EncoderModel: a BERT-style encoder on cohort's engine. Token + learned position
// embeddings, pre-LN blocks with bidirectional self-attention over each sequence's
// first lengths[b] positions (the rest is padding no position attends to), a final
// LayerNorm, then one of two heads:
//   masked LM   the tied embedding as output layer, on the masked positions only;
//   classifier  BERT's pooler, tanh(W h[0] + b) of the first ([CLS]) position, then a
//               linear layer to n_classes.
// Losses weigh every sample alike: a sample's MLM loss is the mean over its masked
// positions, the batch loss the mean over samples, so N ranks x B/N samples give the
// same gradient as 1 rank x B (design.md's promise) whatever the masks' sizes.
// No segment embeddings: the tasks here are single-segment.
#pragma once

#include <cstdint>
#include <vector>

#include "model/block_stack.h"
#include "model/model.h"

namespace cohort {

struct EncoderBatch {
  int B = 0, T = 0;
  const int32_t* tokens = nullptr;       // (B, T), padded after lengths[b]
  const int32_t* lengths = nullptr;      // (B), each in [1, T]
  const int32_t* mlm_targets = nullptr;  // (B, T): original token at masked positions, else -1
  const int32_t* labels = nullptr;       // (B) classes, for the classifier
};

class EncoderModel : public Model {
 public:
  EncoderModel(const ModelConfig& config, Backend& backend);

  void plan(int B, int T);
  // The MLM loss when batch.mlm_targets is set, else the classification loss (labels
  // may then be null: logits only). Throws cohort::Error on ids out of range.
  float forward(const EncoderBatch& batch, const ForwardOptions& options);
  void backward(float loss_scale = 1.0f, const GradReadyFn& grad_ready = {}) override;
  void set_recompute(Recompute r) override { blocks_.set_recompute(r); }

  // (B, n_classes) logits of the last classifier forward, copied to the host.
  std::vector<float> copy_class_logits() const;
  // Per-sample losses of the last forward (B).
  const std::vector<float>& sample_losses() const { return sample_losses_; }

 private:
  void check_batch(const EncoderBatch& b) const;

  // Bidirectional self-attention over each sequence's valid positions; no cross-attention.
  BlockStack blocks_;
  StackActivations acts_;  // acts_.out: ln_f's output, which the heads gather rows from
  BlockScratch scratch_;
  Arena arena_;
  int plan_B_ = 0, plan_T_ = 0;
  float *encoded_, *dlnf_;
  // MLM head on the masked rows only
  float *rows_x_, *rows_logits_, *rows_probs_, *rows_dx_, *row_scale_, *rows_losses_;
  // classifier
  float *pool_in_, *pooled_, *pool_pre_, *class_logits_, *class_probs_, *class_losses_, *d_pooled_,
      *d_pool_in_;
  // Ids in the backend's memory: tokens (B, T), lengths (B), labels (B), the masked rows'
  // indices and targets (up to B*T), the [CLS] rows (B).
  int32_t *tokens_, *lengths_, *labels_, *row_index_, *row_targets_, *cls_rows_;
  std::vector<int32_t> host_rows_;     // masked rows' flat indices, for the losses
  std::vector<float> host_row_scale_;  // each masked row's (or sample's) weight
  std::vector<float> host_losses_;     // downloaded per-row losses
  std::vector<float> sample_losses_;
  int last_B_ = 0, last_T_ = 0, rows_ = 0;
  bool last_mlm_ = false, last_has_labels_ = false;
  ForwardOptions last_options_;
};

}  // namespace cohort
