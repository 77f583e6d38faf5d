// Runs CUDA kernels written against src/backend/cuda/cuda_warp.cuh on the CPU, so their
// index arithmetic (which lane loads which element, which fragment feeds which product,
// when a tile is ready) is tested where there is no GPU. Include it through cuda_warp.cuh
// with COHORT_WARP_EMULATION defined, and compile the kernel header as C++.
//
// - Blocks run one after another, all in the calling thread. Each CUDA thread of a block
//   is a fiber (Boost.Context: a stack switch in user space, no system call), and the
//   block's fibers take turns: a fiber runs until it waits at a barrier (__syncthreads()
//   or a warp instruction), then the next one runs. OS threads with std::barrier cost a
//   kernel-level context switch per lane step: 166 s of system time for one test on a
//   2-core machine, where this costs none.
// - A barrier that some threads never reach (a __syncthreads() under a divergent branch,
//   undefined on the GPU) aborts with a message instead of hanging.
// - Warp instructions (ldmatrix, mma.sync, __shfl_xor_sync) are collective: each lane
//   posts its operands, the warp meets at a barrier, each lane computes its own result
//   from the layouts of the PTX ISA (the same ones cuda_warp.cuh states), and the warp
//   meets again before the slots are reused.
// - cp.async copies are deferred to the latest moment the PTX allows: the wait_group that
//   requires them. A kernel that reads a tile before waiting for it reads stale data.
// - Dynamic shared memory starts filled with 0xFF bytes (NaN as bf16, fp16 and fp32), so
//   a read of anything never written shows up in the results.
// - ldmatrix and cp.async check their addresses (alignment; inside shared memory), and
//   load_float4 its alignment, and abort with a message otherwise, as the GPU would fault
//   or read garbage.
// An mma's 16 products are exact (16-bit inputs) and summed in double, then added to the
// fp32 accumulator: the hardware's order is unspecified, its results agree to fp32
// rounding.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

// Host compilation defines __shared__ as nothing; a block's threads must share it.
#undef __shared__
#define __shared__ static
#define __launch_bounds__(...)
#define COHORT_DYNAMIC_SHARED(name) \
  unsigned char* name = ::cohort::warp_emulator::current_block->shared.data()

namespace cohort::warp_emulator {

struct Copy {
  void* dst;
  const void* src;  // null: zero fill
  size_t bytes;
};

struct Thread;
inline Thread* self = nullptr;  // the fiber running now
// Arrivals at barriers and finished fibers: a whole round of the block's fibers that adds
// none means every live fiber waits for one that will never come.
inline uint64_t progress = 0;

inline void yield();

// A barrier among the fibers of one block: arrive, then yield until the last one arrives.
class Barrier {
 public:
  explicit Barrier(int expected) : expected_(expected) {}
  void arrive_and_wait() {
    const uint64_t generation = generation_;
    ++progress;
    if (++count_ == expected_) {
      count_ = 0;
      ++generation_;
      return;
    }
    while (generation_ == generation) yield();
  }

