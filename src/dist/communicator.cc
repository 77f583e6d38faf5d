#include "dist/communicator.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

std::unique_ptr<CommRequest> SoloCommunicator::all_reduce_sum_async(float*, size_t) {
  return std::make_unique<DoneRequest>();
}

std::unique_ptr<CommRequest> SoloCommunicator::all_reduce_sum_bf16_async(uint16_t*, size_t) {
  return std::make_unique<DoneRequest>();
}

std::unique_ptr<CommRequest> SoloCommunicator::reduce_scatter_sum_async(
    float*, const std::vector<size_t>&) {
  return std::make_unique<DoneRequest>();
}

std::unique_ptr<CommRequest> SoloCommunicator::all_gather_async(float*,
                                                                const std::vector<size_t>&) {
  return std::make_unique<DoneRequest>();
}

void SoloCommunicator::send(const void*, size_t, int dest, int) {
  throw Error(fmt::format("send to rank {}: this run has a single rank", dest), kExitInternal);
}

void SoloCommunicator::recv(void*, size_t, int source, int) {
  throw Error(fmt::format("recv from rank {}: this run has a single rank", source), kExitInternal);
}

std::unique_ptr<CommRequest> SoloCommunicator::isend(const void* data, size_t bytes, int dest,
                                                     int tag) {
  send(data, bytes, dest, tag);
  return nullptr;
}

std::unique_ptr<CommRequest> SoloCommunicator::irecv(void* data, size_t bytes, int source,
                                                     int tag) {
  recv(data, bytes, source, tag);
  return nullptr;
}

std::vector<size_t> even_blocks(size_t n, int world) {
  std::vector<size_t> counts(size_t(world), n / size_t(world));
  for (size_t r = 0; r < n % size_t(world); ++r) ++counts[r];
  return counts;
}

}  // namespace cohort
