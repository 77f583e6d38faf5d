// CountingCommunicator: a decorator that passes every call to the communicator it wraps
// and counts the bytes this rank sends and receives, so a run can report its traffic
// (issues 12, 14 and 18 compare strategies by it).
//
// Counted as a ring algorithm moves them (NCCL-tests' convention for bus bandwidth), so
// that strategies compare as they cost on a link, whatever algorithm the library picks
// underneath. Per call, with n bytes in the caller's buffer, N ranks, and this rank's
// block of m bytes where the call has blocks:
//   all-reduce           2 (N-1)/N n sent, the same received
//   reduce-scatter       n - m sent, n - m received
//   all-gather           n - m sent, n - m received
//   broadcast            the root sent n; every other rank received n
//   send / recv          n each way; all_gather_strings: mine sent, the others received
// So an all-reduce counts what a reduce-scatter and an all-gather count together, as
// ZeRO promises.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/forwarding_communicator.h"

namespace cohort {

struct TrafficCounts {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t calls = 0;  // collectives and point-to-point messages
};

class CountingCommunicator final : public ForwardingCommunicator {
 public:
  explicit CountingCommunicator(Communicator& inner) : ForwardingCommunicator(inner) {}
  const TrafficCounts& counts() const { return counts_; }

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
  void send(const void* data, size_t bytes, int dest, int tag) override;
  void recv(void* data, size_t bytes, int source, int tag) override;
  std::unique_ptr<CommRequest> isend(const void* data, size_t bytes, int dest, int tag) override;
  std::unique_ptr<CommRequest> irecv(void* data, size_t bytes, int source, int tag) override;
  // probe, barrier and split pass through uncounted (a split is the inner one's: wrap it
  // again to count it).
  std::vector<std::string> all_gather_strings(const std::string& mine) override;

 private:
  void add(uint64_t sent, uint64_t received);
  // A reduce-scatter's or all-gather's: every block but this rank's, each way.
  void add_blocks(const std::vector<size_t>& counts);
  TrafficCounts counts_;
};

}  // namespace cohort
