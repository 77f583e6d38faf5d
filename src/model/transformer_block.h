// The one pre-LayerNorm Transformer block that every family stacks (model/block_stack.h):
// the GPT's causal blocks, the encoder's bidirectional ones and the decoder's with a
// cross-attention, described by a BlockSpec. Each branch is
//   x = x + dropout(proj(sublayer(LN(x)))).
// Pre-LN (Xiong et al. 2020) rather than the original Transformer's post-LN: it trains
// without a long warm-up at these depths.
//
// A block does not compute its own first LayerNorm: the op before it does, fused with
// the residual add that made its input (Backend::add_layernorm_forward), and the block
// ends the same way, with the add fused to the LayerNorm that reads its output (the next
// block's ln_1, or the stack's final norm). The backend's fast paths and caching hints
// (Backend::hold_product_input, pass_branch, pass_gradient, hold_gradient) are issued
// here, once, for every family.
// Tensor names are those add_block_tensors (model/model_layout.h) gives under the block's prefix.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "model/buffer_plan.h"
#include "model/model_layout.h"

namespace cohort {

// What a block is made of. Today's families use LayerNorm, learned positions (added to
// the embeddings before the first block, so not the block's concern), the GELU MLP and
// biases; the Llama-style family (issue 13) takes RMSNorm, rotary positions (applied to q
// and k inside attention), SwiGLU and no biases, which check_supported() refuses until
// the block computes them.
struct BlockSpec {
  enum class Norm { layernorm, rmsnorm };
  enum class Positions { learned, rotary };
  enum class Mlp { gelu, swiglu };
  Norm norm = Norm::layernorm;
  Positions positions = Positions::learned;
  Mlp mlp = Mlp::gelu;
  bool bias = true;
  bool causal = false;  // self-attention sees earlier positions only
  bool padded = false;  // self-attention's keys end at each sample's length (BlockInputs::self_len)
  // Batches differ in T (each batch's longest target). The fused attention keys its
  // dropout masks by position in a T x T grid, so a rank's half-batch, padded to its own
  // longest row, would draw other masks than the whole batch: such blocks take the general
  // attention, whose masks do not depend on T (Backend::mha_forward).
  bool variable_length = false;
  bool cross = false;  // a cross-attention to an encoder's output after self-attention
  // Throws cohort::Error naming the option this block does not compute yet.
  void check_supported() const;
  // Causal over whole rows of one length: the backend's fused projection and attention
  // pair (qkv_attention_forward, attention_branch_backward: flash attention on CUDA).
  // Otherwise the general multi-head attention (mha_forward) with its key masks.
  bool fused_attention() const { return causal && !padded && !variable_length; }
};

struct BlockParams {
  float *ln1w, *ln1b, *qkvw, *qkvb, *attpw, *attpb;
  float *lnxw = nullptr, *lnxb, *xqw, *xqb, *xkvw, *xkvb, *xpw, *xpb;  // cross-attention
  float *ln2w, *ln2b, *fcw, *fcb, *fcpw, *fcpb;
};
// The block's tensors under `prefix` ("h.0.", "dec.1.") in the flat buffer `base`.
BlockParams block_params(const ParameterLayout& layout, float* base, const std::string& prefix,
                         const BlockSpec& spec);

// What a block attends to.
struct BlockInputs {
  int B = 0, T = 0;                     // this stream's rows
  const int32_t* self_len = nullptr;    // (B) valid positions where the spec is padded
  const float* memory = nullptr;        // (B, S, C) encoder output for cross-attention
  float* dmemory = nullptr;             // (B, S, C) its gradient, ACCUMULATED (+=)
  int S = 0;                            // memory positions
  const int32_t* memory_len = nullptr;  // (B) valid memory positions
};

// A block's saved activations for (B, T) (and S for cross-attention).
struct BlockActivations {
  float *ln1, *ln1_mean, *ln1_rstd;  // ln_1 of the block's input (computed before the block)
  float* qkv;                        // (B, T, 3C)
  float* att;  // the attention's saved state: (B, NH, T, T) probabilities before dropout,
               // or on the fused path the backend's attention_state_floats
  float *atty, *res2;
  float *lnx = nullptr, *lnx_mean, *lnx_rstd, *xq, *xkv, *xatt, *xatty, *resx;
  float *ln2, *ln2_mean, *ln2_rstd;
  float* mlp;  // (B, T, 8C): the MLP's hidden state (Backend::mlp_forward)
  float* out;  // (B, T, C): the block's output, the residual stream after it
  // qkv_of: where qkv is one buffer for a whole stack (the fused attention's backward reads
  // only its own state: Backend::attention_backward_reads_state_only), the stack's first
  // block's qkv, which this one aliases; null for a buffer of its own.
  void plan(BufferPlan& plan, Backend& backend, int B, int T, int C, int NH, const BlockSpec& spec,
            int S, float** qkv_of);
};

// Scratch shared by every block of a model (sized for the largest).
struct BlockScratch {
  float *branch, *d_c_a, *d_c_b, *d_3c, *d_4c;
  float* d_att = nullptr;  // (B, NH, T, max(S, T)) where an attention's backward needs it
  float *d_xq = nullptr, *d_xkv, *d_mem;  // cross-attention (S > 0)
  // general: some block takes the general attention (not BlockSpec::fused_attention()).
  void plan(BufferPlan& plan, Backend& backend, int B, int T, int C, int NH, int S, bool general);
};

// A block's dropout sites, by role; BlockDropoutSites numbers them for a stack.
enum class BlockDropoutRole : uint32_t {
  attention,           // attention probabilities
  attention_residual,  // the attention branch's output
  cross_attention,
  cross_residual,
  mlp_residual
};
constexpr size_t kBlockDropoutRoles = 5;

// Block l's site for role r: first + per_block * l + offset[r]. Each family keeps the
// numbering its masks have always had (a run resumed across versions draws the same masks).
struct BlockDropoutSites {
  uint32_t first = 0, per_block = kBlockDropoutRoles;
  std::array<uint32_t, kBlockDropoutRoles> offset{0, 1, 2, 3, 4};
};

struct BlockDropout {
  DropoutKey key;  // p, seed, step, sample_offset; the site comes from the role
  uint32_t first_site = 0;
  std::array<uint32_t, kBlockDropoutRoles> offset{};
  BlockDropout(const DropoutKey& k, const BlockDropoutSites& sites, int layer);
  DropoutKey at(BlockDropoutRole role) const {
    DropoutKey d = key;
    d.site = first_site + offset[static_cast<uint32_t>(role)];
    return d;
  }
};

// A LayerNorm over the residual stream: its output and statistics, its parameters, and
// whether its output is read by products only (Backend::hold_product_input).
struct StreamNorm {
  float *out, *mean, *rstd;
  const float *w, *b;
  bool products_only;
};

// The block's attentions again (self, and cross where it has one) from its saved inputs,
// into a's att, atty (and xatt, xatty): the same bits as block_forward wrote (Recompute::
// attention, whose blocks share one att buffer).
void block_attention_forward(Backend& be, const BlockSpec& spec, const BlockParams& w,
                             BlockActivations& a, const BlockInputs& in, int C, int NH,
                             const BlockDropout& drop);

// The block's forward. On entry a.ln1 holds ln_1(x), a.ln1_mean and a.ln1_rstd its
// statistics. Writes a.out = the block's output and next = its LayerNorm, fused.
void block_forward(Backend& be, const BlockSpec& spec, const BlockParams& w, BlockActivations& a,
                   BlockScratch& s, const float* x, const BlockInputs& in, int C, int NH,
                   const BlockDropout& drop, const StreamNorm& next);
// dres holds d(out) on entry and d(x) on exit; parameter gradients accumulate into dw.
// product_below: the gradient left in dres is next read by a product's backward (a block
// below; not the embeddings), which a backend may prepare for (Backend::hold_gradient).
void block_backward(Backend& be, const BlockSpec& spec, const BlockParams& w, const BlockParams& dw,
                    const BlockActivations& a, BlockScratch& s, const float* x, float* dres,
                    const BlockInputs& in, int C, int NH, const BlockDropout& drop,
                    bool product_below);

}  // namespace cohort