 private:
  int expected_;
  int count_ = 0;
  uint64_t generation_ = 0;
};

struct Warp {
  Barrier meet{32};
  uint32_t words[32][6];
  float floats[32];
  const void* rows[32];
};

struct Block {
  dim3 index, dim, grid;
  std::vector<unsigned char> shared;
  std::unique_ptr<Barrier> sync;
  std::vector<std::unique_ptr<Warp>> warps;
};

struct Thread {
  dim3 index;
  int lane = 0, warp = 0;
  std::deque<std::vector<Copy>> committed;
  std::vector<Copy> open;
  boost::context::fiber scheduler;  // where yield() returns to
};

inline Block* current_block = nullptr;

inline void yield() { self->scheduler = std::move(self->scheduler).resume(); }

[[noreturn]] inline void fail(const char* what, const void* p) {
  std::fprintf(stderr, "warp emulator: %s (address %p, block %u,%u thread %u)\n", what, p,
               current_block->index.x, current_block->index.y, self->index.x);
  std::abort();
}

inline void check_shared(const void* p, size_t bytes, size_t align, const char* what) {
  const auto* c = static_cast<const unsigned char*>(p);
  const auto& s = current_block->shared;
  if (reinterpret_cast<uintptr_t>(p) % align != 0) fail(what, p);
  if (c < s.data() || c + bytes > s.data() + s.size()) fail(what, p);
}

inline Warp& warp() { return *current_block->warps[self->warp]; }

// Runs kernel(args...) on grid x block threads, dynamic shared memory `shared_bytes`.
template <typename Kernel, typename... Args>
void launch(Kernel kernel, dim3 grid, dim3 block, size_t shared_bytes, Args... args) {
  namespace ctx = boost::context;
  const unsigned threads = block.x * block.y * block.z;
  if (threads % 32 != 0) {
    std::fprintf(stderr, "warp emulator: %u threads, not whole warps\n", threads);
    std::abort();
  }
  // A kernel's locals are registers on the GPU: a few KiB; the emulator's frames add little.
  // The stacks are reused from block to block: no allocation per emulated thread.
  constexpr size_t kStackBytes = 256 * 1024;
  ctx::pooled_fixedsize_stack stacks(kStackBytes, threads);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        Block b;
        b.index = dim3(x, y, z);
        b.dim = block;
        b.grid = grid;
        b.shared.assign(shared_bytes, 0xFF);
        b.sync = std::make_unique<Barrier>(int(threads));
        for (unsigned w = 0; w < threads / 32; ++w) b.warps.push_back(std::make_unique<Warp>());
        current_block = &b;
        std::vector<Thread> states(threads);
        std::vector<ctx::fiber> fibers;
        fibers.reserve(threads);
        for (unsigned t = 0; t < threads; ++t) {
          Thread& me = states[t];
          me.index = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
          me.lane = int(t % 32);
          me.warp = int(t / 32);
          fibers.emplace_back(std::allocator_arg, stacks,
                              [&me, &kernel, &args...](ctx::fiber&& scheduler) {
                                me.scheduler = std::move(scheduler);
                                kernel(args...);
                                ++progress;
                                return std::move(me.scheduler);
                              });
        }
        for (unsigned live = threads; live > 0;) {
          const uint64_t before = progress;
          live = 0;
          for (unsigned t = 0; t < threads; ++t) {
            if (!fibers[t]) continue;
            self = &states[t];
            fibers[t] = std::move(fibers[t]).resume();
            if (fibers[t]) ++live;
          }
          if (live > 0 && progress == before) {
            std::fprintf(stderr,
                         "warp emulator: block %u,%u,%u: %u threads wait at a barrier that "
                         "the others never reach\n",
                         x, y, z, live);
            std::abort();
          }
        }
        self = nullptr;
        current_block = nullptr;
      }
}

template <typename E>
float from16(uint32_t bits) {
  bits &= 0xFFFFu;
  if constexpr (std::is_same_v<E, __nv_bfloat16>) {
    const uint32_t u = bits << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  } else {
    __half_raw raw;
    raw.x = uint16_t(bits);
    return __half2float(__half(raw));
  }
}

}  // namespace cohort::warp_emulator

#define threadIdx (::cohort::warp_emulator::self->index)
#define blockIdx (::cohort::warp_emulator::current_block->index)
#define blockDim (::cohort::warp_emulator::current_block->dim)
#define gridDim (::cohort::warp_emulator::current_block->grid)

// Device-side math the kernels call by their CUDA names.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline int min(int a, int b) { return a < b ? a : b; }

inline void __syncthreads() { ::cohort::warp_emulator::current_block->sync->arrive_and_wait(); }

inline float __shfl_xor_sync(unsigned /*mask: the whole warp here*/, float v, int lane_mask) {
  auto& w = ::cohort::warp_emulator::warp();
  const int lane = ::cohort::warp_emulator::self->lane;
  w.floats[lane] = v;
  w.meet.arrive_and_wait();
  const float r = w.floats[lane ^ lane_mask];
  w.meet.arrive_and_wait();
  return r;
}

