#include "data/synthetic_source.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "core/philox.h"

namespace cohort {

namespace {
// Counter words 2 and 3 tag the stream so batches and the table never share numbers.
constexpr uint32_t kTableStream = 0x7461626cu, kBatchStream = 0x62617463u;
}  // namespace

SyntheticSource::SyntheticSource(int vocab_size, int branching, uint64_t seed)
    : vocab_size_(vocab_size), branching_(branching), seed_(seed) {
  if (vocab_size <= 1)
    throw Error(fmt::format("synthetic data needs a vocabulary of at least 2, got {}", vocab_size));
  if (branching < 0) throw Error("synthetic data: branching must be >= 0");
  const PhiloxKey key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  successors_.resize(size_t(vocab_size) * branching);
  for (size_t i = 0; i < successors_.size(); ++i) {
    const auto r = philox4x32({static_cast<uint32_t>(i), 0, kTableStream, 0}, key);
    successors_[i] = static_cast<int32_t>(r[0] % uint32_t(vocab_size));
  }
}

void SyntheticSource::fill(long step, int micro, int B, int T, int32_t* inputs, int32_t* targets) {
  const PhiloxKey key = {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)};
  const uint32_t V = vocab_size_;
  for (int b = 0; b < B; ++b) {
    const uint32_t sample = static_cast<uint32_t>(rank_ * grad_accum_ + micro) * B + b;
    auto draw = [&](int t) {
      return philox4x32(
          {static_cast<uint32_t>(t), sample, kBatchStream, static_cast<uint32_t>(step)}, key)[0];
    };
    int32_t tok = static_cast<int32_t>(draw(0) % V);
    for (int t = 0; t <= T; ++t) {
      if (t < T) inputs[size_t(b) * T + t] = tok;
      if (t > 0) targets[size_t(b) * T + t - 1] = tok;
      const uint32_t r = draw(t + 1);
      tok = branching_ == 0 ? static_cast<int32_t>(r % V)
                            : successors_[size_t(tok) * branching_ + r % uint32_t(branching_)];
    }
  }
}

std::string SyntheticSource::describe() const {
  return branching_ == 0
             ? fmt::format("synthetic: uniform random tokens, V={}", vocab_size_)
             : fmt::format("synthetic: {} successors per token, V={} (loss floor ln {} = {:.3f})",
                           branching_, vocab_size_, branching_, std::log(double(branching_)));
}

}  // namespace cohort
