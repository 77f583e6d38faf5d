// The fused LM-head loss kernel (cuda_lm_head_loss.cu launches it; what it computes and
// why: there). tests/backend/lm_head_loss_emulated_test.cc runs it on the CPU.
#pragma once

#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_reduce.cuh"
#include "backend/cuda/cuda_warp.cuh"

namespace cohort::cuda::lm_loss {

constexpr unsigned kThreads = 512;
constexpr int kPack = 8;  // 16-bit values per 16-byte load

template <typename E>
using Pack8 = Pack<E, kPack>;  // one 16-byte load

template <typename E>
constexpr float kStoreScale = std::is_same_v<E, __half> ? 1024.0f : 1.0f;

// The exponentials run in base 2, each one ex2 of fma(z, log2(e), -max * log2(e)), as the
// attention's softmax does: expf is nine instructions, exp2f one, and with two
// exponentials a logit (823M logits a GPT-2 124M step at B=16, T=1024) the arithmetic, not
// the 3.3 GB the kernel moves, bounded it (1.48 ms a step on an H200 against about 0.8
// for its bytes alone).
constexpr float kLog2e = 1.4426950408889634f;

// Packs a thread keeps in registers between the passes: rows up to
// kCachedPacks * kThreads * kPack = 53248 logits (GPT-2's 50304: 13 packs a thread) are
// read from memory once instead of twice (the second read missed L2: 4.83 GB of DRAM
// traffic for one GPT-2 step's 1.65 GB of logits, by ncu on an H200). 13 keeps ptxas
// (sm_90) at 102 registers for fp16 and 128 with a 10-byte spill for bf16; 16 spilled
// 62 bytes.
constexpr int kCachedPacks = 13;

// Where a block keeps its row between the passes (the kernel's kCache):
// - kReread: nowhere, pass 2 reads it again (rows too long for the other two);
// - kRegisters: kCachedPacks packs a thread (128 registers at 512 threads: one block a
//   multiprocessor, whose barriers and exponentials then leave the memory idle);
// - kShared: dynamic shared memory, Vp * 2 bytes (100.6 KB for GPT-2), and few enough
//   registers for two blocks a multiprocessor, one loading while the other computes.
// The three give the same bits: each thread takes the same packs in the same order.
constexpr int kReread = 0, kRegisters = 1, kShared = 2;

// Which launch a row width takes.
inline bool row_fits_registers(int Vp) { return Vp <= kCachedPacks * int(kThreads) * kPack; }
// Two blocks a multiprocessor within sm_90's 228 KB of shared memory (each also takes 2 KB of
// scratch and 1 KB the system keeps).
constexpr size_t kSharedRowBytesMax = 110 * 1024;
inline size_t shared_row_bytes(int Vp) { return size_t(Vp) * sizeof(uint16_t); }
inline bool row_fits_shared(int Vp) { return shared_row_bytes(Vp) <= kSharedRowBytesMax; }

// One row of Vp 16-bit logits per block (Vp a multiple of 8, rows 16-byte aligned).
// Pass 1: each thread's max and sum of exponentials over its packs (the online softmax),
// then fixed-tree block reductions. Pass 2 writes each pack's gradient over it, from the
// registers (kCached) or by reading it again; a thread writes only the packs it read,
// after every thread has read the target's logit (the reductions' barriers order that).
template <typename E, int kCache>
__global__ void __launch_bounds__(kThreads, kCache == kShared ? 2 : 1)
    lm_loss_rows(float* losses, E* logits, const int32_t* targets, int V, int Vp) {
  constexpr bool kCached = kCache == kRegisters;
  __shared__ float scratch[kThreads];
  COHORT_DYNAMIC_SHARED(smem);  // kShared: the row, shared_row_bytes(Vp)
  Pack8<E>* const shared_row = reinterpret_cast<Pack8<E>*>(smem);
  const int n = blockIdx.x;
  Pack8<E>* row = reinterpret_cast<Pack8<E>*>(logits + size_t(n) * Vp);
  const int packs = Vp / kPack;
  const int t = targets[n];
  const float z_target = threadIdx.x == 0 ? float(logits[size_t(n) * Vp + t]) : 0.0f;
  Pack8<E> cache[kCached ? kCachedPacks : 1];
  if constexpr (kCached) {
#pragma unroll
    for (int r = 0; r < kCachedPacks; ++r) {
      const int j = int(threadIdx.x) + r * int(blockDim.x);
      if (j < packs) cache[r] = row[j];
    }
  }
  // f(j, pack j) over this thread's packs j = threadIdx.x + r * blockDim.x.
  auto each_pack = [&](auto&& f) {
    if constexpr (kCached) {
#pragma unroll
      for (int r = 0; r < kCachedPacks; ++r) {
        const int j = int(threadIdx.x) + r * int(blockDim.x);
        if (j < packs) f(j, cache[r]);
      }
    } else if constexpr (kCache == kShared) {
      for (int j = int(threadIdx.x); j < packs; j += int(blockDim.x)) f(j, shared_row[j]);
    } else {
      for (int j = int(threadIdx.x); j < packs; j += int(blockDim.x)) f(j, row[j]);
    }
  };

  // m: the running max (natural units); s: the sum of exp(z - m), taken as
  // exp2(z * log2(e) - m * log2(e)).
  float m = -INFINITY, m2 = -INFINITY, s = 0.0f;
  auto online = [&](int j, const Pack8<E>& p) {
    float z[kPack], pack_max = -INFINITY;
    const bool whole = (j + 1) * kPack <= V;  // only the last pack holds padding
#pragma unroll
    for (int k = 0; k < kPack; ++k) {
      z[k] = whole || j * kPack + k < V ? float(p.v[k]) : -INFINITY;
      pack_max = fmaxf(pack_max, z[k]);
    }
    if (pack_max == -INFINITY) return;  // padding only
    if (pack_max > m) {
      s *= exp2f((m - pack_max) * kLog2e);  // 0 * exp2f(-inf) on the first pack: 0
      m = pack_max;
      m2 = m * kLog2e;
    }
#pragma unroll
    for (int k = 0; k < kPack; ++k) s += exp2f(fmaf(z[k], kLog2e, -m2));
  };
  if constexpr (kCache == kShared) {
    // Pass 1 from memory, kBatch packs in flight a thread, each also kept in shared memory.
    constexpr int kBatch = 4;
    for (int j0 = int(threadIdx.x); j0 < packs; j0 += kBatch * int(blockDim.x)) {
      Pack8<E> p[kBatch];
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const int j = j0 + b * int(blockDim.x);
        if (j < packs) p[b] = row[j];
      }
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const int j = j0 + b * int(blockDim.x);
        if (j < packs) {
          shared_row[j] = p[b];
          online(j, p[b]);
        }
      }
    }
  } else {
    each_pack(online);
  }
  const float row_max = cuda::block_reduce(m, scratch, cuda::Max{});
  s = cuda::block_reduce(m == -INFINITY ? 0.0f : s * exp2f((m - row_max) * kLog2e), scratch,
                         cuda::Sum{});
  // (softmax - onehot) * kStoreScale, the scale (a power of two) folded into 1 / s: the
  // same bits as scaling after.
  const float scale = kStoreScale<E> / s, row_max2 = row_max * kLog2e;

  each_pack([&](int j, const Pack8<E>& p) {
    Pack8<E> g;
    const bool whole = (j + 1) * kPack <= V;
#pragma unroll
    for (int k = 0; k < kPack; ++k) {
      const int i = j * kPack + k;
      float d = whole || i < V ? exp2f(fmaf(float(p.v[k]), kLog2e, -row_max2)) * scale : 0.0f;
      if (i == t) d -= kStoreScale<E>;
      g.v[k] = cuda::round16<E>(d);
    }
    row[j] = g;
  });
  if (threadIdx.x == 0) losses[n] = row_max + logf(s) - z_target;
}

}  // namespace cohort::cuda::lm_loss
