#include "model/block_stack.h"

#include <fmt/format.h>

namespace cohort {

BlockStack::BlockStack(const ParameterLayout& layout, float* params, float* grads,
                       const std::string& prefix, int n_layer, const BlockSpec& spec,
                       const std::string& final_norm, bool final_products_only,
                       const BlockDropoutSites& sites)
    : spec_(spec), sites_(sites), final_products_only_(final_products_only) {
  for (int l = 0; l < n_layer; ++l) {
    const std::string p = fmt::format("{}{}.", prefix, l);
    blocks_.push_back(block_params(layout, params, p, spec));
    dblocks_.push_back(block_params(layout, grads, p, spec));
  }
  final_w_ = params + layout.at(final_norm + "weight").offset;
  final_b_ = params + layout.at(final_norm + "bias").offset;
  dfinal_w_ = grads + layout.at(final_norm + "weight").offset;
  dfinal_b_ = grads + layout.at(final_norm + "bias").offset;
}

void BlockStack::plan(StackActivations& a, BufferPlan& plan, Backend& backend, int B, int T, int C,
                      int NH, int S) const {
  const size_t BT = size_t(B) * T;
  // One qkv buffer for every block where the fused attention's backward never reads it (it
  // keeps q, k, v in its own state): B x T x 3C floats a block (150 MB for GPT-2 124M at
  // B=16, T=1024) not allocated.
  const bool one_qkv =
      spec_.fused_attention() && backend.attention_backward_reads_state_only(C, NH);
  a.layers.assign(blocks_.size(), {});
  if (recompute_ == Recompute::block) {
    for (auto& l : a.layers) {  // a block's input, on the residual stream, and its ln_1
      plan.add(&l.ln1, BT * C);
      plan.add(&l.ln1_mean, BT);
      plan.add(&l.ln1_rstd, BT);
      plan.add(&l.out, BT * C);
    }
    a.work.plan(plan, backend, B, T, C, NH, spec_, S, nullptr);
    plan.add(&a.work_out, BT * C);
    plan.add(&a.work_norm, BT * C);
    plan.add(&a.work_mean, BT);
    plan.add(&a.work_rstd, BT);
  } else {
    for (auto& l : a.layers) {
      const bool first = &l == &a.layers.front();
      l.plan(plan, backend, B, T, C, NH, spec_, S,
             one_qkv && !first ? &a.layers.front().qkv : nullptr);
      // Recompute::attention: every block's attention probabilities in the first block's
      // buffer (a later block's overwrite it; the backward computes each again).
      if (recompute_ == Recompute::attention && !first) {
        plan.unplan(&l.att);
        plan.alias(&l.att, &a.layers.front().att);
        if (spec_.cross) {
          plan.unplan(&l.xatt);
          plan.alias(&l.xatt, &a.layers.front().xatt);
        }
      }
    }
  }
  plan.add(&a.out, BT * C);
  plan.add(&a.out_mean, BT);
  plan.add(&a.out_rstd, BT);
  plan.add(&a.dres, BT * C);
}

// The LayerNorm on the stream entering block l: its ln_1, or the final norm after the last.
StreamNorm BlockStack::norm_before(StackActivations& a, int l) const {
  if (l == n_layer())
    return {a.out, a.out_mean, a.out_rstd, final_w_, final_b_, final_products_only_};
  BlockActivations& la = a.layers[size_t(l)];
  return {la.ln1, la.ln1_mean, la.ln1_rstd, blocks_[l].ln1w, blocks_[l].ln1b, true};
}

BlockActivations BlockStack::block_activations(const StackActivations& a, int l) const {
  const BlockActivations& saved = a.layers[size_t(l)];
  if (recompute_ != Recompute::block) return saved;
  BlockActivations act = a.work;
  act.ln1 = saved.ln1;
  act.ln1_mean = saved.ln1_mean;
  act.ln1_rstd = saved.ln1_rstd;
  act.out = saved.out;
  return act;
}

void BlockStack::forward(Backend& be, StackActivations& a, BlockScratch& s, const float* x,
                         const BlockInputs& in, int C, int NH, const DropoutKey& key,
                         const StackUnits& units) const {
  const size_t BT = size_t(in.B) * in.T;
  const int L = n_layer();
  constexpr auto pass = ParameterStore::Pass::forward;
  // Block l's unit; l = L: the final norm's.
  auto unit = [&](int l) { return units.first + size_t(L - l); };
  const StreamNorm first = norm_before(a, 0);
  units.access.gather(unit(0), pass);
  if (first.products_only) be.hold_product_input(first.out, BT * C);
  be.layernorm_forward(first.out, first.mean, first.rstd, x, first.w, first.b, BT, C);
  for (int l = 0; l < L; ++l) {
    // A block ends with the LayerNorm of the next block (or the final norm).
    units.access.gather(unit(l + 1), pass);
    BlockActivations act = block_activations(a, l);
    block_forward(be, spec_, blocks_[l], act, s, x, in, C, NH, BlockDropout(key, sites_, l),
                  norm_before(a, l + 1));
    units.access.release(unit(l));
    x = a.layers[l].out;
  }
}

void BlockStack::backward(Backend& be, StackActivations& a, BlockScratch& s, const float* x,
                          const float* dout, const BlockInputs& in, int C, int NH,
                          const DropoutKey& key, const std::function<void(size_t)>& ready,
                          const StackUnits& units) const {
  const size_t BT = size_t(in.B) * in.T;
  const int L = n_layer();
  constexpr auto pass = ParameterStore::Pass::backward;
  auto unit = [&](int l) { return units.first + size_t(L - l); };
  units.access.gather(unit(L), pass);
  be.memory().fill_zero(a.dres, BT * C * sizeof(float));
  // Without dropout the top block's MLP backward reads the final norm's input gradient as
  // it is (Backend::hold_gradient).
  if (L > 0 && !key.active()) be.hold_gradient(a.dres, BT * C);
  const float* top = L > 0 ? a.layers.back().out : x;
  be.layernorm_backward(a.dres, dfinal_w_, dfinal_b_, dout, top, final_w_, a.out_mean, a.out_rstd,
                        BT, C);
  ready(0);
  // A recomputed block reads the LayerNorm after it, whose unit came just before.
  const bool keep_previous = recompute_ == Recompute::block;
  if (!keep_previous || L == 0) units.access.release(unit(L));
  for (int l = L - 1; l >= 0; --l) {
    units.access.gather(unit(l), pass);
    const float* below = l == 0 ? x : a.layers[l - 1].out;
    const BlockDropout drop(key, sites_, l);
    BlockActivations act = block_activations(a, l);
    if (recompute_ == Recompute::block) {
      // The block's forward again, from its saved input and ln_1, into the shared buffers;
      // its output and the LayerNorm after it, already saved, go aside.
      act.out = a.work_out;
      const StreamNorm next = norm_before(a, l + 1);
      block_forward(be, spec_, blocks_[l], act, s, below, in, C, NH, drop,
                    {a.work_norm, a.work_mean, a.work_rstd, next.w, next.b, false});
    }
    if (recompute_ == Recompute::attention)
      block_attention_forward(be, spec_, blocks_[l], act, in, C, NH, drop);
    if (keep_previous) units.access.release(unit(l + 1));
    block_backward(be, spec_, blocks_[l], dblocks_[l], act, s, below, a.dres, in, C, NH, drop,
                   l > 0);
    ready(size_t(L - l));
    if (!keep_previous || l == 0) units.access.release(unit(l));
  }
}

}  // namespace cohort
