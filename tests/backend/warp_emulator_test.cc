// The warp emulator itself (tests/support/warp_emulator.h, included ahead of this file by
// the build): what a block's threads write before __syncthreads() is what the others read
// after it; a warp shuffle exchanges the lanes' values; a barrier that some threads skip
// aborts with a message instead of hanging the test.
#include <gtest/gtest.h>

#include <vector>

namespace {

namespace emu = ::cohort::warp_emulator;

// Each thread writes its index, then (after the barrier) reads its neighbour's: a
// barrier that let a thread through early would read the 0xFF... fill.
void rotate_through_shared(int* out, int rounds) {
  COHORT_DYNAMIC_SHARED(raw);
  int* slots = reinterpret_cast<int*>(raw);
  const int t = int(threadIdx.x), n = int(blockDim.x);
  int v = t + 1000 * int(blockIdx.x);
  for (int r = 0; r < rounds; ++r) {
    slots[t] = v;
    __syncthreads();
    v = slots[(t + 1) % n];
    __syncthreads();
  }
  out[blockIdx.x * n + t] = v;
}

void butterfly_sum(float* out) {
  float v = float(threadIdx.x % 32);
  for (int m = 16; m > 0; m /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, m);
  out[threadIdx.x] = v;
}

// Thread 0 leaves before the barrier: undefined on a GPU, a hang under std::barrier.
void skips_the_barrier(int* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

TEST(WarpEmulator, SyncthreadsOrdersSharedMemory) {
  const int threads = 96, blocks = 3, rounds = 5;
  std::vector<int> out(threads * blocks, -1);
  emu::launch(rotate_through_shared, dim3(blocks), dim3(threads), threads * sizeof(int), out.data(),
              rounds);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t)
      EXPECT_EQ(out[b * threads + t], (t + rounds) % threads + 1000 * b) << b << " " << t;
}

TEST(WarpEmulator, ShuffleXorSumsTheWarp) {
  std::vector<float> out(64, -1.0f);
  emu::launch(butterfly_sum, dim3(1), dim3(64), 0, out.data());
  for (float v : out) EXPECT_EQ(v, 496.0f);  // 0 + 1 + ... + 31
}

TEST(WarpEmulatorDeathTest, ABarrierSomeThreadsSkipAborts) {
  std::vector<int> out(32, 0);
  EXPECT_DEATH(emu::launch(skips_the_barrier, dim3(1), dim3(32), 0, out.data()),
               "31 threads wait at a barrier that the others never reach");
}

}  // namespace
