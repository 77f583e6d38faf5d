#include "model/activation_plan.h"

#include "model/buffer_plan.h"

namespace cohort {

ActivationPlan::ActivationPlan(const ModelConfig& cfg, int B_, int T_, Backend& backend,
                               bool keep_logits)
    : B(B_), T(T_) {
  const size_t BT = size_t(B) * T, C = cfg.n_embd, Vp = cfg.padded_vocab_size();
  const size_t att = backend.attention_state_floats(B, T, cfg.n_embd, cfg.n_head);
  const bool att_probabilities = backend.attention_stores_probabilities();
  // One qkv buffer for every layer where the attention's backward never reads it (it
  // keeps q, k, v in its own state): B x T x 3C floats a layer (150 MB for GPT-2 124M at
  // B=16, T=1024) not allocated.
  const bool one_qkv = backend.attention_backward_reads_state_only(cfg.n_embd, cfg.n_head);
  BufferPlan plan;
  plan.add(&encoded, BT * C);
  layers.resize(size_t(cfg.n_layer));
  for (auto& a : layers) {
    plan.add(&a.ln1, BT * C);
    plan.add(&a.ln1_mean, BT);
    plan.add(&a.ln1_rstd, BT);
    if (!one_qkv || &a == &layers.front()) plan.add(&a.qkv, BT * 3 * C);
    plan.add(&a.att, att);
    plan.add(&a.atty, BT * C);
    plan.add(&a.residual2, BT * C);
    plan.add(&a.ln2, BT * C);
    plan.add(&a.ln2_mean, BT);
    plan.add(&a.ln2_rstd, BT);
    plan.add(&a.mlp, BT * 8 * C);
    plan.add(&a.residual3, BT * C);
  }
  plan.add(&lnf, BT * C);
  plan.add(&lnf_mean, BT);
  plan.add(&lnf_rstd, BT);
  // Training's plan: the LM head and its loss as the backend's pair, in its format.
  logits_floats = keep_logits ? BT * Vp : backend.lm_head_loss_floats(BT, int(Vp));
  plan.add(&logits, logits_floats);
  if (keep_logits) plan.add(&probs, BT * Vp);
  plan.add(&losses, BT);
  plan.add(&branch, BT * C);
  plan.add(&dresidual, BT * C);
  plan.add(&d_c_a, BT * C);
  plan.add(&d_c_b, BT * C);
  plan.add(&d_3c, BT * 3 * C);
  plan.add(&d_4c, BT * 4 * C);
  d_att = nullptr;
  if (att_probabilities) plan.add(&d_att, size_t(B) * cfg.n_head * T * T);
  plan.add(&tokens, BT);
  plan.add(&targets, BT);
  arena = plan.allocate(backend.memory());
  if (one_qkv)
    for (auto& a : layers) a.qkv = layers.front().qkv;
  if (!keep_logits) probs = logits;
}

}  // namespace cohort