namespace cohort::cuda {

inline void ldsm_x4_impl(uint32_t (&r)[4], const void* row, bool trans) {
  using namespace warp_emulator;
  check_shared(row, 16, 16, "ldmatrix row address");
  Warp& w = warp();
  const int t = self->lane;
  w.rows[t] = row;
  w.meet.arrive_and_wait();
  auto at = [&](int lane, int i) { return static_cast<const uint16_t*>(w.rows[lane])[i]; };
  for (int i = 0; i < 4; ++i) {
    uint16_t lo, hi;
    if (!trans) {
      lo = at(8 * i + t / 4, 2 * (t % 4));
      hi = at(8 * i + t / 4, 2 * (t % 4) + 1);
    } else {
      lo = at(8 * i + 2 * (t % 4), t / 4);
      hi = at(8 * i + 2 * (t % 4) + 1, t / 4);
    }
    r[i] = uint32_t(lo) | uint32_t(hi) << 16;
  }
  w.meet.arrive_and_wait();
}
inline void ldsm_x4(uint32_t (&r)[4], const void* row) { ldsm_x4_impl(r, row, false); }
inline void ldsm_x4_trans(uint32_t (&r)[4], const void* row) { ldsm_x4_impl(r, row, true); }

template <typename E>
void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  using namespace warp_emulator;
  Warp& w = warp();
  const int t = self->lane;
  for (int i = 0; i < 4; ++i) w.words[t][i] = a[i];
  w.words[t][4] = b0;
  w.words[t][5] = b1;
  w.meet.arrive_and_wait();
  // A (16 x 16) element (r, k) and B (16 x 8) element (k, n), from the lanes that hold them.
  auto A = [&](int r, int k) {
    const uint32_t v = w.words[4 * (r % 8) + k % 8 / 2][r / 8 + 2 * (k / 8)];
    return from16<E>(k % 2 ? v >> 16 : v);
  };
  auto B = [&](int k, int n) {
    const uint32_t v = w.words[4 * n + k % 8 / 2][4 + k / 8];
    return from16<E>(k % 2 ? v >> 16 : v);
  };
  const int g = t / 4, q = t % 4;
  float out[4];
  for (int e = 0; e < 4; ++e) {
    const int r = g + 8 * (e / 2), c = 2 * q + e % 2;
    double s = 0;
    for (int k = 0; k < 16; ++k) s += double(A(r, k)) * B(k, c);
    out[e] = float(double(d[e]) + s);
  }
  w.meet.arrive_and_wait();
  for (int e = 0; e < 4; ++e) d[e] = out[e];
}

inline float4 load_float4(const float* p) {
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) warp_emulator::fail("float4 load alignment", p);
  return make_float4(p[0], p[1], p[2], p[3]);
}

inline void cp_async_bytes(void* dst, const void* src, bool valid, size_t bytes) {
  using namespace warp_emulator;
  check_shared(dst, bytes, bytes, "cp.async destination");
  if (reinterpret_cast<uintptr_t>(src) % bytes != 0) fail("cp.async source alignment", src);
  self->open.push_back({dst, valid ? src : nullptr, bytes});
}
inline void cp_async16(void* dst, const void* src, bool valid) {
  cp_async_bytes(dst, src, valid, 16);
}
inline void cp_async4(void* dst, const void* src, bool valid) {
  cp_async_bytes(dst, src, valid, 4);
}
inline void cp_async_commit() {
  auto* me = warp_emulator::self;
  me->committed.push_back(std::move(me->open));
  me->open.clear();
}
template <int N>
void cp_async_wait() {
  auto* me = warp_emulator::self;
  while (me->committed.size() > size_t(N)) {
    for (const auto& c : me->committed.front()) {
      if (c.src)
        std::memcpy(c.dst, c.src, c.bytes);
      else
        std::memset(c.dst, 0, c.bytes);
    }
    me->committed.pop_front();
  }
}

}  // namespace cohort::cuda
