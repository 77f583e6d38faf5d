#include "model/activation_plan.h"

namespace cohort {

ActivationPlan::ActivationPlan(const ModelConfig& cfg, int B_, int T_, MemorySpace& space,
                               bool att_probabilities, bool keep_logits)
    : B(B_), T(T_) {
  const size_t BT = size_t(B) * T, C = cfg.n_embd, NH = cfg.n_head, Vp = cfg.padded_vocab_size();
  const size_t L = cfg.n_layer;
  const size_t att = size_t(B) * NH * T * (att_probabilities ? size_t(T) : 1);
  const size_t d_att_size = att_probabilities ? att : 0;
  const size_t per_layer = BT * C * 16 + BT * 4 + att;
  const size_t logit_buffers = keep_logits ? 2 : 1;
  const size_t total = BT * C + L * per_layer + BT * C + BT * 2 + BT * Vp * logit_buffers + BT +
                       BT * C + BT * C * 3 + BT * 3 * C + BT * 4 * C + d_att_size + 2 * BT;
  arena = Arena(total, space);
  float* p = arena.data();
  auto take = [&p](size_t n) {
    float* r = p;
    p += n;
    return r;
  };
  encoded = take(BT * C);
  layers.resize(L);
  for (auto& a : layers) {
    a.ln1 = take(BT * C);
    a.ln1_mean = take(BT);
    a.ln1_rstd = take(BT);
    a.qkv = take(BT * 3 * C);
    a.att = take(att);
    a.atty = take(BT * C);
    a.residual2 = take(BT * C);
    a.ln2 = take(BT * C);
    a.ln2_mean = take(BT);
    a.ln2_rstd = take(BT);
    a.mlp = take(BT * 8 * C);
    a.residual3 = take(BT * C);
  }
  lnf = take(BT * C);
  lnf_mean = take(BT);
  lnf_rstd = take(BT);
  logits = take(BT * Vp);
  probs = keep_logits ? take(BT * Vp) : logits;
  losses = take(BT);
  branch = take(BT * C);
  dresidual = take(BT * C);
  d_c_a = take(BT * C);
  d_c_b = take(BT * C);
  d_3c = take(BT * 3 * C);
  d_4c = take(BT * 4 * C);
  d_att = d_att_size ? take(d_att_size) : nullptr;
  static_assert(sizeof(int32_t) == sizeof(float));
  tokens = reinterpret_cast<int32_t*>(take(BT));
  targets = reinterpret_cast<int32_t*>(take(BT));
}

}  // namespace cohort
