// Dropout sites (part of each mask's key): 0 embeddings; for layer l, 1+3l attention
// probabilities, 2+3l attention residual branch, 3+3l MLP residual branch.
#include "model/gpt.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace cohort {

struct Gpt::LayerParams {
  float* ln1w;   // (C)
  float* ln1b;   // (C)
  float* qkvw;   // (C, 3C)
  float* qkvb;   // (3C)
  float* attpw;  // (C, C)
  float* attpb;  // (C)
  float* ln2w;   // (C)
  float* ln2b;   // (C)
  float* fcw;    // (C, 4C)
  float* fcb;    // (4C)
  float* fcpw;   // (4C, C)
  float* fcpb;   // (C)
};

namespace {
constexpr uint32_t kSiteEmbedding = 0;
uint32_t site_attention(int l) { return 1 + 3 * l; }
uint32_t site_attention_residual(int l) { return 2 + 3 * l; }
uint32_t site_mlp_residual(int l) { return 3 + 3 * l; }
}  // namespace

Gpt::Gpt(const ModelConfig& config, Backend& backend) : Model(config, backend) {
  COHORT_CHECK(config_.arch == "gpt") << "Gpt needs model.arch = gpt";
  static constexpr const char* kLayerTensors[12] = {
      "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
      "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
      "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias"};
  for (int l = 0; l < config_.n_layer; ++l) {
    std::array<size_t, 12> o;
    for (int i = 0; i < 12; ++i)
      o[i] = layout_.at(fmt::format("h.{}.{}", l, kLayerTensors[i])).offset;
    layer_offsets_.push_back(o);
  }
  // The units backward finishes, as flat ranges: ln_f, layers from the top, embeddings.
  const int L = config_.n_layer;
  set_grad_ready_units(size_t(L) + 2, [L](const std::string& name) {
    if (name.starts_with("ln_f.")) return size_t(0);
    if (name.starts_with("h.")) return size_t(L - std::stoi(name.substr(2)));
    return size_t(L) + 1;  // wte, wpe
  });
}

Gpt::LayerParams Gpt::layer_params(float* base, int l) const {
  const auto& o = layer_offsets_[l];
  return {base + o[0], base + o[1], base + o[2], base + o[3], base + o[4],  base + o[5],
          base + o[6], base + o[7], base + o[8], base + o[9], base + o[10], base + o[11]};
}

