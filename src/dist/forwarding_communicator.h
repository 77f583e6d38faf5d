// ForwardingCommunicator: a decorator base that passes every call to the communicator it
// wraps; a decorator overrides only what it changes (CheckedCommunicator's fingerprints,
// the test faults' skipped collective).
#pragma once

#include "dist/communicator.h"

namespace cohort {

class ForwardingCommunicator : public Communicator {
 public:
  explicit ForwardingCommunicator(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int world() const override { return inner_.world(); }
  std::string describe() const override { return inner_.describe(); }
  void all_reduce_sum(float* data, size_t n) override { inner_.all_reduce_sum(data, n); }
  std::unique_ptr<CommRequest> all_reduce_sum_async(float* data, size_t n) override {
    return inner_.all_reduce_sum_async(data, n);
  }
  std::unique_ptr<CommRequest> all_reduce_sum_bf16_async(uint16_t* data, size_t n) override {
    return inner_.all_reduce_sum_bf16_async(data, n);
  }
  void all_reduce_sum(double* data, size_t n) override { inner_.all_reduce_sum(data, n); }
  void all_reduce_max(double* data, size_t n) override { inner_.all_reduce_max(data, n); }
  void reduce_scatter_sum(float* data, const std::vector<size_t>& counts) override {
    inner_.reduce_scatter_sum(data, counts);
  }
  std::unique_ptr<CommRequest> reduce_scatter_sum_async(
      float* data, const std::vector<size_t>& counts) override {
    return inner_.reduce_scatter_sum_async(data, counts);
  }
  void all_gather(float* data, const std::vector<size_t>& counts) override {
    inner_.all_gather(data, counts);
  }
  std::unique_ptr<CommRequest> all_gather_async(float* data,
                                                const std::vector<size_t>& counts) override {
    return inner_.all_gather_async(data, counts);
  }
  void broadcast(void* data, size_t bytes, int root) override {
    inner_.broadcast(data, bytes, root);
  }
  void send(const void* data, size_t bytes, int dest, int tag) override {
    inner_.send(data, bytes, dest, tag);
  }
  void recv(void* data, size_t bytes, int source, int tag) override {
    inner_.recv(data, bytes, source, tag);
  }
  std::unique_ptr<CommRequest> isend(const void* data, size_t bytes, int dest, int tag) override {
    return inner_.isend(data, bytes, dest, tag);
  }
  std::unique_ptr<CommRequest> irecv(void* data, size_t bytes, int source, int tag) override {
    return inner_.irecv(data, bytes, source, tag);
  }
  int probe(int source, int tag) override { return inner_.probe(source, tag); }
  void barrier() override { inner_.barrier(); }
  std::unique_ptr<Communicator> split(int color) override { return inner_.split(color); }
  std::vector<std::string> all_gather_strings(const std::string& mine) override {
    return inner_.all_gather_strings(mine);
  }

 protected:
  Communicator& inner_;
};

}  // namespace cohort
