#include "model/transformer_block.h"

#include "core/error.h"

namespace cohort {

void BlockSpec::check_supported() const {
  if (norm != Norm::layernorm) throw Error("block: RMSNorm is not built yet (issue 13)");
  if (positions != Positions::learned)
    throw Error("block: rotary positions are not built yet (issue 13)");
  if (mlp != Mlp::gelu) throw Error("block: the SwiGLU MLP is not built yet (issue 13)");
  if (!bias) throw Error("block: blocks without biases are not built yet (issue 13)");
}

BlockParams block_params(const ParameterLayout& layout, float* base, const std::string& prefix,
                         const BlockSpec& spec) {
  spec.check_supported();
  auto at = [&](const char* name) { return base + layout.at(prefix + name).offset; };
  BlockParams p;
  p.ln1w = at("ln_1.weight");
  p.ln1b = at("ln_1.bias");
  p.qkvw = at("attn.c_attn.weight");
  p.qkvb = at("attn.c_attn.bias");
  p.attpw = at("attn.c_proj.weight");
  p.attpb = at("attn.c_proj.bias");
  if (spec.cross) {
    p.lnxw = at("ln_x.weight");
    p.lnxb = at("ln_x.bias");
    p.xqw = at("xattn.q.weight");
    p.xqb = at("xattn.q.bias");
    p.xkvw = at("xattn.kv.weight");
    p.xkvb = at("xattn.kv.bias");
    p.xpw = at("xattn.c_proj.weight");
    p.xpb = at("xattn.c_proj.bias");
  }
  p.ln2w = at("ln_2.weight");
  p.ln2b = at("ln_2.bias");
  p.fcw = at("mlp.c_fc.weight");
  p.fcb = at("mlp.c_fc.bias");
  p.fcpw = at("mlp.c_proj.weight");
  p.fcpb = at("mlp.c_proj.bias");
  return p;
}

void BlockActivations::plan(BufferPlan& plan, Backend& backend, int B, int T, int C, int NH,
                            const BlockSpec& spec, int S, float** qkv_of) {
  const size_t BT = size_t(B) * T;
  plan.add(&ln1, BT * C);
  plan.add(&ln1_mean, BT);
  plan.add(&ln1_rstd, BT);
  if (qkv_of)
    plan.alias(&qkv, qkv_of);
  else
    plan.add(&qkv, BT * 3 * C);
  plan.add(&att, spec.fused_attention() ? backend.attention_state_floats(B, T, C, NH)
                                        : size_t(B) * NH * T * T);
  plan.add(&atty, BT * C);
  plan.add(&res2, BT * C);
  if (spec.cross) {
    plan.add(&lnx, BT * C);
    plan.add(&lnx_mean, BT);
    plan.add(&lnx_rstd, BT);
    plan.add(&xq, BT * C);
    plan.add(&xkv, size_t(B) * S * 2 * C);
    plan.add(&xatt, size_t(B) * NH * T * S);
    plan.add(&xatty, BT * C);
    plan.add(&resx, BT * C);
  }
  plan.add(&ln2, BT * C);
  plan.add(&ln2_mean, BT);
  plan.add(&ln2_rstd, BT);
  plan.add(&mlp, BT * 8 * C);
  plan.add(&out, BT * C);
}

void BlockScratch::plan(BufferPlan& plan, Backend& backend, int B, int T, int C, int NH, int S,
                        bool general) {
  const size_t BT = size_t(B) * T, BS = size_t(B) * S;
  plan.add(&branch, BT * C);
  plan.add(&d_c_a, BT * C);
  plan.add(&d_c_b, BT * C);
  plan.add(&d_3c, BT * 3 * C);
  plan.add(&d_4c, BT * 4 * C);
  // The general attention's backward always takes its T x S scratch; the fused one only
  // where the backend keeps probabilities (else it recomputes them from its state).
  if (general || S > 0 || backend.attention_stores_probabilities())
    plan.add(&d_att, size_t(B) * NH * T * (S > T ? S : T));
  if (S > 0) {
    plan.add(&d_xq, BT * C);
    plan.add(&d_xkv, BS * 2 * C);
    plan.add(&d_mem, BS * C);
  }
}

BlockDropout::BlockDropout(const DropoutKey& k, const BlockDropoutSites& sites, int layer)
    : key(k), first_site(sites.first + sites.per_block * uint32_t(layer)), offset(sites.offset) {}

namespace {
void hold_norm_output(Backend& be, const StreamNorm& norm, size_t n) {
  if (norm.products_only) be.hold_product_input(norm.out, n);
}
}  // namespace

namespace {

// The self-attention from qkv (the fused path: from ln_1, its projection included) into att
// and atty; atty is read only by products until the backward has (hold_product_input).
void self_attention_forward(Backend& be, const BlockSpec& spec, const BlockParams& w,
                            BlockActivations& a, const BlockInputs& in, int C, int NH,
                            const BlockDropout& drop) {
  const int B = in.B, T = in.T;
  be.hold_product_input(a.atty, size_t(B) * T * C);
  if (spec.fused_attention()) {
    be.qkv_attention_forward(a.atty, a.att, a.qkv, a.ln1, w.qkvw, w.qkvb, B, T, C, NH,
                             drop.at(BlockDropoutRole::attention));
  } else {
    be.mha_forward(a.atty, a.att, a.qkv, a.qkv + C, a.qkv + 2 * C, 3 * C, 3 * C, B, T, T, C, NH,
                   spec.causal, spec.padded ? in.self_len : nullptr,
                   drop.at(BlockDropoutRole::attention));
  }
}

// The cross-attention from xq and xkv into xatt and xatty.
void cross_attention_forward(Backend& be, BlockActivations& a, const BlockInputs& in, int C, int NH,
                             const BlockDropout& drop) {
  be.hold_product_input(a.xatty, size_t(in.B) * in.T * C);
  be.mha_forward(a.xatty, a.xatt, a.xq, a.xkv, a.xkv + C, C, 2 * C, in.B, in.T, in.S, C, NH, false,
                 in.memory_len, drop.at(BlockDropoutRole::cross_attention));
}

}  // namespace

void block_attention_forward(Backend& be, const BlockSpec& spec, const BlockParams& w,
                             BlockActivations& a, const BlockInputs& in, int C, int NH,
                             const BlockDropout& drop) {
  self_attention_forward(be, spec, w, a, in, C, NH, drop);
  if (spec.cross) cross_attention_forward(be, a, in, C, NH, drop);
}

void block_forward(Backend& be, const BlockSpec& spec, const BlockParams& w, BlockActivations& a,
                   BlockScratch& s, const float* x, const BlockInputs& in, int C, int NH,
                   const BlockDropout& drop, const StreamNorm& next) {
  using Role = BlockDropoutRole;
  const int B = in.B, T = in.T;
  const size_t BT = size_t(B) * T;
  const size_t n = size_t(T) * C;  // per sample
  // Without dropout a branch's output is read only by the residual add after it: a backend
  // may keep it in its own format between the two (Backend::pass_branch).
  const bool dropout_on = drop.key.active();
  auto pass_branch = [&] {
    if (!dropout_on) be.pass_branch(s.branch, BT * C);
  };
  // The LayerNorms' outputs and the attentions' are read only by products until the
  // backward has (Backend::hold_product_input), so a backend may keep its converted
  // copies; each is held before the op that computes it, so that op may write the copy.
  if (!spec.fused_attention()) be.linear_forward(a.qkv, a.ln1, w.qkvw, w.qkvb, BT, C, 3 * C);
  self_attention_forward(be, spec, w, a, in, C, NH, drop);
  pass_branch();
  be.linear_forward(s.branch, a.atty, w.attpw, w.attpb, BT, C, C);
  be.dropout(s.branch, B, n, drop.at(Role::attention_residual));
  const float* r = a.res2;
  if (spec.cross) {
    be.hold_product_input(a.lnx, BT * C);
    be.add_layernorm_forward(a.res2, a.lnx, a.lnx_mean, a.lnx_rstd, x, s.branch, w.lnxw, w.lnxb, BT,
                             C);
    be.linear_forward(a.xq, a.lnx, w.xqw, w.xqb, BT, C, C);
    be.linear_forward(a.xkv, in.memory, w.xkvw, w.xkvb, size_t(B) * in.S, C, 2 * C);
    cross_attention_forward(be, a, in, C, NH, drop);
    pass_branch();
    be.linear_forward(s.branch, a.xatty, w.xpw, w.xpb, BT, C, C);
    be.dropout(s.branch, B, n, drop.at(Role::cross_residual));
    be.hold_product_input(a.ln2, BT * C);
    be.add_layernorm_forward(a.resx, a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, s.branch, w.ln2w,
                             w.ln2b, BT, C);
    r = a.resx;
  } else {
    be.hold_product_input(a.ln2, BT * C);
    be.add_layernorm_forward(a.res2, a.ln2, a.ln2_mean, a.ln2_rstd, x, s.branch, w.ln2w, w.ln2b, BT,
                             C);
  }
  pass_branch();
  be.mlp_forward(s.branch, a.mlp, a.ln2, w.fcw, w.fcb, w.fcpw, w.fcpb, BT, C, 4 * C);
  be.dropout(s.branch, B, n, drop.at(Role::mlp_residual));
  hold_norm_output(be, next, BT * C);
  be.add_layernorm_forward(a.out, next.out, next.mean, next.rstd, r, s.branch, next.w, next.b, BT,
                           C);
}

void block_backward(Backend& be, const BlockSpec& spec, const BlockParams& w, const BlockParams& dw,
                    const BlockActivations& a, BlockScratch& s, const float* x, float* dres,
                    const BlockInputs& in, int C, int NH, const BlockDropout& drop,
                    bool product_below) {
  using Role = BlockDropoutRole;
  const int B = in.B, T = in.T;
  const size_t BT = size_t(B) * T;
  const size_t n = size_t(T) * C;
  const bool dropout_on = drop.key.active();
  // The gradient entering a residual branch: dres itself, or a copy through its mask.
  auto branch_grad = [&](Role role) -> const float* {
    if (!dropout_on) return dres;
    be.memory().copy_within(s.d_c_a, dres, BT * C * sizeof(float));
    be.dropout(s.d_c_a, B, n, drop.at(role));
    return s.d_c_a;
  };
  // Without dropout the residual gradient each LayerNorm backward updates is the next
  // branch's output gradient as it is (Backend::hold_gradient); and each LayerNorm's input
  // gradient, from the product before it, is read once, by that LayerNorm's backward
  // (Backend::pass_gradient).
  auto hold_for_product = [&](bool product_next) {
    if (product_next && !dropout_on) be.hold_gradient(dres, BT * C);
  };
  const float* r = spec.cross ? a.resx : a.res2;

  const float* dmlp = branch_grad(Role::mlp_residual);
  be.pass_gradient(s.d_c_b, BT * C);
  be.mlp_backward(s.d_c_b, dw.fcw, dw.fcb, dw.fcpw, dw.fcpb, dmlp, a.ln2, a.mlp, w.fcw, w.fcpw,
                  s.d_4c, BT, C, 4 * C);
  hold_for_product(true);
  be.layernorm_backward(dres, dw.ln2w, dw.ln2b, s.d_c_b, r, w.ln2w, a.ln2_mean, a.ln2_rstd, BT, C);

  if (spec.cross) {
    const size_t BS = size_t(B) * in.S;
    const float* dx = branch_grad(Role::cross_residual);
    be.linear_backward(s.d_c_b, dw.xpw, dw.xpb, dx, a.xatty, w.xpw, BT, C, C);
    be.mha_backward(s.d_xq, s.d_xkv, s.d_xkv + C, s.d_att, s.d_c_b, a.xq, a.xkv, a.xkv + C, a.xatt,
                    C, 2 * C, B, T, in.S, C, NH, false, in.memory_len,
                    drop.at(Role::cross_attention));
    be.linear_backward(s.d_mem, dw.xkvw, dw.xkvb, s.d_xkv, in.memory, w.xkvw, BS, C, 2 * C);
    be.accumulate(in.dmemory, s.d_mem, BS * C);
    be.pass_gradient(s.d_c_a, BT * C);
    be.linear_backward(s.d_c_a, dw.xqw, dw.xqb, s.d_xq, a.lnx, w.xqw, BT, C, C);
    hold_for_product(true);
    be.layernorm_backward(dres, dw.lnxw, dw.lnxb, s.d_c_a, a.res2, w.lnxw, a.lnx_mean, a.lnx_rstd,
                          BT, C);
  }

  const float* dattn = branch_grad(Role::attention_residual);
  be.pass_gradient(s.d_c_a, BT * C);
  if (spec.fused_attention()) {
    be.attention_branch_backward(s.d_c_a, dw.qkvw, dw.qkvb, dw.attpw, dw.attpb, s.d_c_b, s.d_3c,
                                 s.d_att, dattn, a.qkv, a.att, a.atty, a.ln1, w.qkvw, w.attpw, B, T,
                                 C, NH, drop.at(Role::attention));
  } else {
    be.linear_backward(s.d_c_b, dw.attpw, dw.attpb, dattn, a.atty, w.attpw, BT, C, C);
    be.mha_backward(s.d_3c, s.d_3c + C, s.d_3c + 2 * C, s.d_att, s.d_c_b, a.qkv, a.qkv + C,
                    a.qkv + 2 * C, a.att, 3 * C, 3 * C, B, T, T, C, NH, spec.causal,
                    spec.padded ? in.self_len : nullptr, drop.at(Role::attention));
    be.linear_backward(s.d_c_a, dw.qkvw, dw.qkvb, s.d_3c, a.ln1, w.qkvw, BT, C, 3 * C);
  }
  hold_for_product(product_below);
  be.layernorm_backward(dres, dw.ln1w, dw.ln1b, s.d_c_a, x, w.ln1w, a.ln1_mean, a.ln1_rstd, BT, C);
}

}  // namespace cohort
