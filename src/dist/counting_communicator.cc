#include "dist/counting_communicator.h"

#include <numeric>

namespace cohort {

namespace {
// A ring all-reduce's bytes each way: a reduce-scatter and an all-gather of n.
uint64_t ring_all_reduce(uint64_t n, int world) {
  return 2 * n * uint64_t(world - 1) / uint64_t(world);
}
}  // namespace

void CountingCommunicator::add(uint64_t sent, uint64_t received) {
  counts_.bytes_sent += sent;
  counts_.bytes_received += received;
  ++counts_.calls;
}

void CountingCommunicator::all_reduce_sum(float* data, size_t n) {
  const uint64_t b = ring_all_reduce(n * sizeof(float), world());
  add(b, b);
  inner_.all_reduce_sum(data, n);
}

std::unique_ptr<CommRequest> CountingCommunicator::all_reduce_sum_async(float* data, size_t n) {
  const uint64_t b = ring_all_reduce(n * sizeof(float), world());
  add(b, b);
  return inner_.all_reduce_sum_async(data, n);
}

std::unique_ptr<CommRequest> CountingCommunicator::all_reduce_sum_bf16_async(uint16_t* data,
                                                                             size_t n) {
  const uint64_t b = ring_all_reduce(n * sizeof(uint16_t), world());
  add(b, b);
  return inner_.all_reduce_sum_bf16_async(data, n);
}

void CountingCommunicator::all_reduce_sum(double* data, size_t n) {
  const uint64_t b = ring_all_reduce(n * sizeof(double), world());
  add(b, b);
  inner_.all_reduce_sum(data, n);
}

void CountingCommunicator::all_reduce_max(double* data, size_t n) {
  const uint64_t b = ring_all_reduce(n * sizeof(double), world());
  add(b, b);
  inner_.all_reduce_max(data, n);
}

void CountingCommunicator::add_blocks(const std::vector<size_t>& counts) {
  const size_t all = std::accumulate(counts.begin(), counts.end(), size_t(0));
  const uint64_t b = (all - counts[size_t(rank())]) * sizeof(float);
  add(b, b);
}

void CountingCommunicator::reduce_scatter_sum(float* data, const std::vector<size_t>& counts) {
  add_blocks(counts);
  inner_.reduce_scatter_sum(data, counts);
}

std::unique_ptr<CommRequest> CountingCommunicator::reduce_scatter_sum_async(
    float* data, const std::vector<size_t>& counts) {
  add_blocks(counts);
  return inner_.reduce_scatter_sum_async(data, counts);
}

void CountingCommunicator::all_gather(float* data, const std::vector<size_t>& counts) {
  add_blocks(counts);
  inner_.all_gather(data, counts);
}

std::unique_ptr<CommRequest> CountingCommunicator::all_gather_async(
    float* data, const std::vector<size_t>& counts) {
  add_blocks(counts);
  return inner_.all_gather_async(data, counts);
}

void CountingCommunicator::broadcast(void* data, size_t bytes, int root) {
  add(rank() == root ? bytes : 0, rank() == root ? 0 : bytes);
  inner_.broadcast(data, bytes, root);
}

void CountingCommunicator::send(const void* data, size_t bytes, int dest, int tag) {
  add(bytes, 0);
  inner_.send(data, bytes, dest, tag);
}

void CountingCommunicator::recv(void* data, size_t bytes, int source, int tag) {
  add(0, bytes);
  inner_.recv(data, bytes, source, tag);
}

std::unique_ptr<CommRequest> CountingCommunicator::isend(const void* data, size_t bytes, int dest,
                                                         int tag) {
  add(bytes, 0);
  return inner_.isend(data, bytes, dest, tag);
}

std::unique_ptr<CommRequest> CountingCommunicator::irecv(void* data, size_t bytes, int source,
                                                         int tag) {
  add(0, bytes);
  return inner_.irecv(data, bytes, source, tag);
}

std::vector<std::string> CountingCommunicator::all_gather_strings(const std::string& mine) {
  std::vector<std::string> all = inner_.all_gather_strings(mine);
  uint64_t others = 0;
  for (size_t r = 0; r < all.size(); ++r)
    if (int(r) != rank()) others += all[r].size();
  add(mine.size(), others);
  return all;
}

}  // namespace cohort
