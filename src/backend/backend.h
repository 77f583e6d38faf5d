// Backend: every op the models need, each forward paired with its backward. The model
// is written once against this interface; the CPU backend (cpu/) and the CUDA backend
// (cuda/) implement it without touching the model.
//
// Conventions (one rule for every op, as llm.c states it):
// - Row-major. Dimension letters: B batch, T time, C channels, OC output channels,
//   V vocab, Vp padded vocab, NH heads, HS head size, N rows (usually B*T).
// - Linear weights are stored (in, out), Hugging Face Conv1D's layout, so the ordinary
//   out = inp . W + b holds and checkpoints map to GPT-2's tensors without transposes.
// - Backward: parameter gradients ACCUMULATE (+=) so micro-batches add up; activation
//   gradients are OVERWRITTEN (=), except where the op's comment says "+=" (the
//   residual stream and layernorm's input, which several branches feed).
// - Every op is deterministic for a fixed thread count: no reduction whose order
//   depends on scheduling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/memory_space.h"

namespace cohort {

// Identifies one dropout mask. An element's keep/drop decision is a pure function of
// (seed, step, site, global sample index, index within the sample), never of rank or
// thread, so N ranks x B/N samples draw the same masks as 1 rank x B.
struct DropoutKey {
  float p = 0.0f;  // drop probability; 0 disables dropout
  uint64_t seed = 0;
  uint32_t step = 0;           // optimizer step
  uint32_t site = 0;           // which dropout in the model (layer and place)
  uint32_t sample_offset = 0;  // global index of this batch's first sample
  bool active() const { return p > 0.0f; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Where every pointer an op receives must lie: host memory for the CPU, the GPU's
  // memory for CUDA. Models keep params, grads and activations there and move only
  // token ids in and losses or logits out.
  virtual MemorySpace& memory() = 0;

  // A model's parameters [params, params + n) hold new values, which stay until the next
  // call for them or parameters_released(params). A backend may keep a converted copy for
  // its products until then (CudaBackend in bf16 / fp16: one 16-bit copy made here, in
  // place of rounding each weight before each GEMM). Models call it as each forward
  // starts, and release their parameters when destroyed. An adamw_update_segments over
  // exactly that range may refresh the copy as it updates them (CudaBackend in bf16 /
  // fp16), so the next call for the same range need not convert them again: code that
  // writes parameters by other means first calls parameters_released (upload_params).
  virtual void parameters_updated(const float* params, size_t n) {
    (void)params;
    (void)n;
  }
  virtual void parameters_released(const float* params) { (void)params; }
  // x (n floats), an activation about to be computed or just computed, is a product's
  // input that the model will not change before its next parameters_updated() (but by
  // the op that computes it): a backend may keep the copy it converts x to for the
  // forward's product until then, for the backward's to reuse, and may have that op
  // write the copy (CudaBackend in bf16 / fp16: a 16-bit copy; its LayerNorms and
  // tensor-core attention write it).
  virtual void hold_input(const float* x, size_t n) {
    (void)x;
    (void)n;
  }
  // hold_input, and until the next parameters_updated() x is read only as a product's
  // input (linear, mlp, lm_head, qkv_attention_forward) or as attention_branch_backward's
  // out: a backend whose op writes the copy may leave x itself unwritten (CudaBackend in
  // bf16 / fp16: its LayerNorms and tensor-core attention). Default: hold_input.
  virtual void hold_product_input(const float* x, size_t n) { hold_input(x, n); }

  // g (n floats, rows of a LayerNorm's width) is the input gradient that the next op
  // writing one is about to compute, and is read once, as the dout of the
  // layernorm_backward that follows: a backend may have that op store it in its own
  // format, which that layernorm_backward then reads (CudaBackend in bf16 / fp16: 16 bits,
  // as PyTorch autocast's linears store their input gradients). Default: nothing.
  virtual void pass_gradient(const float* g, size_t n) {
    (void)g;
    (void)n;
  }

  // y (n floats, rows of a LayerNorm's width) is the output that the next linear_forward
  // or mlp_forward writing it is about to compute, and is read once, as the branch of the
  // add_layernorm_forward that follows (a residual branch without dropout): a backend may
  // have that op store it in its own format, which that add then reads (CudaBackend in
  // bf16 / fp16: 16 bits, as PyTorch autocast's linears output theirs). Default: nothing.
  virtual void pass_branch(const float* y, size_t n) {
    (void)y;
    (void)n;
  }

  // g (n floats), the dinp a layernorm_backward is about to add to, is next read as the
  // dout of a product's backward (linear_backward, mlp_backward,
  // attention_branch_backward) and changed by nothing in between: a backend may have the
  // LayerNorm's backward derive from the updated g what that product's backward would
  // (CudaBackend in bf16 / fp16: g's 16-bit copy and its column sums, the bias gradient,
  // so that backward's own pass over g goes). Default: nothing.
  virtual void hold_gradient(const float* g, size_t n) {
    (void)g;
    (void)n;
  }

  // out(N, OC) = inp(N, C) . weight(C, OC) + bias(OC); bias may be null.
  virtual void linear_forward(float* out, const float* inp, const float* weight, const float* bias,
                              int N, int C, int OC) = 0;
  // dinp = dout . weight^T; dweight += inp^T . dout; dbias += colsum(dout).
  // dinp may be null (nothing below needs it); dbias may be null.
  virtual void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* weight, int N, int C, int OC) = 0;

