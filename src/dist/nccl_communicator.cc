#include "dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <fmt/format.h>
#include <nccl.h>

#include "core/error.h"

namespace cohort {

namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(fmt::format("{}: {}", what, cudaGetErrorString(e)));
}
void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw Error(fmt::format("{}: {}", what, ncclGetErrorString(r)));
}

ncclComm_t nccl(void* c) { return static_cast<ncclComm_t>(c); }
cudaStream_t stream(void* s) { return static_cast<cudaStream_t>(s); }
cudaEvent_t event(void* e) { return static_cast<cudaEvent_t>(e); }

// wait() makes the default stream wait for the collective through this event.
class StreamOrderedRequest final : public CommRequest {
 public:
  explicit StreamOrderedRequest(cudaStream_t s) {
    check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done_, s), "cudaEventRecord");
  }
  ~StreamOrderedRequest() override { cudaEventDestroy(done_); }
  void wait() override {
    check_cuda(cudaStreamWaitEvent(cudaStreamLegacy, done_, 0), "cudaStreamWaitEvent");
  }

 private:
  cudaEvent_t done_ = nullptr;
};

}  // namespace

NcclCommunicator::NcclCommunicator(Communicator& host) : host_(host) {
  check_cuda(cudaGetDevice(&device_), "cudaGetDevice");
  ncclUniqueId id;
  if (host_.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  host_.broadcast(&id, sizeof id, 0);
  cudaStream_t s = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  stream_ = s;
  cudaEvent_t e = nullptr;
  check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
  ready_ = e;
  ncclComm_t c = nullptr;
  check_nccl(ncclCommInitRank(&c, host_.world(), id, host_.rank()), "ncclCommInitRank");
  comm_ = c;
}

NcclCommunicator::~NcclCommunicator() {
  if (stream_) cudaStreamSynchronize(stream(stream_));
  if (comm_) ncclCommDestroy(nccl(comm_));
  if (ready_) cudaEventDestroy(event(ready_));
  if (stream_) cudaStreamDestroy(stream(stream_));
}

std::string NcclCommunicator::describe() const {
  int version = 0;
  ncclGetVersion(&version);
  return fmt::format("NCCL {} ({} ranks, GPU {} here; host side: {})", version, world(), device_,
                     host_.describe());
}

void NcclCommunicator::after_compute() {
  check_cuda(cudaEventRecord(event(ready_), cudaStreamLegacy), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(stream(stream_), event(ready_), 0), "cudaStreamWaitEvent");
}

std::unique_ptr<CommRequest> NcclCommunicator::finished() {
  return std::make_unique<StreamOrderedRequest>(stream(stream_));
}

void NcclCommunicator::wait_here() { finished()->wait(); }

std::unique_ptr<CommRequest> NcclCommunicator::all_reduce_sum_async(float* data, size_t n) {
  after_compute();
  check_nccl(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, nccl(comm_), stream(stream_)),
             "ncclAllReduce");
  return finished();
}

void NcclCommunicator::all_reduce_sum(float* data, size_t n) {
  all_reduce_sum_async(data, n)->wait();
}

std::unique_ptr<CommRequest> NcclCommunicator::all_reduce_sum_bf16_async(uint16_t* data, size_t n) {
  after_compute();
  check_nccl(ncclAllReduce(data, data, n, ncclBfloat16, ncclSum, nccl(comm_), stream(stream_)),
             "ncclAllReduce (bf16)");
  return finished();
}

// Blocks of unequal size (ZeRO's shards differ by one when world does not divide the
// buffer), so one ncclReduce per block to its owner, grouped into one launch, rather
// than ncclReduceScatter, which needs equal blocks.
void NcclCommunicator::reduce_scatter_sum(float* data, const std::vector<size_t>& counts) {
  reduce_scatter_sum_async(data, counts)->wait();
}

std::unique_ptr<CommRequest> NcclCommunicator::reduce_scatter_sum_async(
    float* data, const std::vector<size_t>& counts) {
  after_compute();
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  size_t offset = 0;
  for (int r = 0; r < int(counts.size()); ++r) {
    float* block = data + offset;
    check_nccl(ncclReduce(block, block, counts[size_t(r)], ncclFloat32, ncclSum, r, nccl(comm_),
                          stream(stream_)),
               "ncclReduce");
    offset += counts[size_t(r)];
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  return finished();
}

void NcclCommunicator::all_gather(float* data, const std::vector<size_t>& counts) {
  all_gather_async(data, counts)->wait();
}

// The same for the gather: each owner broadcasts its block.
std::unique_ptr<CommRequest> NcclCommunicator::all_gather_async(float* data,
                                                                const std::vector<size_t>& counts) {
  after_compute();
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  size_t offset = 0;
  for (int r = 0; r < int(counts.size()); ++r) {
    float* block = data + offset;
    check_nccl(ncclBroadcast(block, block, counts[size_t(r)], ncclFloat32, r, nccl(comm_),
                             stream(stream_)),
               "ncclBroadcast");
    offset += counts[size_t(r)];
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  return finished();
}

void NcclCommunicator::broadcast(void* data, size_t bytes, int root) {
  after_compute();
  check_nccl(ncclBroadcast(data, data, bytes, ncclUint8, root, nccl(comm_), stream(stream_)),
             "ncclBroadcast");
  wait_here();
}

}  // namespace cohort