void Gpt::plan(int B, int T, bool keep_logits) {
  if (B <= 0 || T <= 0)
    throw Error(
        fmt::format("batch size and sequence length must be positive (got B={}, T={})", B, T));
  if (T > config_.context_length) {
    throw Error(fmt::format("sequence length {} exceeds model.context_length {}", T,
                            config_.context_length));
  }
  acts_ = std::make_unique<ActivationPlan>(config_, B, T, backend_, keep_logits);
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
  float* P = params_.data();
  const float* wte = P + layout_.at("wte.weight").offset;
  const float* wpe = P + layout_.at("wpe.weight").offset;
  be.embedding_forward(a.encoded, a.tokens, wte, wpe, B, T, C);
  be.dropout(a.encoded, B, size_t(T) * C, dropout_key(kSiteEmbedding));

  // Each residual add comes with the LayerNorm that reads its result (add_layernorm_forward):
  // ln_2 after the attention branch, and the next layer's ln_1 (or ln_f) after the MLP's.
  // ln_1, ln_2, ln_f and the attention's output stay as they are until the backward has
  // read them (Backend::hold_input), so a backend may keep its converted copies; each is
  // held before the op that computes it runs (a LayerNorm, the attention), so that op's
  // kernel may write the copy too. Only products (and attention_branch_backward, the
  // attention's output) read them: hold_product_input.
  struct Norm {
    float *out, *mean, *rstd;
    const float *w, *b;
  };
  // The LayerNorm on the stream entering layer l: its ln_1, or ln_f after the last layer.
  auto norm_before = [&](int l) -> Norm {
    if (l == config_.n_layer)
      return {a.lnf, a.lnf_mean, a.lnf_rstd, P + layout_.at("ln_f.weight").offset,
              P + layout_.at("ln_f.bias").offset};
    const LayerParams w = layer_params(P, l);
    LayerActivations& la = a.layers[size_t(l)];
    return {la.ln1, la.ln1_mean, la.ln1_rstd, w.ln1w, w.ln1b};
  };
  // Without dropout a branch's output is read only by the residual add after it: a backend
  // may keep it in its own format between the two (Backend::pass_branch).
  const bool dropout_on = options.training && config_.dropout > 0.0f;
  auto pass_branch = [&] {
    if (!dropout_on) be.pass_branch(a.branch, BT * C);
  };
  const float* x = a.encoded;
  const Norm first = norm_before(0);
  be.hold_product_input(first.out, BT * C);
  be.layernorm_forward(first.out, first.mean, first.rstd, x, first.w, first.b, BT, C);
  for (int l = 0; l < config_.n_layer; ++l) {
    const LayerParams w = layer_params(P, l);
    LayerActivations& la = a.layers[l];
    be.hold_product_input(la.atty, BT * C);
    be.qkv_attention_forward(la.atty, la.att, la.qkv, la.ln1, w.qkvw, w.qkvb, B, T, C, NH,
                             dropout_key(site_attention(l)));
    pass_branch();
    be.linear_forward(a.branch, la.atty, w.attpw, w.attpb, BT, C, C);
    be.dropout(a.branch, B, size_t(T) * C, dropout_key(site_attention_residual(l)));
    be.hold_product_input(la.ln2, BT * C);
    be.add_layernorm_forward(la.residual2, la.ln2, la.ln2_mean, la.ln2_rstd, x, a.branch, w.ln2w,
                             w.ln2b, BT, C);
    pass_branch();
    be.mlp_forward(a.branch, la.mlp, la.ln2, w.fcw, w.fcb, w.fcpw, w.fcpb, BT, C, 4 * C);
    be.dropout(a.branch, B, size_t(T) * C, dropout_key(site_mlp_residual(l)));
    const Norm next = norm_before(l + 1);
    be.hold_product_input(next.out, BT * C);
    be.add_layernorm_forward(la.residual3, next.out, next.mean, next.rstd, la.residual2, a.branch,
                             next.w, next.b, BT, C);
    x = la.residual3;
  }
  // Training's plan (one logits buffer) takes the backend's fused pair; a plan that keeps
  // the logits for the caller gets them in fp32 from the separate ops.
  if (targets && a.probs == a.logits) {
    be.lm_head_loss_forward(a.losses, a.logits, a.lnf, wte, a.targets, BT, C, V, Vp);
  } else {
    COHORT_CHECK(a.logits_floats >= BT * size_t(Vp))
        << "logits without targets need a plan that keeps them (plan(B, T, keep_logits = "
           "true)): training's plan sized its buffer for the backend's fused LM head";
    be.lm_head_forward(a.logits, a.lnf, wte, BT, C, Vp);
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
  // Each LayerNorm's input gradient from the product before it is read once, by the
  // LayerNorm's backward: a backend may pass it in its own format (Backend::pass_gradient).
  be.pass_gradient(a.d_c_a, BT * C);
  if (a.probs == a.logits) {
    be.lm_head_loss_backward(a.d_c_a, G + wte_off, a.logits, a.lnf, P + wte_off, a.targets, dloss,
                             BT, C, V, Vp);
  } else {
    float* dlogits = a.probs;  // in place
    be.softmax_cross_entropy_backward(dlogits, a.probs, a.targets, dloss, BT, V, Vp);
    be.lm_head_backward(a.d_c_a, G + wte_off, dlogits, a.lnf, P + wte_off, BT, C, Vp);
  }
  be.memory().fill_zero(a.dresidual, BT * C * sizeof(float));
  const bool dropout_on = last_options_.training && config_.dropout > 0.0f;
  // Without dropout the residual gradient each LayerNorm backward updates is the next
  // branch's output gradient as it is (Backend::hold_gradient); not the embedding's.
  auto hold_for_branch = [&](bool branch_next) {
    if (branch_next && !dropout_on) be.hold_gradient(a.dresidual, BT * C);
  };
  const float* top = config_.n_layer > 0 ? a.layers.back().residual3 : a.encoded;
  const size_t lnf_w = layout_.at("ln_f.weight").offset, lnf_b = layout_.at("ln_f.bias").offset;
  hold_for_branch(config_.n_layer > 0);
  be.layernorm_backward(a.dresidual, G + lnf_w, G + lnf_b, a.d_c_a, top, P + lnf_w, a.lnf_mean,
                        a.lnf_rstd, BT, C);
  ready(0);

  // The gradient flowing into a residual branch: dresidual itself, or a masked copy.
  auto branch_grad = [&](uint32_t site) -> const float* {
    if (!dropout_on) return a.dresidual;
    be.memory().copy_within(a.d_c_a, a.dresidual, BT * C * sizeof(float));
    be.dropout(a.d_c_a, B, size_t(T) * C, dropout_key(site));
    return a.d_c_a;
  };

  for (int l = config_.n_layer - 1; l >= 0; --l) {
    const LayerParams w = layer_params(P, l);
    const LayerParams dw = layer_params(G, l);
    LayerActivations& la = a.layers[l];
    const float* x = l == 0 ? a.encoded : a.layers[l - 1].residual3;

    // residual3 = residual2 + dropout(c_proj(gelu(c_fc(ln_2(residual2)))))
    const float* dmlp = branch_grad(site_mlp_residual(l));
    be.pass_gradient(a.d_c_b, BT * C);
    be.mlp_backward(a.d_c_b, dw.fcw, dw.fcb, dw.fcpw, dw.fcpb, dmlp, la.ln2, la.mlp, w.fcw, w.fcpw,
                    a.d_4c, BT, C, 4 * C);
    hold_for_branch(true);
    be.layernorm_backward(a.dresidual, dw.ln2w, dw.ln2b, a.d_c_b, la.residual2, w.ln2w, la.ln2_mean,
                          la.ln2_rstd, BT, C);

    // residual2 = x + dropout(c_proj(attention(c_attn(ln_1(x)))))
    const float* dattn = branch_grad(site_attention_residual(l));
    be.pass_gradient(a.d_c_a, BT * C);
    be.attention_branch_backward(a.d_c_a, dw.qkvw, dw.qkvb, dw.attpw, dw.attpb, a.d_c_b, a.d_3c,
                                 a.d_att, dattn, la.qkv, la.att, la.atty, la.ln1, w.qkvw, w.attpw,
                                 B, T, C, NH, dropout_key(site_attention(l)));
    hold_for_branch(l > 0);
    be.layernorm_backward(a.dresidual, dw.ln1w, dw.ln1b, a.d_c_a, x, w.ln1w, la.ln1_mean,
                          la.ln1_rstd, BT, C);
    ready(size_t(config_.n_layer - l));
  }
  be.dropout(a.dresidual, B, size_t(T) * C, dropout_key(kSiteEmbedding));
  be.embedding_backward(G + wte_off, G + layout_.at("wpe.weight").offset, a.dresidual, a.tokens, B,
                        T, C);
  ready(size_t(config_.n_layer) + 1);
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
