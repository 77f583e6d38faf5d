// Dropout sites (part of each mask's key): 0 embeddings, then the blocks' (kBlockSites).
#include "model/gpt.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace cohort {

namespace {
constexpr uint32_t kSiteEmbedding = 0;
// Layer l's attention probabilities 1+3l, attention residual 2+3l, MLP residual 3+3l.
constexpr BlockDropoutSites kBlockSites{.first = 1, .per_block = 3, .offset = {0, 1, 0, 0, 2}};
constexpr BlockSpec kBlockSpec{.causal = true};
}  // namespace

Gpt::Gpt(const ModelConfig& config, Backend& backend)
    : Model(config, backend),
      blocks_(layout_, params_.data(), grads_.data(), "h.", config.n_layer, kBlockSpec, "ln_f.",
              /*final_products_only=*/true, kBlockSites) {
  COHORT_CHECK(config_.arch == "gpt") << "Gpt needs model.arch = gpt";
  // The units backward finishes, as flat ranges: ln_f, layers from the top, embeddings.
  const int L = config_.n_layer;
  set_grad_ready_units(size_t(L) + 2, [L](const std::string& name) {
    if (name.starts_with("ln_f.")) return size_t(0);
    if (name.starts_with("h.")) return size_t(L - std::stoi(name.substr(2)));
    return size_t(L) + 1;  // wte, wpe
  });
}

void Gpt::plan(int B, int T, bool keep_logits) {
  if (B <= 0 || T <= 0)
    throw Error(
        fmt::format("batch size and sequence length must be positive (got B={}, T={})", B, T));
  if (T > config_.context_length) {
    throw Error(fmt::format("sequence length {} exceeds model.context_length {}", T,
                            config_.context_length));
  }
  acts_ = std::make_unique<ActivationPlan>(config_, blocks_, B, T, backend_, keep_logits);
}

float Gpt::forward(const int32_t* tokens, const int32_t* targets, int B, int T,
                   const ForwardOptions& options) {
  COHORT_CHECK(acts_ != nullptr) << "plan(B, T) before forward";
  COHORT_CHECK(B <= acts_->B && T <= acts_->T)
      << "batch " << B << "x" << T << " exceeds the plan " << acts_->B << "x" << acts_->T;
  const int C = config_.n_embd, NH = config_.n_head, V = config_.vocab_size;
  const int Vp = config_.padded_vocab_size();
  const size_t BT = size_t(B) * T;
  for (size_t i = 0; i < BT; ++i) {
    if (tokens[i] < 0 || tokens[i] >= V || (targets && (targets[i] < 0 || targets[i] >= V))) {
      throw Error(fmt::format("token id {} at position {} is outside the vocabulary [0, {})",
                              (tokens[i] < 0 || tokens[i] >= V) ? tokens[i] : targets[i], i, V));
    }
  }
  parameters_updated();
  ActivationPlan& a = *acts_;
  MemorySpace& mem = backend_.memory();
  mem.copy_from_host(a.tokens, tokens, BT * sizeof(int32_t));
  if (targets) mem.copy_from_host(a.targets, targets, BT * sizeof(int32_t));
  last_B_ = B;
  last_T_ = T;
  last_has_targets_ = targets != nullptr;
  last_options_ = options;

  Backend& be = backend_;
  // The embeddings' unit (also the LM head's) stays gathered until backward has finished it.
  const size_t embeddings = size_t(config_.n_layer) + 1;
  units_.gather(embeddings, ParameterStore::Pass::forward);
  float* P = params_.data();
  const float* wte = P + layout_.at("wte.weight").offset;
  const float* wpe = P + layout_.at("wpe.weight").offset;
  be.embedding_forward(a.encoded, a.tokens, wte, wpe, B, T, C);
  be.dropout(a.encoded, B, size_t(T) * C, dropout_key(kSiteEmbedding));

  BlockInputs in;
  in.B = B;
  in.T = T;
  blocks_.forward(be, a.stack, a.scratch, a.encoded, in, C, NH, dropout_key(0), {units_, 0});
  const float* lnf = a.stack.out;
  // Training's plan (one logits buffer) takes the backend's fused pair; a plan that keeps
  // the logits for the caller gets them in fp32 from the separate ops.
  if (targets && a.probs == a.logits) {
    be.lm_head_loss_forward(a.losses, a.logits, lnf, wte, a.targets, BT, C, V, Vp);
  } else {
    COHORT_CHECK(a.logits_floats >= BT * size_t(Vp))
        << "logits without targets need a plan that keeps them (plan(B, T, keep_logits = "
           "true)): training's plan sized its buffer for the backend's fused LM head";
    be.lm_head_forward(a.logits, lnf, wte, BT, C, Vp);
    if (!targets) return 0.0f;
    be.softmax_cross_entropy_forward(a.losses, a.probs, a.logits, a.targets, BT, V, Vp);
  }
  host_losses_.resize(BT);
  mem.copy_to_host(host_losses_.data(), a.losses, BT * sizeof(float));
  double sum = 0.0;
  for (size_t i = 0; i < BT; ++i) sum += host_losses_[i];
  return static_cast<float>(sum / double(BT));
}

