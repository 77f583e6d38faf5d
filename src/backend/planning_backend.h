// PlanningBackend: a backend that only counts. Its memory hands out addresses that are
// never touched and records how many bytes are live and the most that were, and its ops
// refuse to run; the layout questions a model's plan asks (how many floats an attention
// keeps, whether its backward reads qkv, the LM head pair's logits) go to the real
// backend. A model built and planned on it has made every allocation it would make, by
// its own code, without memory: what the memory planner (train/memory_plan.h) counts.
#pragma once

#include <cstddef>
#include <map>

#include "backend/backend.h"

namespace cohort {

class CountingMemory final : public MemorySpace {
 public:
  bool is_host() const override { return false; }
  void* allocate(size_t bytes) override;
  void release(void* p) noexcept override;
  void fill_zero(void*, size_t) override {}
  void copy_from_host(void*, const void*, size_t) override {}
  void copy_to_host(void*, const void*, size_t) override {}
  void copy_within(void*, const void*, size_t) override {}
  size_t live_bytes() const { return live_; }
  size_t peak_bytes() const { return peak_; }

 private:
  size_t next_ = size_t(1) << 40;  // addresses only: nothing is ever there
  size_t live_ = 0, peak_ = 0;
  std::map<const void*, size_t> sizes_;
};

class PlanningBackend final : public Backend {
 public:
  explicit PlanningBackend(Backend& real) : real_(real) {}
  const char* name() const override { return "planning"; }
  MemorySpace& memory() override { return memory_; }
  const CountingMemory& counted() const { return memory_; }

  bool attention_stores_probabilities() const override {
    return real_.attention_stores_probabilities();
  }
  size_t attention_state_floats(int B, int T, int C, int NH) const override {
    return real_.attention_state_floats(B, T, C, NH);
  }
  bool attention_backward_reads_state_only(int C, int NH) const override {
    return real_.attention_backward_reads_state_only(C, NH);
  }
  size_t lm_head_loss_floats(size_t N, int Vp) const override {
    return real_.lm_head_loss_floats(N, Vp);
  }

  COHORT_BACKEND_OPS_OVERRIDE

 private:
  Backend& real_;
  CountingMemory memory_;
};

}  // namespace cohort
