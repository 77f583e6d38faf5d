#include "backend/planning_backend.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace cohort {

void* CountingMemory::allocate(size_t bytes) {
  void* p = reinterpret_cast<void*>(next_);
  next_ += (bytes + 255) / 256 * 256 + 256;  // 256-aligned, never two at one address
  sizes_[p] = bytes;
  live_ += bytes;
  peak_ = std::max(peak_, live_);
  return p;
}

void CountingMemory::release(void* p) noexcept {
  const auto it = sizes_.find(p);
  if (it == sizes_.end()) return;
  live_ -= it->second;
  sizes_.erase(it);
}

namespace {
[[noreturn]] void refuse(const char* op) {
  throw Error(fmt::format("the planning backend runs no ops ({})", op), kExitInternal);
}
}  // namespace

// Every op refuses: a plan allocates, it never computes.
void PlanningBackend::linear_forward(float*, const float*, const float*, const float*, int, int,
                                     int) {
  refuse("linear_forward");
}
void PlanningBackend::linear_backward(float*, float*, float*, const float*, const float*,
                                      const float*, int, int, int) {
  refuse("linear_backward");
}
void PlanningBackend::lm_head_forward(float*, const float*, const float*, int, int, int) {
  refuse("lm_head_forward");
}
void PlanningBackend::lm_head_backward(float*, float*, const float*, const float*, const float*,
                                       int, int, int) {
  refuse("lm_head_backward");
}
void PlanningBackend::embedding_forward(float*, const int32_t*, const float*, const float*, int,
                                        int, int) {
  refuse("embedding_forward");
}
void PlanningBackend::embedding_backward(float*, float*, const float*, const int32_t*, int, int,
                                         int) {
  refuse("embedding_backward");
}
void PlanningBackend::layernorm_forward(float*, float*, float*, const float*, const float*,
                                        const float*, int, int) {
  refuse("layernorm_forward");
}
void PlanningBackend::layernorm_backward(float*, float*, float*, const float*, const float*,
                                         const float*, const float*, const float*, int, int) {
  refuse("layernorm_backward");
}
void PlanningBackend::attention_forward(float*, float*, const float*, int, int, int, int,
                                        const DropoutKey&) {
  refuse("attention_forward");
}
void PlanningBackend::attention_backward(float*, float*, const float*, const float*, const float*,
                                         const float*, int, int, int, int, const DropoutKey&) {
  refuse("attention_backward");
}
void PlanningBackend::mha_forward(float*, float*, const float*, const float*, const float*, int,
                                  int, int, int, int, int, int, bool, const int32_t*,
                                  const DropoutKey&) {
  refuse("mha_forward");
}
void PlanningBackend::mha_backward(float*, float*, float*, float*, const float*, const float*,
                                   const float*, const float*, const float*, int, int, int, int,
                                   int, int, int, bool, const int32_t*, const DropoutKey&) {
  refuse("mha_backward");
}
void PlanningBackend::gather_rows(float*, const float*, const int32_t*, int, int) {
  refuse("gather_rows");
}
void PlanningBackend::scatter_rows(float*, const float*, const int32_t*, int, int) {
  refuse("scatter_rows");
}
void PlanningBackend::tanh_forward(float*, const float*, size_t) { refuse("tanh_forward"); }
void PlanningBackend::tanh_backward(float*, const float*, const float*, size_t) {
  refuse("tanh_backward");
}
void PlanningBackend::gelu_forward(float*, const float*, size_t) { refuse("gelu_forward"); }
void PlanningBackend::gelu_backward(float*, const float*, const float*, size_t) {
  refuse("gelu_backward");
}
void PlanningBackend::add(float*, const float*, const float*, size_t) { refuse("add"); }
void PlanningBackend::accumulate(float*, const float*, size_t) { refuse("accumulate"); }
void PlanningBackend::dropout(float*, int, size_t, const DropoutKey&) { refuse("dropout"); }
void PlanningBackend::softmax_cross_entropy_forward(float*, float*, const float*, const int32_t*,
                                                    int, int, int) {
  refuse("softmax_cross_entropy_forward");
}
void PlanningBackend::softmax_cross_entropy_backward(float*, const float*, const int32_t*, float,
                                                     int, int, int) {
  refuse("softmax_cross_entropy_backward");
}
void PlanningBackend::masked_cross_entropy_forward(float*, float*, const float*, const int32_t*,
                                                   int, int, int, float) {
  refuse("masked_cross_entropy_forward");
}
void PlanningBackend::masked_cross_entropy_backward(float*, const float*, const int32_t*,
                                                    const float*, int, int, int, float) {
  refuse("masked_cross_entropy_backward");
}
double PlanningBackend::sum_squares(const float*, size_t) { refuse("sum_squares"); }
void PlanningBackend::scale(float*, float, size_t) { refuse("scale"); }
void PlanningBackend::adamw_update(float*, const float*, float*, float*, size_t, const AdamWArgs&) {
  refuse("adamw_update");
}
void PlanningBackend::sgd_update(float*, const float*, float*, size_t, float, float, float) {
  refuse("sgd_update");
}

}  // namespace cohort