void Gpt::backward(float loss_scale, const GradReadyFn& grad_ready) {
  auto ready = [&](size_t index) {
    if (grad_ready) grad_ready(index);
  };
  COHORT_CHECK(acts_ != nullptr && last_has_targets_) << "backward needs a forward with targets";
  const int B = last_B_, T = last_T_;
  const int C = config_.n_embd, NH = config_.n_head, V = config_.vocab_size;
  const int Vp = config_.padded_vocab_size();
  const size_t BT = size_t(B) * T;
  ActivationPlan& a = *acts_;
  Backend& be = backend_;
  float* P = params_.data();
  float* G = grads_.data();
  const size_t wte_off = layout_.at("wte.weight").offset;

  const float dloss = loss_scale / float(BT);
  // ln_f's input gradient from the LM head is read once, by ln_f's backward: a backend may
  // pass it in its own format (Backend::pass_gradient).
  float* dlnf = a.scratch.d_c_a;
  be.pass_gradient(dlnf, BT * C);
  if (a.probs == a.logits) {
    be.lm_head_loss_backward(dlnf, G + wte_off, a.logits, a.stack.out, P + wte_off, a.targets,
                             dloss, BT, C, V, Vp);
  } else {
    float* dlogits = a.probs;  // in place
    be.softmax_cross_entropy_backward(dlogits, a.probs, a.targets, dloss, BT, V, Vp);
    be.lm_head_backward(dlnf, G + wte_off, dlogits, a.stack.out, P + wte_off, BT, C, Vp);
  }
  BlockInputs in;
  in.B = B;
  in.T = T;
  blocks_.backward(be, a.stack, a.scratch, a.encoded, dlnf, in, C, NH, dropout_key(0), ready,
                   {units_, 0});
  be.dropout(a.stack.dres, B, size_t(T) * C, dropout_key(kSiteEmbedding));
  be.embedding_backward(G + wte_off, G + layout_.at("wpe.weight").offset, a.stack.dres, a.tokens, B,
                        T, C);
  ready(size_t(config_.n_layer) + 1);
  units_.release(size_t(config_.n_layer) + 1);
}

std::vector<float> Gpt::copy_logits(size_t first_row, size_t n_rows) const {
  COHORT_CHECK(acts_ != nullptr && first_row + n_rows <= size_t(last_B_) * last_T_)
      << "logits rows [" << first_row << ", " << first_row + n_rows << ") of the last forward";
  COHORT_CHECK(acts_->probs != acts_->logits || !last_has_targets_)
      << "the softmax replaced the logits (plan(B, T, keep_logits = false))";
  const size_t Vp = size_t(config_.padded_vocab_size());
  std::vector<float> out(n_rows * Vp);
  backend_.memory().copy_to_host(out.data(), acts_->logits + first_row * Vp,
                                 out.size() * sizeof(float));
  return out;
}

}  // namespace cohort
