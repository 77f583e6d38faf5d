// AdamW's one-launch kernel over a step's segments (src/backend/cuda/cuda_adamw.cuh) on the
// CPU through the warp emulator: every element gets its own segment's weight decay, bit
// for bit what the per-tensor update (the same adamw_one) gives it, with 16-byte accesses
// and without (arrays one float off alignment, a tail past the last four); and within
// fp32 rounding of the CPU backend's AdamW. With a 16-bit copy (E), each updated
// parameter rounded once into it, bit for bit, and nothing else written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_adamw.cuh"
#include "bit_pattern.h"

namespace cohort {
namespace {

namespace emu = ::cohort::warp_emulator;
using testing::bits;

template <typename T>
T bit_cast_16(uint16_t b) {
  T t;
  std::memcpy(static_cast<void*>(&t), &b, sizeof t);
  return t;
}

struct State {
  std::vector<float> p, g, m, v;
};

State random_state(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  State s{std::vector<float>(n), std::vector<float>(n), std::vector<float>(n),
          std::vector<float>(n)};
  for (size_t i = 0; i < n; ++i) {
    s.p[i] = d(rng);
    s.g[i] = d(rng);
    s.m[i] = 0.1f * d(rng);
    s.v[i] = std::abs(0.01f * d(rng));
  }
  return s;
}

template <typename E = void>
void check(size_t n, const std::vector<Backend::AdamWSegment>& segments, size_t offset) {
  std::mt19937 rng(unsigned(n + offset));
  const State start = random_state(n + offset, rng);
  const Backend::AdamWArgs a{1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, 0.271f, 0.0975f};
  std::vector<size_t> begins;
  std::vector<float> decays;
  for (const auto& s : segments) {
    begins.push_back(s.begin);
    decays.push_back(s.weight_decay);
  }
  State got = start;
  const bool vector = offset == 0;  // std::vector's storage is 16-byte aligned
  constexpr bool kCopy = !std::is_void_v<E>;
  using Copy = std::conditional_t<kCopy, E, uint16_t>;
  const Copy sentinel = bit_cast_16<Copy>(0x7e7e);
  std::vector<Copy> copy(n + offset + 1, sentinel);  // one past the range, to see no overrun
  E* copy_at = nullptr;
  if constexpr (kCopy) copy_at = copy.data() + offset;
  emu::launch(cuda::adamw::adamw_segments_k<E>, dim3(unsigned((n + 3) / 4 + 255) / 256), dim3(256),
              0, got.p.data() + offset, got.g.data() + offset, got.m.data() + offset,
              got.v.data() + offset, n, a, begins.data(), decays.data(), int(segments.size()),
              vector, copy_at);
  State want = start, cpu = start;
  CpuBackend be;
  be.adamw_update_segments(cpu.p.data() + offset, cpu.g.data() + offset, cpu.m.data() + offset,
                           cpu.v.data() + offset, n, a, segments);
  size_t s = 0;
  for (size_t i = 0; i < n; ++i) {
    while (s + 1 < segments.size() && segments[s + 1].begin <= i) ++s;
    const size_t j = i + offset;
    cuda::adamw::adamw_one(want.p[j], want.g[j], want.m[j], want.v[j],
                           cuda::adamw::decay_factor(a.lr, segments[s].weight_decay), a);
    ASSERT_EQ(got.p[j], want.p[j]) << "parameter " << i << " (segment " << s << ")";
    ASSERT_EQ(got.m[j], want.m[j]) << "first moment " << i;
    ASSERT_EQ(got.v[j], want.v[j]) << "second moment " << i;
    ASSERT_NEAR(got.p[j], cpu.p[j], 1e-6f * (1.0f + std::abs(cpu.p[j]))) << "CPU, parameter " << i;
    if constexpr (kCopy) {
      ASSERT_EQ(bits(copy[j]), bits(E(got.p[j]))) << "16-bit copy " << i;
    }
  }
  for (size_t j = 0; j < offset; ++j) ASSERT_EQ(bits(copy[j]), bits(sentinel)) << "before";
  ASSERT_EQ(bits(copy[n + offset]), bits(sentinel)) << "past the range";
  for (size_t j = 0; j < offset; ++j) ASSERT_EQ(got.p[j], start.p[j]) << "outside the range";
}

const std::vector<Backend::AdamWSegment> kSegments = {{0, 0.1f},   {5, 0.0f},   {6, 0.1f},
                                                      {400, 0.0f}, {401, 0.1f}, {1000, 0.0f}};

TEST(AdamWEmulated, EachSegmentsDecayWithWideAccesses) { check(1003, kSegments, 0); }
TEST(AdamWEmulated, EachSegmentsDecayUnaligned) { check(1003, kSegments, 1); }
TEST(AdamWEmulated, ManyBlocksOneSegment) { check(2500, {{0, 0.1f}}, 0); }
TEST(AdamWEmulated, WritesTheBf16CopyOfEachUpdatedParameter) {
  check<__nv_bfloat16>(1003, kSegments, 0);
  check<__nv_bfloat16>(1003, kSegments, 1);
}
TEST(AdamWEmulated, WritesTheFp16CopyOfEachUpdatedParameter) { check<__half>(2500, kSegments, 0); }

// Clipping's factor as the kernel reads each gradient: the bits of scaling the gradients
// first (the pass it replaces) and updating with factor 1, on the GPU's kernel and on the
// CPU backend alike.
TEST(AdamWEmulated, GradScaleGivesTheBitsOfScalingFirst) {
  const size_t n = 1003;
  std::mt19937 rng(7);
  const State start = random_state(n, rng);
  Backend::AdamWArgs a{1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, 0.271f, 0.0975f};
  const float s = 0.3719f;
  State scaled = start;
  for (float& g : scaled.g) g *= s;
  std::vector<size_t> begins;
  std::vector<float> decays;
  for (const auto& seg : kSegments) {
    begins.push_back(seg.begin);
    decays.push_back(seg.weight_decay);
  }
  auto update = [&](State& x, float grad_scale) {
    a.grad_scale = grad_scale;
    emu::launch(cuda::adamw::adamw_segments_k<void>, dim3(unsigned((n + 3) / 4 + 255) / 256),
                dim3(256), 0, x.p.data(), x.g.data(), x.m.data(), x.v.data(), n, a, begins.data(),
                decays.data(), int(kSegments.size()), true, nullptr);
  };
  State folded = start, first = scaled;
  update(folded, s);
  update(first, 1.0f);
  CpuBackend be;
  State cpu_folded = start, cpu_first = start;
  a.grad_scale = s;
  be.adamw_update_segments(cpu_folded.p.data(), cpu_folded.g.data(), cpu_folded.m.data(),
                           cpu_folded.v.data(), n, a, kSegments);
  be.scale(cpu_first.g.data(), s, n);
  a.grad_scale = 1.0f;
  be.adamw_update_segments(cpu_first.p.data(), cpu_first.g.data(), cpu_first.m.data(),
                           cpu_first.v.data(), n, a, kSegments);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_NE(folded.p[i], start.p[i]) << i;
    ASSERT_EQ(bits(folded.p[i]), bits(first.p[i])) << "parameter " << i;
    ASSERT_EQ(bits(folded.m[i]), bits(first.m[i])) << "first moment " << i;
    ASSERT_EQ(bits(folded.v[i]), bits(first.v[i])) << "second moment " << i;
    ASSERT_EQ(bits(cpu_folded.p[i]), bits(cpu_first.p[i])) << "CPU, parameter " << i;
    ASSERT_EQ(bits(cpu_folded.v[i]), bits(cpu_first.v[i])) << "CPU, second moment " << i;
  }
  ASSERT_EQ(folded.g, start.g) << "the gradients are read, not scaled in place";
}

}  // namespace
}  // namespace cohort
