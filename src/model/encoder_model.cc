// Dropout sites: 0 embeddings; block l uses 1 + kBlockDropoutRoles*l onwards.
#include "model/encoder_model.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

EncoderModel::EncoderModel(const ModelConfig& config, Backend& backend)
    : Model(config, backend),
      blocks_(layout_, params(), grads(), "h.", config.n_layer, BlockSpec{.padded = true}, "ln_f.",
              /*final_products_only=*/false, BlockDropoutSites{.first = 1}) {
  COHORT_CHECK(config_.arch == "encoder") << "EncoderModel needs model.arch = encoder";
  // The units backward finishes: the head with ln_f, the blocks from the top, then the
  // embeddings (the MLM head's wte gradient is complete only there).
  const int L = config_.n_layer;
  set_grad_ready_units(size_t(L) + 2, [L](const std::string& name) {
    if (name.starts_with("h.")) return size_t(L - std::stoi(name.substr(2)));
    if (name.starts_with("wte.") || name.starts_with("wpe.")) return size_t(L) + 1;
    return size_t(0);  // ln_f, pooler, classifier
  });
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
  blocks_.plan(acts_, p, backend_, B, T, C, NH);
  scratch_.plan(p, backend_, B, T, C, NH, 0, true);
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
  p.add(&tokens_, BT);
  p.add(&lengths_, size_t(B));
  p.add(&labels_, size_t(B));
  p.add(&row_index_, BT);
  p.add(&row_targets_, BT);
  p.add(&cls_rows_, size_t(B));
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
  parameters_updated();
  const int B = batch.B, T = batch.T, C = config_.n_embd, NH = config_.n_head;
  const int V = config_.vocab_size, Vp = config_.padded_vocab_size();
  const size_t BT = size_t(B) * T;
  last_B_ = B;
  last_T_ = T;
  last_options_ = options;
  last_mlm_ = batch.mlm_targets != nullptr;
  last_has_labels_ = batch.labels != nullptr;
  Backend& be = backend_;
  MemorySpace& mem = be.memory();
  std::vector<int32_t> cls(static_cast<size_t>(B));  // the [CLS] rows: position 0 of each sample
  for (int b = 0; b < B; ++b) cls[size_t(b)] = int32_t(b) * T;
  mem.copy_from_host(cls_rows_, cls.data(), cls.size() * sizeof(int32_t));
  mem.copy_from_host(tokens_, batch.tokens, BT * sizeof(int32_t));
  mem.copy_from_host(lengths_, batch.lengths, size_t(B) * sizeof(int32_t));
  // The embeddings' unit (also the MLM head's) stays gathered until backward has finished it;
  // unit 0, the final norm's and the heads', stays gathered from the blocks' forward.
  const size_t embeddings = size_t(config_.n_layer) + 1;
  units_.gather(embeddings, ParameterStore::Pass::forward);
  const float* P = params();
  be.embedding_forward(encoded_, tokens_, P + layout_.at("wte.weight").offset,
                       P + layout_.at("wpe.weight").offset, B, T, C);
  be.dropout(encoded_, B, size_t(T) * C, dropout_key(options, 0));
  BlockInputs in;
  in.B = B;
  in.T = T;
  in.self_len = lengths_;
  blocks_.forward(be, acts_, scratch_, encoded_, in, C, NH, dropout_key(options, 0), {units_, 0});
  const float* lnf = acts_.out;
  sample_losses_.assign(B, 0.0f);
  if (last_mlm_) {
    // Gather the masked rows; each sample's rows share 1/(count) of its weight.
    host_rows_.clear();
    std::vector<int32_t> targets;
    std::vector<int> count(B, 0);
    for (size_t i = 0; i < BT; ++i) {
      if (batch.mlm_targets[i] >= 0) {
        host_rows_.push_back(int32_t(i));
        targets.push_back(batch.mlm_targets[i]);
        ++count[i / T];
      }
    }
    rows_ = int(host_rows_.size());
    for (int b = 0; b < B; ++b)
      if (count[b] == 0) throw Error(fmt::format("sample {} has no masked position", b));
    mem.copy_from_host(row_index_, host_rows_.data(), size_t(rows_) * sizeof(int32_t));
    mem.copy_from_host(row_targets_, targets.data(), size_t(rows_) * sizeof(int32_t));
    be.gather_rows(rows_x_, lnf, row_index_, rows_, C);
    be.lm_head_forward(rows_logits_, rows_x_, P + layout_.at("wte.weight").offset, rows_, C, Vp);
    be.masked_cross_entropy_forward(rows_losses_, rows_probs_, rows_logits_, row_targets_, rows_, V,
                                    Vp, 0.0f);
    host_losses_.resize(size_t(rows_));
    mem.copy_to_host(host_losses_.data(), rows_losses_, size_t(rows_) * sizeof(float));
    host_row_scale_.resize(size_t(rows_));
    for (int r = 0; r < rows_; ++r) {
      const int b = host_rows_[size_t(r)] / T;
      sample_losses_[b] += host_losses_[size_t(r)] / float(count[b]);
      host_row_scale_[size_t(r)] = 1.0f / float(count[b] * B);
    }
  } else {
    const int K = config_.n_classes;
    be.gather_rows(pool_in_, lnf, cls_rows_, B, C);
    be.linear_forward(pool_pre_, pool_in_, P + layout_.at("pooler.weight").offset,
                      P + layout_.at("pooler.bias").offset, B, C, C);
    be.tanh_forward(pooled_, pool_pre_, size_t(B) * C);
    be.linear_forward(class_logits_, pooled_, P + layout_.at("classifier.weight").offset,
                      P + layout_.at("classifier.bias").offset, B, C, K);
    if (!batch.labels) return 0.0f;
    mem.copy_from_host(labels_, batch.labels, size_t(B) * sizeof(int32_t));
    be.masked_cross_entropy_forward(class_losses_, class_probs_, class_logits_, labels_, B, K, K,
                                    0.0f);
    mem.copy_to_host(sample_losses_.data(), class_losses_, size_t(B) * sizeof(float));
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
  MemorySpace& mem = be.memory();
  mem.fill_zero(dlnf_, BT * C * sizeof(float));
  units_.gather(0, ParameterStore::Pass::backward);  // the heads
  if (last_mlm_) {
    std::vector<float> scale(host_row_scale_);
    for (float& s : scale) s *= loss_scale;
    mem.copy_from_host(row_scale_, scale.data(), scale.size() * sizeof(float));
    const size_t wte = layout_.at("wte.weight").offset;
    be.masked_cross_entropy_backward(rows_probs_, rows_probs_, row_targets_, row_scale_, rows_, V,
                                     Vp, 0.0f);
    be.lm_head_backward(rows_dx_, G + wte, rows_probs_, rows_x_, P + wte, rows_, C, Vp);
    be.scatter_rows(dlnf_, rows_dx_, row_index_, rows_, C);
  } else {
    const int K = config_.n_classes;
    const std::vector<float> scale(size_t(B), loss_scale / float(B));
    mem.copy_from_host(row_scale_, scale.data(), scale.size() * sizeof(float));
    be.masked_cross_entropy_backward(class_probs_, class_probs_, labels_, row_scale_, B, K, K,
                                     0.0f);
    const size_t cw = layout_.at("classifier.weight").offset;
    const size_t pw = layout_.at("pooler.weight").offset;
    be.linear_backward(d_pooled_, G + cw, G + layout_.at("classifier.bias").offset, class_probs_,
                       pooled_, P + cw, B, C, K);
    be.tanh_backward(d_pooled_, pooled_, d_pooled_, size_t(B) * C);
    be.linear_backward(d_pool_in_, G + pw, G + layout_.at("pooler.bias").offset, d_pooled_,
                       pool_in_, P + pw, B, C, C);
    be.scatter_rows(dlnf_, d_pool_in_, cls_rows_, B, C);
  }
  auto ready = [&](size_t unit) {
    if (grad_ready) grad_ready(unit);
  };
  BlockInputs in;
  in.B = B;
  in.T = T;
  in.self_len = lengths_;
  blocks_.backward(be, acts_, scratch_, encoded_, dlnf_, in, C, NH, dropout_key(last_options_, 0),
                   ready, {units_, 0});
  be.dropout(acts_.dres, B, size_t(T) * C, dropout_key(last_options_, 0));
  be.embedding_backward(G + layout_.at("wte.weight").offset, G + layout_.at("wpe.weight").offset,
                        acts_.dres, tokens_, B, T, C);
  ready(size_t(config_.n_layer) + 1);
  units_.release(size_t(config_.n_layer) + 1);
}

std::vector<float> EncoderModel::copy_class_logits() const {
  COHORT_CHECK(last_B_ > 0 && !last_mlm_) << "class logits need a classifier forward";
  std::vector<float> out(size_t(last_B_) * config_.n_classes);
  backend_.memory().copy_to_host(out.data(), class_logits_, out.size() * sizeof(float));
  return out;
}

}  // namespace cohort
