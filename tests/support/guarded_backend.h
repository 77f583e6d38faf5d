// GuardedBackend: the CPU backend behind a GPU's rules, so that the CPU tests catch what
// would break only on a GPU (where no session of ours has had one to try):
// - its memory (GuardedMemory) is mmap'd and kept PROT_NONE except inside an op or a
//   copy, so host code that reads or writes a model's buffers directly crashes, as it
//   would with device pointers;
// - every pointer an op receives must lie in that memory, so a model that hands an op a
//   host vector (token ids, lengths) fails with the op's name, as it would on a GPU.
// Results are the CPU backend's, bit for bit; or, with flash_attention, the causal
// attention is the CUDA backend's flash algorithm (flash_attention_reference.h) and
// saves log-sum-exps instead of probabilities, as CUDA does.
#pragma once

#include <initializer_list>
#include <map>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"

namespace cohort::testing {

class GuardedMemory final : public MemorySpace {
 public:
  ~GuardedMemory() override;
  bool is_host() const override { return false; }
  void* allocate(size_t bytes) override;
  void release(void* p) noexcept override;
  void fill_zero(void* dst, size_t bytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_within(void* dst, const void* src, size_t bytes) override;

  // Whether [p, p + bytes) lies in one allocation; require_inside throws cohort::Error
  // naming `what` unless it does.
  bool inside(const void* p, size_t bytes) const;
  void require_inside(const void* p, size_t bytes, const std::string& what) const;
  // While an Open lives the memory is readable and writable (nests).
  class Open {
   public:
    explicit Open(GuardedMemory& m);
    ~Open();
    Open(const Open&) = delete;
    Open& operator=(const Open&) = delete;

   private:
    GuardedMemory& m_;
  };

 private:
  void protect_all(int prot);
  std::map<const char*, size_t> regions_;  // start -> mapped bytes
  int open_depth_ = 0;
};

class GuardedBackend final : public Backend {
 public:
  // device_layouts: claims what CUDA's 16-bit precisions tell a model's plan (an
  // attention backward that reads only its state, an LM head pair in half the logits),
  // for testing plans; its ops are the CPU's, so a backward on such a plan is not valid.
  explicit GuardedBackend(bool flash_attention = false, bool device_layouts = false)
      : flash_(flash_attention), device_layouts_(device_layouts) {}
  const char* name() const override { return "guarded-cpu"; }
  bool attention_stores_probabilities() const override { return !flash_; }
  bool attention_backward_reads_state_only(int, int) const override { return device_layouts_; }
  size_t lm_head_loss_floats(size_t N, int Vp) const override {
    return device_layouts_ ? (N * size_t(Vp) + 1) / 2 : N * size_t(Vp);
  }
  MemorySpace& memory() override { return memory_; }

  COHORT_BACKEND_OPS_OVERRIDE

 private:
  // Checks that every non-null pointer lies in memory_, then opens it for the op.
  class Call {
   public:
    Call(GuardedBackend& be, const char* op, std::initializer_list<const void*> ptrs);

   private:
    GuardedMemory::Open open_;
  };
  static GuardedMemory& checked(GuardedBackend& be, const char* op,
                                std::initializer_list<const void*> ptrs);
  bool flash_;
  bool device_layouts_;
  CpuBackend cpu_;
  GuardedMemory memory_;
};

}  // namespace cohort::testing
