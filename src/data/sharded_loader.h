// ShardedLoader: training batches from a split's token stream. The stream is cut into
// W = (N - 1) / T windows of T + 1 tokens (stride T); each epoch visits every window
// once in an order shuffled by (seed, epoch). Global sample g of the run is window
// order[g mod W] of epoch g / W, and step s's global batch is samples
// [s * G, (s + 1) * G) with G = B * accum * world; rank r reads its contiguous part
// (r * B * accum + micro * B + i). So the batch of a step is a pure function of the
// step and the global batch, the same whatever the world size, and a resumed run sees
// exactly what an unbroken one would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/batch_source.h"

namespace cohort {

// Where a run is in its data: the global sample its next step starts at.
struct LoaderPosition {
  long step = 0;
  uint64_t sample = 0;
};

class ShardedLoader final : public BatchSource {
 public:
  ShardedLoader(std::vector<int32_t> tokens, int vocab_size, int seq_len, int batch_size,
                int grad_accum, uint64_t seed, int rank = 0, int world = 1,
                std::string name = "tokens");

  void fill(long step, int micro, int B, int T, int32_t* inputs, int32_t* targets) override;
  int vocab_size() const override { return vocab_size_; }
  std::string describe() const override;

  // The position a run is at before `step`; restore() makes later steps continue from
  // a saved position even if the global batch size changed.
  LoaderPosition position(long step) const;
  void restore(const LoaderPosition& p) { origin_ = p; }
  long windows() const { return windows_; }
  uint64_t global_batch() const { return uint64_t(B_) * accum_ * world_; }

 private:
  const std::vector<uint32_t>& order(uint64_t epoch);

  std::vector<int32_t> tokens_;
  int vocab_size_, T_, B_, accum_;
  uint64_t seed_;
  int rank_, world_;
  std::string name_;
  long windows_;
  LoaderPosition origin_;
  uint64_t order_epoch_ = UINT64_MAX;
  std::vector<uint32_t> order_;
};

}  // namespace cohort
