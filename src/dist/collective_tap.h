// CollectiveTap: a decorator that tells a function about each collective before running it,
// described by kind and size ("all-gather of 6912 floats (6912 + 0 + 0)": every rank's
// block, so two units of one size still differ where they meet the shards). Two uses:
// the watchdog's notes (CommWatchdog::note: a rank that skipped or added a collective is
// named) and dist.check_collectives (CollectiveCheck below).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dist/forwarding_communicator.h"

namespace cohort {

class CollectiveTap final : public ForwardingCommunicator {
 public:
  using Before = std::function<void(const std::string& what)>;
  CollectiveTap(Communicator& inner, Before before)
      : ForwardingCommunicator(inner), before_(std::move(before)) {}
  void all_reduce_sum(float* data, size_t n) override;
  std::unique_ptr<CommRequest> all_reduce_sum_async(float* data, size_t n) override;
  std::unique_ptr<CommRequest> all_reduce_sum_bf16_async(uint16_t* data, size_t n) override;
  void all_reduce_sum(double* data, size_t n) override;
  void all_reduce_max(double* data, size_t n) override;
  void reduce_scatter_sum(float* data, const std::vector<size_t>& counts) override;
  std::unique_ptr<CommRequest> reduce_scatter_sum_async(float* data,
                                                        const std::vector<size_t>& counts) override;
  void all_gather(float* data, const std::vector<size_t>& counts) override;
  std::unique_ptr<CommRequest> all_gather_async(float* data,
                                                const std::vector<size_t>& counts) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;

 private:
  Before before_;
};

// dist.check_collectives: before each collective the ranks compare what they are about to
// run on a communicator of their own, so a rank that skipped or added one is named before
// the mismatched collective can hang or pair the wrong buffers (as PyTorch's
// TORCH_DISTRIBUTED_DEBUG=DETAIL does). The ranks off the most common description are
// named; every rank raises the same CollectiveError (exit 5, kExitHang). One small
// all-gather per collective, on the calling thread: a debugging aid, off by default.
class CollectiveCheck {
 public:
  explicit CollectiveCheck(Communicator& comm) : own_(comm.split(0)) {}
  void operator()(const std::string& what);

 private:
  std::unique_ptr<Communicator> own_;
  long count_ = 0;
};

}  // namespace cohort
