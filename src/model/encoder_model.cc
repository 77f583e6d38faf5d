// Dropout sites: 0 embeddings; block l uses 1 + kBlockDropoutSites*l onwards.
#include "model/encoder_model.h"

#include <fmt/format.h>

#include <cstring>

#include "core/error.h"

namespace cohort {

EncoderModel::EncoderModel(const ModelConfig& config, Backend& backend) : Model(config, backend) {
  COHORT_CHECK(config_.arch == "encoder") << "EncoderModel needs model.arch = encoder";
  // Its batches (lengths, masked rows) are still gathered on the host (docs/gpu.md).
  if (!backend.memory().is_host())
    throw Error(fmt::format("the encoder model runs on host-memory backends only, not on '{}'",
                            backend.name()));
  for (int l = 0; l < config_.n_layer; ++l) {
    const std::string prefix = fmt::format("h.{}.", l);
    blocks_.push_back(block_params(layout_, params(), prefix, false));
    dblocks_.push_back(block_params(layout_, grads(), prefix, false));
  }
}

void EncoderModel::plan(int B, int T) {
  if (B <= 0 || T <= 0 || T > config_.context_length) {
    throw Error(
        fmt::format("encoder batch {}x{}: B and T must be positive and T <= "
                    "model.context_length {}",
                    B, T, config_.context_length));
  }
  const int C = config_.n_embd, NH = config_.n_head, Vp = config_.padded_vocab_size();
  const int K = config_.n_classes > 0 ? config_.n_classes : 1;
  const size_t BT = size_t(B) * T;
  BufferPlan p;
  p.add(&encoded_, BT * C);
  acts_.assign(config_.n_layer, {});
  for (auto& a : acts_) a.plan(p, B, T, C, NH, false, 0);
  scratch_.plan(p, B, T, C, NH, 0);
  p.add(&lnf_, BT * C);
  p.add(&lnf_mean_, BT);
  p.add(&lnf_rstd_, BT);
  p.add(&dres_, BT * C);
  p.add(&dlnf_, BT * C);
  p.add(&rows_x_, BT * C);
  p.add(&rows_logits_, BT * Vp);
  p.add(&rows_probs_, BT * Vp);
  p.add(&rows_dx_, BT * C);
  p.add(&row_scale_, BT);
  p.add(&rows_losses_, BT);
  p.add(&pool_in_, size_t(B) * C);
  p.add(&pool_pre_, size_t(B) * C);
  p.add(&pooled_, size_t(B) * C);
  p.add(&class_logits_, size_t(B) * K);
  p.add(&class_probs_, size_t(B) * K);
  p.add(&class_losses_, size_t(B));
  p.add(&d_pooled_, size_t(B) * C);
  p.add(&d_pool_in_, size_t(B) * C);
  arena_ = p.allocate(backend_.memory());
  plan_B_ = B;
  plan_T_ = T;
}

void EncoderModel::check_batch(const EncoderBatch& b) const {
  COHORT_CHECK(plan_B_ > 0) << "plan(B, T) before forward";
  COHORT_CHECK(b.B <= plan_B_ && b.T <= plan_T_)
      << "batch " << b.B << "x" << b.T << " exceeds the plan " << plan_B_ << "x" << plan_T_;
  check_lengths(b.lengths, b.B, b.T, "sample");
  for (int i = 0; i < b.B; ++i) {
    if (b.labels && (b.labels[i] < 0 || b.labels[i] >= config_.n_classes))
      throw Error(
          fmt::format("sample {}: label {} is outside [0, {})", i, b.labels[i], config_.n_classes));
  }
  check_ids(b.tokens, size_t(b.B) * b.T, false, "token");
  if (b.mlm_targets) check_ids(b.mlm_targets, size_t(b.B) * b.T, true, "target token");
}

float EncoderModel::forward(const EncoderBatch& batch, const ForwardOptions& options) {
  check_batch(batch);
  if (!batch.mlm_targets && config_.n_classes == 0)
    throw Error("this encoder has no classification head (model.n_classes = 0)");
  const int B = batch.B, T = batch.T, C = config_.n_embd, NH = config_.n_head;
  const int V = config_.vocab_size, Vp = config_.padded_vocab_size();
  const size_t BT = size_t(B) * T;
  last_B_ = B;
  last_T_ = T;
  last_options_ = options;
  last_mlm_ = batch.mlm_targets != nullptr;
  last_has_labels_ = batch.labels != nullptr;
  tokens_.assign(batch.tokens, batch.tokens + BT);
  lengths_.assign(batch.lengths, batch.lengths + B);
  Backend& be = backend_;
  const float* P = params();
  be.embedding_forward(encoded_, tokens_.data(), P + layout_.at("wte.weight").offset,
                       P + layout_.at("wpe.weight").offset, B, T, C);
  be.dropout(encoded_, B, size_t(T) * C, dropout_key(options, 0));
  BlockInputs in;
  in.B = B;
  in.T = T;
  in.self_len = lengths_.data();
  const float* x = encoded_;
  for (int l = 0; l < config_.n_layer; ++l) {
    block_forward(be, blocks_[l], acts_[l], scratch_, x, in, C, NH,
                  {dropout_key(options, 1 + kBlockDropoutSites * l)});
    x = acts_[l].out;
  }
  be.layernorm_forward(lnf_, lnf_mean_, lnf_rstd_, x, P + layout_.at("ln_f.weight").offset,
                       P + layout_.at("ln_f.bias").offset, BT, C);
  sample_losses_.assign(B, 0.0f);
  if (last_mlm_) {
    // Gather the masked rows; each sample's rows share 1/(count) of its weight.
    row_index_.clear();
    row_targets_.clear();
    std::vector<int> count(B, 0);
    for (size_t i = 0; i < BT; ++i) {
      if (batch.mlm_targets[i] >= 0) {
        row_index_.push_back(int32_t(i));
        row_targets_.push_back(batch.mlm_targets[i]);
        ++count[i / T];
      }
    }
    rows_ = int(row_index_.size());
    for (int b = 0; b < B; ++b)
      if (count[b] == 0) throw Error(fmt::format("sample {} has no masked position", b));
    for (int r = 0; r < rows_; ++r)
      std::memcpy(rows_x_ + size_t(r) * C, lnf_ + size_t(row_index_[r]) * C, C * sizeof(float));
    be.lm_head_forward(rows_logits_, rows_x_, P + layout_.at("wte.weight").offset, rows_, C, Vp);
    be.masked_cross_entropy_forward(rows_losses_, rows_probs_, rows_logits_, row_targets_.data(),
                                    rows_, V, Vp, 0.0f);
    for (int r = 0; r < rows_; ++r) {
      const int b = row_index_[r] / T;
      sample_losses_[b] += rows_losses_[r] / float(count[b]);
      row_scale_[r] = 1.0f / float(count[b] * B);
    }
  } else {
    const int K = config_.n_classes;
    for (int b = 0; b < B; ++b)
      std::memcpy(pool_in_ + size_t(b) * C, lnf_ + size_t(b) * T * C, C * sizeof(float));
    be.linear_forward(pool_pre_, pool_in_, P + layout_.at("pooler.weight").offset,
                      P + layout_.at("pooler.bias").offset, B, C, C);
    be.tanh_forward(pooled_, pool_pre_, size_t(B) * C);
    be.linear_forward(class_logits_, pooled_, P + layout_.at("classifier.weight").offset,
                      P + layout_.at("classifier.bias").offset, B, C, K);
    if (!batch.labels) return 0.0f;
    labels_.assign(batch.labels, batch.labels + B);
    be.masked_cross_entropy_forward(class_losses_, class_probs_, class_logits_, labels_.data(), B,
                                    K, K, 0.0f);
    for (int b = 0; b < B; ++b) sample_losses_[b] = class_losses_[b];
  }
  double sum = 0.0;
  for (float l : sample_losses_) sum += l;
  return float(sum / B);
}

void EncoderModel::backward(float loss_scale, const GradReadyFn& grad_ready) {
  COHORT_CHECK(last_B_ > 0 && (last_mlm_ || last_has_labels_))
      << "backward needs a forward with targets";
  const int B = last_B_, T = last_T_, C = config_.n_embd, NH = config_.n_head;
  const int V = config_.vocab_size, Vp = config_.padded_vocab_size();
  const size_t BT = size_t(B) * T;
  Backend& be = backend_;
  const float* P = params();
  float* G = grads();
  std::memset(dlnf_, 0, BT * C * sizeof(float));
  if (last_mlm_) {
    for (int r = 0; r < rows_; ++r) row_scale_[r] *= loss_scale;
    const size_t wte = layout_.at("wte.weight").offset;
    be.masked_cross_entropy_backward(rows_probs_, rows_probs_, row_targets_.data(), row_scale_,
                                     rows_, V, Vp, 0.0f);
    be.lm_head_backward(rows_dx_, G + wte, rows_probs_, rows_x_, P + wte, rows_, C, Vp);
    for (int r = 0; r < rows_; ++r)
      std::memcpy(dlnf_ + size_t(row_index_[r]) * C, rows_dx_ + size_t(r) * C, C * sizeof(float));
  } else {
    const int K = config_.n_classes;
    for (int b = 0; b < B; ++b) row_scale_[b] = loss_scale / float(B);
    be.masked_cross_entropy_backward(class_probs_, class_probs_, labels_.data(), row_scale_, B, K,
                                     K, 0.0f);
    const size_t cw = layout_.at("classifier.weight").offset;
    const size_t pw = layout_.at("pooler.weight").offset;
    be.linear_backward(d_pooled_, G + cw, G + layout_.at("classifier.bias").offset, class_probs_,
                       pooled_, P + cw, B, C, K);
    be.tanh_backward(d_pooled_, pooled_, d_pooled_, size_t(B) * C);
    be.linear_backward(d_pool_in_, G + pw, G + layout_.at("pooler.bias").offset, d_pooled_,
                       pool_in_, P + pw, B, C, C);
    for (int b = 0; b < B; ++b)
      std::memcpy(dlnf_ + size_t(b) * T * C, d_pool_in_ + size_t(b) * C, C * sizeof(float));
  }
  std::memset(dres_, 0, BT * C * sizeof(float));
  const size_t lnw = layout_.at("ln_f.weight").offset, lnb = layout_.at("ln_f.bias").offset;
  const float* top = config_.n_layer > 0 ? acts_.back().out : encoded_;
  be.layernorm_backward(dres_, G + lnw, G + lnb, dlnf_, top, P + lnw, lnf_mean_, lnf_rstd_, BT, C);
  BlockInputs in;
  in.B = B;
  in.T = T;
  in.self_len = lengths_.data();
  for (int l = config_.n_layer - 1; l >= 0; --l) {
    const float* x = l == 0 ? encoded_ : acts_[l - 1].out;
    block_backward(be, blocks_[l], dblocks_[l], acts_[l], scratch_, x, dres_, in, C, NH,
                   {dropout_key(last_options_, 1 + kBlockDropoutSites * l)});
  }
  be.dropout(dres_, B, size_t(T) * C, dropout_key(last_options_, 0));
  be.embedding_backward(G + layout_.at("wte.weight").offset, G + layout_.at("wpe.weight").offset,
                        dres_, tokens_.data(), B, T, C);
  if (grad_ready) grad_ready(0);
}

}  // namespace cohort
