// One pre-LayerNorm Transformer block, shared by the encoder and encoder-decoder
// families, described by a BlockSpec: self-attention (bidirectional with padded keys, or
// causal), an optional cross-attention to an encoder's output, and the GELU MLP, each
// branch
//   x = x + dropout(proj(sublayer(LN(x)))).
// Pre-LN (Xiong et al. 2020) rather than the original Transformer's post-LN: the same
// block as cohort's GPT, and it trains without a long warm-up at these depths.
// Tensor names are those add_block_tensors (model/model_layout.h) gives under the block's prefix.
#pragma once

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
  bool cross = false;   // a cross-attention to an encoder's output after self-attention
  // Throws cohort::Error naming the option this block does not compute yet.
  void check_supported() const;
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
  const int32_t* self_len = nullptr;    // (B) valid positions of this stream; null: all T
  const float* memory = nullptr;        // (B, S, C) encoder output for cross-attention
  float* dmemory = nullptr;             // (B, S, C) its gradient, ACCUMULATED (+=)
  int S = 0;                            // memory positions
  const int32_t* memory_len = nullptr;  // (B) valid memory positions
};

// A block's saved activations for (B, T) (and S for cross-attention).
struct BlockActivations {
  float *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *res2;
  float *lnx = nullptr, *lnx_mean, *lnx_rstd, *xq, *xkv, *xatt, *xatty, *resx;
  float *ln2, *ln2_mean, *ln2_rstd, *out;
  float* mlp;  // (B, T, 8C): the MLP's hidden state (Backend::mlp_forward)
  void plan(BufferPlan& plan, int B, int T, int C, int NH, const BlockSpec& spec, int S);
};

// Scratch shared by every block of a model (sized for the largest).
struct BlockScratch {
  float *branch, *d_c_a, *d_c_b, *d_3c, *d_4c, *d_att, *d_xq, *d_xkv, *d_mem;
  void plan(BufferPlan& plan, int B, int T, int C, int NH, int S);
};

// Dropout sites of a block: base + 0 attention probabilities, +1 attention residual,
// +2 cross-attention probabilities, +3 cross residual, +4 MLP residual.
constexpr uint32_t kBlockDropoutSites = 5;

struct BlockDropout {
  DropoutKey base;  // p, seed, step, sample_offset; site is base.site + k
  DropoutKey at(uint32_t k) const {
    DropoutKey d = base;
    d.site = base.site + k;
    return d;
  }
};

void block_forward(Backend& be, const BlockSpec& spec, const BlockParams& w, BlockActivations& a,
                   BlockScratch& s, const float* x, const BlockInputs& in, int C, int NH,
                   const BlockDropout& drop);
// dres holds d(out) on entry and d(x) on exit; parameter gradients accumulate into dw.
void block_backward(Backend& be, const BlockSpec& spec, const BlockParams& w, const BlockParams& dw,
                    const BlockActivations& a, BlockScratch& s, const float* x, float* dres,
                    const BlockInputs& in, int C, int NH, const BlockDropout& drop);

}  // namespace cohort
