// LayerNorm on the GPU: the kernels and why they are shaped so are in cuda_layernorm.cuh.
#include <set>
#include <type_traits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_layernorm.cuh"

namespace cohort {

namespace ln = cuda::layernorm;

namespace {

// Calls launch(k, copy) with k the row layout for C (ln::with_lane_slots) and copy the
// held 16-bit copy to write, typed, or a null void* where there is none: a held output
// (Backend::hold_input: ln_1, ln_2, ln_f) gets its copy from the kernel that computes it,
// not from a rounding pass over it before its first GEMM.
template <typename F>
void with_layout_and_copy(int C, void* out16, bool bf16, F&& launch) {
  ln::with_lane_slots(C, [&](auto k) {
    if (!out16) {
      launch(k, static_cast<void*>(nullptr));
      return;
    }
    cuda::with_16_bit_type(bf16, [&](auto tag) { launch(k, static_cast<decltype(tag)*>(out16)); });
  });
}

// ln_backward's shared memory goes over the 48 KB a kernel gets without asking (64 KB at
// C = 1024, 96 KB with the held gradient's sums): asked once per kernel (several share a
// signature, so they are told apart by address), for the widest row.
template <typename Kernel>
void allow_backward_shared(Kernel kernel, bool next) {
  static std::set<const void*> allowed;
  if (!allowed.insert(reinterpret_cast<const void*>(kernel)).second) return;
  cuda::allow_dynamic_shared(kernel, ln::backward_shared_bytes(ln::kRegisterRowMax, next));
}

}  // namespace

// out itself is left unwritten where it is held for products only (hold_product_input):
// they read the copy.
void CudaBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                    const float* weight, const float* bias, int N, int C) {
  bool copy_only = false;
  void* copy16 = copies_.held_copy_to_write(out, size_t(N) * C, &copy_only);
  float* y = copy_only ? nullptr : out;
  with_layout_and_copy(C, copy16, precision_ == MatmulPrecision::bf16, [&](auto k, auto* copy) {
    ln::ln_forward<decltype(k)::value>
        <<<cuda::blocks_for(N, 8), 256>>>(y, copy, mean, rstd, inp, weight, bias, N, C);
  });
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::add_layernorm_forward(float* residual, float* out, float* mean, float* rstd,
                                        const float* x, const float* branch, const float* weight,
                                        const float* bias, int N, int C) {
  bool copy_only = false;
  void* copy16 = copies_.held_copy_to_write(out, size_t(N) * C, &copy_only);
  float* y = copy_only ? nullptr : out;
  // branch in 16 bits where its linear layer stored it so (pass_branch)
  const void* branch16 = copies_.passed_to_read(branch, size_t(N) * C);
  const bool bf16 = precision_ == MatmulPrecision::bf16;
  with_layout_and_copy(C, copy16, bf16, [&](auto k, auto* copy) {
    constexpr int K = decltype(k)::value;
    using Copy = std::remove_pointer_t<decltype(copy)>;
    if (!branch16) {
      ln::add_ln_forward<K, Copy><<<cuda::blocks_for(N, 8), 256>>>(residual, y, copy, mean, rstd, x,
                                                                   branch, weight, bias, N, C);
      return;
    }
    auto launch = [&](auto tag) {  // the branch's 16-bit type is the precision's, as the copy's
      using E = decltype(tag);
      ln::add_ln_forward<K, Copy, E><<<cuda::blocks_for(N, 8), 256>>>(
          residual, y, copy, mean, rstd, x, static_cast<const E*>(branch16), weight, bias, N, C);
    };
    if constexpr (std::is_void_v<Copy>)
      cuda::with_16_bit_type(bf16, launch);
    else
      launch(Copy{});
  });
  COHORT_CUDA_LAUNCHED();
}

bool CudaBackend::layernorm_reads_16_bit_rows(int C) { return C <= ln::kRegisterRowMax; }

void CudaBackend::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                     const float* inp, const float* weight, const float* mean,
                                     const float* rstd, int N, int C) {
  int groups = 0;
  float *pw = nullptr, *pb = nullptr;
  // What an earlier LayerNorm backward derived from dinp goes stale now; a hold is for the
  // first LayerNorm backward that updates it (this one), whichever route it takes.
  cuda::HalfCopies::HeldGradient& held_gradient = copies_.held_gradient();
  if (held_gradient.ready == dinp) held_gradient.ready = nullptr;
  // next: dinp held (hold_gradient): this backward writes its 16-bit copy and column sums
  // too, for the next product (rows held in registers)
  const bool next = held_gradient.held == dinp && held_gradient.n == size_t(N) * C;
  if (held_gradient.held == dinp) held_gradient.held = nullptr;
  // dout in 16 bits where the product before stored it so (pass_gradient; rows <= 1024)
  const void* dout16 = copies_.passed_to_read(dout, size_t(N) * C);
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    if constexpr (K > 0) {
      groups = ln::backward_blocks(N);
      pw = column_partials(2 * size_t(groups) * C);
      pb = pw + size_t(groups) * C;
      const dim3 grid{unsigned(groups)}, block{32 * ln::kBackwardWarps};
      cuda::HalfCopies::HeldGradient& held = held_gradient;
      if (next) {
        if (held.copy.bytes() < held.n * 2) held.copy = cuda::DeviceBuffer(held.n * 2);
        if (held.partials.bytes() < size_t(groups) * C * sizeof(float))
          held.partials = cuda::DeviceBuffer(size_t(groups) * C * sizeof(float));
        held.groups = groups;
        held.ready = dinp;
      }
      cuda::with_16_bit_type(precision_ == MatmulPrecision::bf16, [&](auto tag) {
        using E = decltype(tag);
        auto launch = [&](const auto* dy) {
          using T = std::remove_cv_t<std::remove_pointer_t<decltype(dy)>>;
          const size_t shared = ln::backward_shared_bytes(C, next);
          if (next) {
            allow_backward_shared(ln::ln_backward<K, T, E>, true);
            ln::ln_backward<K, T, E><<<grid, block, shared>>>(dinp, pw, pb, dy, inp, weight, mean,
                                                              rstd, N, C, held.copy.as<E>(),
                                                              held.partials.as<float>());
          } else {
            allow_backward_shared(ln::ln_backward<K, T>, false);
            ln::ln_backward<K, T>
                <<<grid, block, shared>>>(dinp, pw, pb, dy, inp, weight, mean, rstd, N, C);
          }
        };
        if (dout16)
          launch(static_cast<const E*>(dout16));
        else
          launch(dout);
      });
      COHORT_CUDA_LAUNCHED();
    } else {
      ln::ln_backward_input<K>
          <<<cuda::blocks_for(N, 8), 256>>>(dinp, dout, inp, weight, mean, rstd, N, C);
      COHORT_CUDA_LAUNCHED();
      const cuda::ColumnSplit split(N, C);
      groups = split.groups;
      pw = column_partials(2 * size_t(groups) * C);
      pb = pw + size_t(groups) * C;
      ln::ln_backward_params<<<split.grid(C), split.block()>>>(pw, pb, dout, inp, mean, rstd, N, C,
                                                               split.rows);
      COHORT_CUDA_LAUNCHED();
    }
  });
  cuda::add_group_sums<<<cuda::group_sums_grid(C), cuda::group_sums_block()>>>(dweight, pw, groups,
                                                                               C);
  COHORT_CUDA_LAUNCHED();
  cuda::add_group_sums<<<cuda::group_sums_grid(C), cuda::group_sums_block()>>>(dbias, pb, groups,
                                                                               C);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace cohort
