#include "support/guarded_backend.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>

#include "core/error.h"
#include "support/flash_attention_reference.h"

namespace cohort::testing {
namespace {
size_t page_round(size_t bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return ((bytes == 0 ? 1 : bytes) + page - 1) / page * page;
}
}  // namespace

GuardedMemory::~GuardedMemory() {
  for (const auto& [p, n] : regions_) munmap(const_cast<char*>(p), n);
}

void* GuardedMemory::allocate(size_t bytes) {
  const size_t n = page_round(bytes);
  // Anonymous mappings are zero-filled.
  void* p = mmap(nullptr, n, open_depth_ > 0 ? PROT_READ | PROT_WRITE : PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  regions_[static_cast<const char*>(p)] = n;
  return p;
}

void GuardedMemory::release(void* p) noexcept {
  const auto it = regions_.find(static_cast<const char*>(p));
  if (it == regions_.end()) return;
  munmap(p, it->second);
  regions_.erase(it);
}

bool GuardedMemory::inside(const void* p, size_t bytes) const {
  const char* c = static_cast<const char*>(p);
  auto it = regions_.upper_bound(c);
  if (it == regions_.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}

void GuardedMemory::require_inside(const void* p, size_t bytes, const std::string& what) const {
  if (inside(p, bytes)) return;
  throw Error(
      fmt::format("{}: pointer {} is not in the backend's memory (a host pointer where "
                  "a GPU needs device memory)",
                  what, p));
}

void GuardedMemory::protect_all(int prot) {
  for (const auto& [p, n] : regions_) {
    if (mprotect(const_cast<char*>(p), n, prot) != 0) throw Error("mprotect failed");
  }
}

GuardedMemory::Open::Open(GuardedMemory& m) : m_(m) {
  if (m_.open_depth_++ == 0) m_.protect_all(PROT_READ | PROT_WRITE);
}

GuardedMemory::Open::~Open() {
  if (--m_.open_depth_ == 0) m_.protect_all(PROT_NONE);
}

void GuardedMemory::fill_zero(void* dst, size_t bytes) {
  require_inside(dst, bytes, "fill_zero");
  Open open(*this);
  std::memset(dst, 0, bytes);
}

void GuardedMemory::copy_from_host(void* dst, const void* src, size_t bytes) {
  require_inside(dst, bytes, "copy_from_host (destination)");
  Open open(*this);
  std::memcpy(dst, src, bytes);
}

void GuardedMemory::copy_to_host(void* dst, const void* src, size_t bytes) {
  require_inside(src, bytes, "copy_to_host (source)");
  Open open(*this);
  std::memcpy(dst, src, bytes);
}

void GuardedMemory::copy_within(void* dst, const void* src, size_t bytes) {
  require_inside(dst, bytes, "copy_within (destination)");
  require_inside(src, bytes, "copy_within (source)");
  Open open(*this);
  std::memcpy(dst, src, bytes);
}

GuardedMemory& GuardedBackend::checked(GuardedBackend& be, const char* op,
                                       std::initializer_list<const void*> ptrs) {
  int i = 0;
  for (const void* p : ptrs) {
    // The message is made only for a pointer that fails (ops run often in tests).
    if (p != nullptr && !be.memory_.inside(p, 1))
      be.memory_.require_inside(p, 1, fmt::format("{} argument {}", op, i));
    ++i;
  }
  return be.memory_;
}

GuardedBackend::Call::Call(GuardedBackend& be, const char* op,
                           std::initializer_list<const void*> ptrs)
    : open_(checked(be, op, ptrs)) {}

void GuardedBackend::linear_forward(float* out, const float* inp, const float* weight,
                                    const float* bias, int N, int C, int OC) {
  Call c(*this, "linear_forward", {out, inp, weight, bias});
  cpu_.linear_forward(out, inp, weight, bias, N, C, OC);
}

void GuardedBackend::linear_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                     const float* inp, const float* weight, int N, int C, int OC) {
  Call c(*this, "linear_backward", {dinp, dweight, dbias, dout, inp, weight});
  cpu_.linear_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

void GuardedBackend::lm_head_forward(float* logits, const float* x, const float* wte, int N, int C,
                                     int Vp) {
  Call c(*this, "lm_head_forward", {logits, x, wte});
  cpu_.lm_head_forward(logits, x, wte, N, C, Vp);
}

void GuardedBackend::lm_head_backward(float* dx, float* dwte, const float* dlogits, const float* x,
                                      const float* wte, int N, int C, int Vp) {
  Call c(*this, "lm_head_backward", {dx, dwte, dlogits, x, wte});
  cpu_.lm_head_backward(dx, dwte, dlogits, x, wte, N, C, Vp);
}

void GuardedBackend::embedding_forward(float* out, const int32_t* tokens, const float* wte,
                                       const float* wpe, int B, int T, int C) {
  Call c(*this, "embedding_forward", {out, tokens, wte, wpe});
  cpu_.embedding_forward(out, tokens, wte, wpe, B, T, C);
}

void GuardedBackend::embedding_backward(float* dwte, float* dwpe, const float* dout,
                                        const int32_t* tokens, int B, int T, int C) {
  Call c(*this, "embedding_backward", {dwte, dwpe, dout, tokens});
  cpu_.embedding_backward(dwte, dwpe, dout, tokens, B, T, C);
}

void GuardedBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                       const float* weight, const float* bias, int N, int C) {
  Call c(*this, "layernorm_forward", {out, mean, rstd, inp, weight, bias});
  cpu_.layernorm_forward(out, mean, rstd, inp, weight, bias, N, C);
}

void GuardedBackend::layernorm_backward(float* dinp, float* dweight, float* dbias,
                                        const float* dout, const float* inp, const float* weight,
                                        const float* mean, const float* rstd, int N, int C) {
  Call c(*this, "layernorm_backward", {dinp, dweight, dbias, dout, inp, weight, mean, rstd});
  cpu_.layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}

void GuardedBackend::attention_forward(float* out, float* att, const float* qkv, int B, int T,
                                       int C, int NH, const DropoutKey& dropout) {
  Call c(*this, "attention_forward", {out, att, qkv});
  if (flash_) {
    flash_attention_forward(out, att, qkv, B, T, C, NH, dropout);
  } else {
    cpu_.attention_forward(out, att, qkv, B, T, C, NH, dropout);
  }
}

void GuardedBackend::attention_backward(float* dqkv, float* scratch, const float* dout,
                                        const float* qkv, const float* att, const float* out, int B,
                                        int T, int C, int NH, const DropoutKey& dropout) {
  Call c(*this, "attention_backward", {dqkv, scratch, dout, qkv, att, out});
  if (flash_) {
    flash_attention_backward(dqkv, dout, qkv, att, out, B, T, C, NH, dropout);
  } else {
    cpu_.attention_backward(dqkv, scratch, dout, qkv, att, out, B, T, C, NH, dropout);
  }
}

void GuardedBackend::mha_forward(float* out, float* att, const float* q, const float* k,
                                 const float* v, int ldq, int ldkv, int B, int Tq, int Tk, int C,
                                 int NH, bool causal, const int32_t* key_len,
                                 const DropoutKey& dropout) {
  Call c(*this, "mha_forward", {out, att, q, k, v, key_len});
  cpu_.mha_forward(out, att, q, k, v, ldq, ldkv, B, Tq, Tk, C, NH, causal, key_len, dropout);
}

void GuardedBackend::mha_backward(float* dq, float* dk, float* dv, float* scratch,
                                  const float* dout, const float* q, const float* k, const float* v,
                                  const float* att, int ldq, int ldkv, int B, int Tq, int Tk, int C,
                                  int NH, bool causal, const int32_t* key_len,
                                  const DropoutKey& dropout) {
  Call c(*this, "mha_backward", {dq, dk, dv, scratch, dout, q, k, v, att, key_len});
  cpu_.mha_backward(dq, dk, dv, scratch, dout, q, k, v, att, ldq, ldkv, B, Tq, Tk, C, NH, causal,
                    key_len, dropout);
}

void GuardedBackend::gather_rows(float* out, const float* in, const int32_t* rows, int n, int C) {
  Call c(*this, "gather_rows", {out, in, rows});
  cpu_.gather_rows(out, in, rows, n, C);
}

void GuardedBackend::scatter_rows(float* out, const float* in, const int32_t* rows, int n, int C) {
  Call c(*this, "scatter_rows", {out, in, rows});
  cpu_.scatter_rows(out, in, rows, n, C);
}

void GuardedBackend::tanh_forward(float* out, const float* inp, size_t n) {
  Call c(*this, "tanh_forward", {out, inp});
  cpu_.tanh_forward(out, inp, n);
}

void GuardedBackend::tanh_backward(float* dinp, const float* out, const float* dout, size_t n) {
  Call c(*this, "tanh_backward", {dinp, out, dout});
  cpu_.tanh_backward(dinp, out, dout, n);
}

void GuardedBackend::gelu_forward(float* out, const float* inp, size_t n) {
  Call c(*this, "gelu_forward", {out, inp});
  cpu_.gelu_forward(out, inp, n);
}

void GuardedBackend::gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) {
  Call c(*this, "gelu_backward", {dinp, inp, dout});
  cpu_.gelu_backward(dinp, inp, dout, n);
}

void GuardedBackend::add(float* out, const float* a, const float* b, size_t n) {
  Call c(*this, "add", {out, a, b});
  cpu_.add(out, a, b, n);
}

void GuardedBackend::accumulate(float* y, const float* x, size_t n) {
  Call c(*this, "accumulate", {y, x});
  cpu_.accumulate(y, x, n);
}

void GuardedBackend::dropout(float* x, int B, size_t n_per_sample, const DropoutKey& key) {
  Call c(*this, "dropout", {x});
  cpu_.dropout(x, B, n_per_sample, key);
}

void GuardedBackend::softmax_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                                   const int32_t* targets, int N, int V, int Vp) {
  Call c(*this, "softmax_cross_entropy_forward", {losses, probs, logits, targets});
  cpu_.softmax_cross_entropy_forward(losses, probs, logits, targets, N, V, Vp);
}