  // logits(N, Vp) = x(N, C) . wte(Vp, C)^T: the LM head through the tied embedding.
  virtual void lm_head_forward(float* logits, const float* x, const float* wte, int N, int C,
                               int Vp) = 0;
  // dx = dlogits . wte; dwte += dlogits^T . x.
  virtual void lm_head_backward(float* dx, float* dwte, const float* dlogits, const float* x,
                                const float* wte, int N, int C, int Vp) = 0;

  // out(B,T,C) = wte[tokens[b,t]] + wpe[t].
  virtual void embedding_forward(float* out, const int32_t* tokens, const float* wte,
                                 const float* wpe, int B, int T, int C) = 0;
  // dwte[tokens[b,t]] += dout[b,t]; dwpe[t] += dout[b,t].
  virtual void embedding_backward(float* dwte, float* dwpe, const float* dout,
                                  const int32_t* tokens, int B, int T, int C) = 0;

  // out = (inp - mean) * rstd * weight + bias over the last dim; saves mean, rstd (N).
  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                 const float* weight, const float* bias, int N, int C) = 0;
  // dinp += ...; dweight += ...; dbias += ...
  virtual void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                  const float* inp, const float* weight, const float* mean,
                                  const float* rstd, int N, int C) = 0;
  // residual = x + branch (N x C), then out = layernorm(residual): the residual stream's
  // add and the LayerNorm after it, which a backend may do in one pass (CUDA).
  virtual void add_layernorm_forward(float* residual, float* out, float* mean, float* rstd,
                                     const float* x, const float* branch, const float* weight,
                                     const float* bias, int N, int C) {
    add(residual, x, branch, size_t(N) * C);
    layernorm_forward(out, mean, rstd, residual, weight, bias, N, C);
  }

  // What the causal attention saves for its backward in `att`:
  // - true: the softmax probabilities, (B,NH,T,T) (the CPU: backward reuses them);
  // - false: the log-sum-exp of each score row, (B,NH,T) (CUDA: flash-attention style,
  //   backward recomputes the probabilities from q, k and it, so no T x T buffer exists
  //   and backward needs no scratch).
  virtual bool attention_stores_probabilities() const { return true; }
  // How many floats `att` holds: those above, and whatever more a backend keeps there
  // for the backward (CudaBackend in bf16 / fp16: the 16-bit q, k, v its forward made,
  // which its backward would otherwise make again).
  virtual size_t attention_state_floats(int B, int T, int C, int NH) const {
    (void)C;
    const size_t rows = size_t(B) * NH * T;
    return attention_stores_probabilities() ? rows * size_t(T) : rows;
  }

  // Whether, at this width and head count, the causal attention's backward never reads
  // qkv once its forward has returned (it reads q, k, v from its own state in att): a
  // model may then give every layer the same qkv buffer (CudaBackend in bf16 / fp16 at
  // head sizes 32, 64 and 128: its tensor-core route). Default: false (the backward reads qkv).
  virtual bool attention_backward_reads_state_only(int C, int NH) const {
    (void)C;
    (void)NH;
    return false;
  }

  // Causal multi-head self-attention core. qkv (B,T,3C) holds q|k|v, each head a slice
  // of HS = C/NH channels. att (attention_state_floats) receives what
  // attention_stores_probabilities() says: the softmax probabilities before dropout
  // (only t2 <= t is written), or the rows' log-sum-exp (first), with the backend's own
  // state after them. out (B,T,C) = dropout(softmax) . v, heads concatenated.
  virtual void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C,
                                 int NH, const DropoutKey& dropout) = 0;
  // The attention's input projection and the attention as one pair: qkv = inp . w_qkv +
  // b_qkv ((B,T,3C); b_qkv may be null), then attention_forward(out, att, qkv, ...). A
  // backend may keep q, k, v only in its own state inside att and leave qkv unwritten
  // (CUDA in bf16 / fp16: the GEMM writes them there in 16 bits, the attention's inputs as
  // they are); attention_backward then reads them from att. Default: the two ops.
  virtual void qkv_attention_forward(float* out, float* att, float* qkv, const float* inp,
                                     const float* w_qkv, const float* b_qkv, int B, int T, int C,
                                     int NH, const DropoutKey& dropout) {
    linear_forward(qkv, inp, w_qkv, b_qkv, B * T, C, 3 * C);
    attention_forward(out, att, qkv, B, T, C, NH, dropout);
  }
  // dqkv = ...; att and out are the forward's; scratch is (B,NH,T,T) and overwritten
  // when the backend stores probabilities, else unused (may be null).
  virtual void attention_backward(float* dqkv, float* scratch, const float* dout, const float* qkv,
                                  const float* att, const float* out, int B, int T, int C, int NH,
                                  const DropoutKey& dropout) = 0;
  // The attention branch's backward, from dy, the gradient of the output projection's
  // output (out . w_proj + b_proj), to dinp, that of qkv_attention_forward's input:
  // linear_backward of the projection into dattn (B,T,C), attention_backward into dqkv
  // (B,T,3C), linear_backward of the qkv projection (dinp written; the weight and bias
  // gradients, biases' may be null, accumulated). dattn and dqkv are work space left as
  // the backend likes (CUDA in bf16 / fp16 on the tensor-core route: dattn unused, dO in
  // its own scratch and q's, k's and v's gradients in dqkv, all in 16 bits, as the next
  // op reads them). dy may share dinp's memory: it is read before dinp is written.
  // Default: the three ops.
  virtual void attention_branch_backward(float* dinp, float* dw_qkv, float* db_qkv, float* dw_proj,
                                         float* db_proj, float* dattn, float* dqkv, float* scratch,
                                         const float* dy, const float* qkv, const float* att,
                                         const float* out, const float* inp, const float* w_qkv,
                                         const float* w_proj, int B, int T, int C, int NH,
                                         const DropoutKey& dropout) {
    linear_backward(dattn, dw_proj, db_proj, dy, out, w_proj, B * T, C, C);
    attention_backward(dqkv, scratch, dattn, qkv, att, out, B, T, C, NH, dropout);
    linear_backward(dinp, dw_qkv, db_qkv, dqkv, inp, w_qkv, B * T, C, 3 * C);
  }

  // General multi-head attention, for encoders (bidirectional, padded keys) and a
  // decoder's cross-attention. q (B, Tq, ·) has row stride ldq, k and v (B, Tk, ·) row
  // stride ldkv; head h reads columns [h*HS, (h+1)*HS) of each. causal: query t sees
  // keys t2 <= t. key_len (B) may be null; otherwise keys t2 >= key_len[b] (padding) are
  // masked out; every key_len must be >= 1. att (B, NH, Tq, Tk) receives the
  // probabilities before dropout (0 where masked); out (B, Tq, C), heads concatenated.
  virtual void mha_forward(float* out, float* att, const float* q, const float* k, const float* v,
                           int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,
                           const int32_t* key_len, const DropoutKey& dropout) = 0;
  // dq, dk, dv are OVERWRITTEN (strides ldq, ldkv; they may be slices of one packed
  // buffer); scratch (B, NH, Tq, Tk) is overwritten.
  virtual void mha_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                            const float* q, const float* k, const float* v, const float* att,
                            int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,
                            const int32_t* key_len, const DropoutKey& dropout) = 0;

  // Rows of C floats picked by index (rows in the backend's memory): gather
  // out[r] = in[rows[r]]; scatter out[rows[r]] = in[r], the rows distinct. For heads
  // that see some positions only (the masked-LM rows, the classifier's [CLS]).
  virtual void gather_rows(float* out, const float* in, const int32_t* rows, int n, int C) = 0;
  virtual void scatter_rows(float* out, const float* in, const int32_t* rows, int n, int C) = 0;

  // out = tanh(inp); backward from the output: dinp = (1 - out^2) * dout.
  virtual void tanh_forward(float* out, const float* inp, size_t n) = 0;
  virtual void tanh_backward(float* dinp, const float* out, const float* dout, size_t n) = 0;

  // GELU, tanh approximation (GPT-2's). dinp = gelu'(inp) * dout; dinp may alias dout.
  virtual void gelu_forward(float* out, const float* inp, size_t n) = 0;
  virtual void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) = 0;

  // A transformer block's MLP as one pair, so a backend may keep the hidden activations
  // in its own format between forward and backward (CUDA in bf16 / fp16: the GELU's
  // input, output and gradient in 16 bits, written by cuBLASLt's epilogues or by the
  // GELU kernels and read by the GEMMs as they are). out (N, C) = gelu(inp . w_fc + b_fc) . w_proj
  // + b_proj, hidden width H. hidden (N, 2H floats) keeps what the backward needs: by default the
  // separate ops', the pre-activation in its first N x H floats and the GELU's output after it.
  virtual void mlp_forward(float* out, float* hidden, const float* inp, const float* w_fc,
                           const float* b_fc, const float* w_proj, const float* b_proj, int N,
                           int C, int H) {
    float* pre = hidden;
    float* act = hidden + size_t(N) * H;
    linear_forward(pre, inp, w_fc, b_fc, N, C, H);
    gelu_forward(act, pre, size_t(N) * H);
    linear_forward(out, act, w_proj, b_proj, N, H, C);
  }
  // dinp (N, C) is overwritten, parameter gradients accumulate; hidden is the forward's
  // (the backward may overwrite it); dhidden (N, H floats) is scratch.
  virtual void mlp_backward(float* dinp, float* dw_fc, float* db_fc, float* dw_proj, float* db_proj,
                            const float* dout, const float* inp, float* hidden, const float* w_fc,
                            const float* w_proj, float* dhidden, int N, int C, int H) {
    const float* pre = hidden;
    const float* act = hidden + size_t(N) * H;
    linear_backward(dhidden, dw_proj, db_proj, dout, act, w_proj, N, H, C);
    gelu_backward(dhidden, pre, dhidden, size_t(N) * H);
    linear_backward(dinp, dw_fc, db_fc, dhidden, inp, w_fc, N, C, H);
  }

  // out = a + b (the residual stream); out may alias a or b.
  virtual void add(float* out, const float* a, const float* b, size_t n) = 0;
  // y += x
  virtual void accumulate(float* y, const float* x, size_t n) = 0;

  // x (B, n_per_sample) *= keep / (1 - p), in place. Backward is the same call on the
  // gradient with the same key.
  virtual void dropout(float* x, int B, size_t n_per_sample, const DropoutKey& key) = 0;

  // Softmax over the first V of Vp logits per row, cross-entropy with targets.
  // losses (N) receive -log p[target]; probs (N, Vp) the softmax (0 in the padding).
  // probs may alias logits (the softmax then replaces them: one buffer less in training).
  virtual void softmax_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                             const int32_t* targets, int N, int V, int Vp) = 0;
  // dlogits = (probs - onehot(target)) * dloss; dlogits may alias probs; padding gets 0.
  virtual void softmax_cross_entropy_backward(float* dlogits, const float* probs,
                                              const int32_t* targets, float dloss, int N, int V,
                                              int Vp) = 0;

  // Floats the pair below needs in its logits buffer for N rows of Vp: N * Vp for the
  // separate ops; fewer where the backend keeps the logits in its own narrower format
  // (CUDA in bf16 / fp16: half). A plan that only trains may size its buffer so.
  virtual size_t lm_head_loss_floats(size_t N, int Vp) const { return N * size_t(Vp); }

  // Training's LM head and loss as one pair, so a backend may keep the logits in its own
  // format between the two calls (CUDA in bf16 / fp16: 16-bit logits, and the forward
  // already leaves softmax - onehot for the backward, as llm.c's fused classifier does).
  // The defaults are the separate ops above, in place: logits (N, Vp) is the pair's
  // buffer, and after the forward its contents belong to the backend (the CPU's: the
  // softmax). losses (N) receive -log p[target]; every target lies in [0, V).
  virtual void lm_head_loss_forward(float* losses, float* logits, const float* x, const float* wte,
                                    const int32_t* targets, int N, int C, int V, int Vp) {
    lm_head_forward(logits, x, wte, N, C, Vp);
    softmax_cross_entropy_forward(losses, logits, logits, targets, N, V, Vp);
  }
  // From the forward's logits buffer (overwritten): dlogits = (softmax - onehot) * dloss,
  // dx = dlogits . wte (overwritten), dwte += dlogits^T . x.
  virtual void lm_head_loss_backward(float* dx, float* dwte, float* logits, const float* x,
                                     const float* wte, const int32_t* targets, float dloss, int N,
                                     int C, int V, int Vp) {
    softmax_cross_entropy_backward(logits, logits, targets, dloss, N, V, Vp);
    lm_head_backward(dx, dwte, logits, x, wte, N, C, Vp);
  }

  // Cross-entropy for the tasks beyond the LM: rows whose target is negative are
  // ignored (loss 0, gradient 0), and with label smoothing e the target distribution is
  // (1-e) on the target plus e/V on every class (PyTorch's label_smoothing):
  //   loss = (1-e) * (lse - z[target]) + e * (lse - mean(z[0..V))). probs may alias logits.
  virtual void masked_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                            const int32_t* targets, int N, int V, int Vp,
                                            float smoothing) = 0;
  // dlogits = (probs - target distribution) * row_scale[n]; dlogits may alias probs.
  virtual void masked_cross_entropy_backward(float* dlogits, const float* probs,
                                             const int32_t* targets, const float* row_scale, int N,
                                             int V, int Vp, float smoothing) = 0;

  // Sum of squares of x, in double, in a fixed order (independent of thread count).
  virtual double sum_squares(const float* x, size_t n) = 0;
  virtual void scale(float* x, float s, size_t n) = 0;

  // One AdamW step on n elements (PyTorch's formula). weight_decay is decoupled:
  // p -= lr * wd * p before the Adam update.
  // grad_scale multiplies each gradient as the update reads it (global-norm clipping's
  // factor): the same bits as scale() on the gradients first, without that pass over
  // them (124M floats read and written a GPT-2 step while the norm is over the limit).
  struct AdamWArgs {
    float lr, beta1, beta2, eps, weight_decay;
    float bias_correction1, bias_correction2;  // 1 - beta^t
    float grad_scale = 1.0f;
  };
  virtual void adamw_update(float* param, const float* grad, float* m, float* v, size_t n,
                            const AdamWArgs& a) = 0;
  // AdamW over [0, n) in segments (a model's tensors), each from its begin to the next
  // segment's (the last to n) with its own weight decay; a.weight_decay is ignored. One
  // call a step instead of one a tensor (CUDA: one launch). Default: adamw_update each.
  struct AdamWSegment {
    size_t begin;
    float weight_decay;
  };
  virtual void adamw_update_segments(float* param, const float* grad, float* m, float* v, size_t n,
                                     AdamWArgs a, const std::vector<AdamWSegment>& segments) {
    for (size_t i = 0; i < segments.size(); ++i) {
      const size_t begin = segments[i].begin;
      const size_t end = i + 1 < segments.size() ? segments[i + 1].begin : n;
      a.weight_decay = segments[i].weight_decay;
      adamw_update(param + begin, grad + begin, m + begin, v + begin, end - begin, a);
    }
  }
  // SGD with optional momentum (PyTorch's: buf = mu*buf + g; p -= lr*buf), g each
  // gradient times grad_scale (as AdamWArgs::grad_scale).
  virtual void sgd_update(float* param, const float* grad, float* momentum_buf, size_t n, float lr,
                          float momentum, float grad_scale) = 0;
};

