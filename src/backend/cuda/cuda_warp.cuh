// The warp-level PTX the tensor-core kernels use, one function each: ldmatrix,
// mma.sync.m16n8k16 (bf16 / fp16 in, fp32 accumulators) and cp.async; and the 16-byte
// global load whose alignment the emulation checks. Their register
// layouts are the PTX ISA's ("Warp-level matrix load instruction: ldmatrix", "Matrix
// fragments for mma.m16n8k16", "cp.async").
//
// Built with COHORT_WARP_EMULATION (tests only), the same names come from
// tests/support/warp_emulator.h, which runs a kernel on the CPU with a fiber per CUDA
// thread and these instructions emulated from the same layouts: the kernels' index
// arithmetic is then tested without a GPU (tests/backend/tc_attention_emulated_test.cc).
// The test build includes the emulator ahead of every file (-include): production code
// names nothing under tests/.
#pragma once

#include <cstdint>

#ifndef COHORT_WARP_EMULATION
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

// The kernel's dynamic shared memory, 128-byte aligned.
#define COHORT_DYNAMIC_SHARED(name) extern __shared__ __align__(128) unsigned char name[]

namespace cohort::cuda {

__device__ inline uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8 x 8 matrices of 16-bit values from shared memory: lane 8i + r gives the address
// of row r of matrix i (16-byte aligned); r[i] receives, in lane 4 row + c, the elements
// (row, 2c) and (row, 2c + 1) of matrix i, or with _trans its elements (2c, row) and
// (2c + 1, row).
__device__ inline void ldsm_x4(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
}
__device__ inline void ldsm_x4_trans(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
}

// D (16 x 8, fp32) += A (16 x 16, row-major) . B (16 x 8, column-major), E = bf16 or fp16.
// With g = lane / 4, q = lane % 4: a[0..3] hold A's (g, 2q..), (g + 8, 2q..), (g, 2q + 8..),
// (g + 8, 2q + 8..); b0, b1 hold B's (2q.., g), (2q + 8.., g); d holds (g, 2q), (g, 2q + 1),
// (g + 8, 2q), (g + 8, 2q + 1).
template <typename E>
__device__ inline void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<E, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Asynchronous global -> shared copies of 16 (or 4) bytes; valid false writes zeros and
// reads nothing. A thread's copies since its last commit form a group; wait<N> returns
// when at most N of its groups are still in flight. Other threads see the data only
// after a __syncthreads() that follows the wait.
__device__ inline void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)),
               "l"(src), "r"(valid ? 16 : 0)
               : "memory");
}
__device__ inline void cp_async4(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared_address(dst)),
               "l"(src), "r"(valid ? 4 : 0)
               : "memory");
}
// A 16-byte load of four floats: p must be 16-byte aligned, or the GPU faults (the
// emulation checks it).
__device__ inline float4 load_float4(const float* p) { return *reinterpret_cast<const float4*>(p); }

__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ inline void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

}  // namespace cohort::cuda
#endif
