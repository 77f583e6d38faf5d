#include "data/sharded_loader.h"

#include <fmt/format.h>

#include <numeric>

#include "core/error.h"
#include "core/philox.h"

namespace cohort {

ShardedLoader::ShardedLoader(std::vector<int32_t> tokens, int vocab_size, int seq_len,
                             int batch_size, int grad_accum, uint64_t seed, int rank, int world,
                             std::string name)
    : tokens_(std::move(tokens)),
      vocab_size_(vocab_size),
      T_(seq_len),
      B_(batch_size),
      accum_(grad_accum),
      seed_(seed),
      rank_(rank),
      world_(world),
      name_(std::move(name)),
      windows_(tokens_.size() > 1 ? long((tokens_.size() - 1) / size_t(seq_len)) : 0) {
  if (windows_ < 1) {
    throw Error(
        fmt::format("{}: {} tokens, too few for one sequence of {} + 1 (lower train.seq_len)",
                    name_, tokens_.size(), T_));
  }
  if (windows_ > long(UINT32_MAX)) throw Error(fmt::format("{}: too many windows", name_));
  COHORT_CHECK(rank >= 0 && rank < world) << "rank " << rank << " of " << world;
}

const std::vector<uint32_t>& ShardedLoader::order(uint64_t epoch) {
  if (epoch == order_epoch_) return order_;
  order_.resize(size_t(windows_));
  std::iota(order_.begin(), order_.end(), 0u);
  // Fisher-Yates driven by Philox keyed on (seed, epoch): the same order on every rank.
  const PhiloxKey key{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)};
  for (size_t i = order_.size() - 1; i > 0; --i) {
    const auto r = philox4x32({uint32_t(i), uint32_t(epoch), uint32_t(epoch >> 32), 0x5ADu}, key);
    const uint64_t bits = (uint64_t(r[0]) << 32) | r[1];
    std::swap(order_[i], order_[bits % (i + 1)]);
  }
  order_epoch_ = epoch;
  return order_;
}

LoaderPosition ShardedLoader::position(long step) const {
  return {step, origin_.sample + uint64_t(step - origin_.step) * global_batch()};
}

void ShardedLoader::fill(long step, int micro, int B, int T, int32_t* inputs, int32_t* targets) {
  COHORT_CHECK(B == B_ && T == T_ && micro >= 0 && micro < accum_)
      << "loader built for B=" << B_ << " T=" << T_ << ", asked B=" << B << " T=" << T;
  const uint64_t first =
      position(step).sample + uint64_t(rank_) * B_ * accum_ + uint64_t(micro) * B_;
  for (int b = 0; b < B; ++b) {
    const uint64_t g = first + b;
    const uint64_t w = order(g / uint64_t(windows_))[g % uint64_t(windows_)];
    const int32_t* src = tokens_.data() + w * uint64_t(T_);
    std::copy(src, src + T, inputs + size_t(b) * T);
    std::copy(src + 1, src + T + 1, targets + size_t(b) * T);
  }
}

std::string ShardedLoader::describe() const {
  return fmt::format("{}: {} tokens, {} windows of {} (+1), shuffled per epoch", name_,
                     tokens_.size(), windows_, T_);
}

}  // namespace cohort