// Every op of Backend declared as an override: what a backend's header writes, so the
// CPU and CUDA backends cannot drift from the interface (or from each other).
#define COHORT_BACKEND_OPS_OVERRIDE                                                                \
  void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, \
                      int C, int OC) override;                                                     \
  void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout,               \
                       const float* inp, const float* weight, int N, int C, int OC) override;      \
  void lm_head_forward(float* logits, const float* x, const float* wte, int N, int C, int Vp)      \
      override;                                                                                    \
  void lm_head_backward(float* dx, float* dwte, const float* dlogits, const float* x,              \
                        const float* wte, int N, int C, int Vp) override;                          \
  void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe,    \
                         int B, int T, int C) override;                                            \
  void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,      \
                          int B, int T, int C) override;                                           \
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,                   \
                         const float* weight, const float* bias, int N, int C) override;           \
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,            \
                          const float* inp, const float* weight, const float* mean,                \
                          const float* rstd, int N, int C) override;                               \
  void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH,    \
                         const DropoutKey& dropout) override;                                      \
  void attention_backward(float* dqkv, float* scratch, const float* dout, const float* qkv,        \
                          const float* att, const float* out, int B, int T, int C, int NH,         \
                          const DropoutKey& dropout) override;                                     \
  void mha_forward(float* out, float* att, const float* q, const float* k, const float* v,         \
                   int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,           \
                   const int32_t* key_len, const DropoutKey& dropout) override;                    \
  void mha_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,            \
                    const float* q, const float* k, const float* v, const float* att, int ldq,     \
                    int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,                   \
                    const int32_t* key_len, const DropoutKey& dropout) override;                   \
  void gather_rows(float* out, const float* in, const int32_t* rows, int n, int C) override;       \
  void scatter_rows(float* out, const float* in, const int32_t* rows, int n, int C) override;      \
  void tanh_forward(float* out, const float* inp, size_t n) override;                              \
  void tanh_backward(float* dinp, const float* out, const float* dout, size_t n) override;         \
  void gelu_forward(float* out, const float* inp, size_t n) override;                              \
  void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) override;         \
  void add(float* out, const float* a, const float* b, size_t n) override;                         \
  void accumulate(float* y, const float* x, size_t n) override;                                    \
  void dropout(float* x, int B, size_t n_per_sample, const DropoutKey& key) override;              \
  void softmax_cross_entropy_forward(float* losses, float* probs, const float* logits,             \
                                     const int32_t* targets, int N, int V, int Vp) override;       \
  void softmax_cross_entropy_backward(float* dlogits, const float* probs, const int32_t* targets,  \
                                      float dloss, int N, int V, int Vp) override;                 \
  void masked_cross_entropy_forward(float* losses, float* probs, const float* logits,              \
                                    const int32_t* targets, int N, int V, int Vp, float smoothing) \
      override;                                                                                    \
  void masked_cross_entropy_backward(float* dlogits, const float* probs, const int32_t* targets,   \
                                     const float* row_scale, int N, int V, int Vp,                 \
                                     float smoothing) override;                                    \
  double sum_squares(const float* x, size_t n) override;                                           \
  void scale(float* x, float s, size_t n) override;                                                \
  void adamw_update(float* param, const float* grad, float* m, float* v, size_t n,                 \
                    const AdamWArgs& a) override;                                                  \
  void sgd_update(float* param, const float* grad, float* momentum_buf, size_t n, float lr,        \
                  float momentum, float grad_scale) override;

}  // namespace cohort