void GuardedBackend::softmax_cross_entropy_backward(float* dlogits, const float* probs,
                                                    const int32_t* targets, float dloss, int N,
                                                    int V, int Vp) {
  Call c(*this, "softmax_cross_entropy_backward", {dlogits, probs, targets});
  cpu_.softmax_cross_entropy_backward(dlogits, probs, targets, dloss, N, V, Vp);
}

void GuardedBackend::masked_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                                  const int32_t* targets, int N, int V, int Vp,
                                                  float smoothing) {
  Call c(*this, "masked_cross_entropy_forward", {losses, probs, logits, targets});
  cpu_.masked_cross_entropy_forward(losses, probs, logits, targets, N, V, Vp, smoothing);
}

void GuardedBackend::masked_cross_entropy_backward(float* dlogits, const float* probs,
                                                   const int32_t* targets, const float* row_scale,
                                                   int N, int V, int Vp, float smoothing) {
  Call c(*this, "masked_cross_entropy_backward", {dlogits, probs, targets, row_scale});
  cpu_.masked_cross_entropy_backward(dlogits, probs, targets, row_scale, N, V, Vp, smoothing);
}

double GuardedBackend::sum_squares(const float* x, size_t n) {
  Call c(*this, "sum_squares", {x});
  return cpu_.sum_squares(x, n);
}

void GuardedBackend::scale(float* x, float s, size_t n) {
  Call c(*this, "scale", {x});
  cpu_.scale(x, s, n);
}

void GuardedBackend::adamw_update(float* param, const float* grad, float* m, float* v, size_t n,
                                  const AdamWArgs& a) {
  Call c(*this, "adamw_update", {param, grad, m, v});
  cpu_.adamw_update(param, grad, m, v, n, a);
}

void GuardedBackend::sgd_update(float* param, const float* grad, float* momentum_buf, size_t n,
                                float lr, float momentum, float grad_scale) {
  Call c(*this, "sgd_update", {param, grad, momentum_buf});
  cpu_.sgd_update(param, grad, momentum_buf, n, lr, momentum, grad_scale);
}

}  // namespace cohort::testing
