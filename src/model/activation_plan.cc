#include "model/activation_plan.h"

#include "model/buffer_plan.h"

namespace cohort {

ActivationPlan::ActivationPlan(const ModelConfig& cfg, const BlockStack& blocks, int B_, int T_,
                               Backend& backend, bool keep_logits)
    : B(B_), T(T_) {
  const size_t BT = size_t(B) * T, C = cfg.n_embd, Vp = cfg.padded_vocab_size();
  BufferPlan plan;
  plan.add(&encoded, BT * C);
  blocks.plan(stack, plan, backend, B, T, cfg.n_embd, cfg.n_head);
  // Training's plan: the LM head and its loss as the backend's pair, in its format.
  logits_floats = keep_logits ? BT * Vp : backend.lm_head_loss_floats(BT, int(Vp));
  plan.add(&logits, logits_floats);
  if (keep_logits) plan.add(&probs, BT * Vp);
  plan.add(&losses, BT);
  scratch.plan(plan, backend, B, T, cfg.n_embd, cfg.n_head, 0, !blocks.spec().fused_attention());
  plan.add(&tokens, BT);
  plan.add(&targets, BT);
  arena = plan.allocate(backend.memory());
  if (!keep_logits) probs = logits;
}

}  // namespace cohort
