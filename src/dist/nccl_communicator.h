// NcclCommunicator: data-parallel collectives between GPUs through NCCL, one GPU per
// rank (design.md's NcclCommunicator; issue 8).
//
// Which memory each call takes:
// - device memory: the float and bf16 collectives (all_reduce_sum, its async forms,
//   reduce_scatter_sum, all_gather) and broadcast, which is what the strategies hand
//   it: gradients and parameters in the CUDA backend's memory;
// - host memory: everything else (all_reduce_sum and all_reduce_max on doubles, which
//   carry losses and norms; point-to-point; barrier; split; strings), passed to the
//   host Communicator it wraps (MPI in a run), which also carries NCCL's unique id from
//   rank 0 to every rank at construction.
//
// Streams: NCCL runs on a stream of its own, created non-blocking so the CUDA
// backend's kernels (on the legacy default stream) do not serialize with it. Each
// collective first waits, by an event, for the work the default stream has queued
// (the layers' backward that produced the gradients), so a bucket's all-reduce overlaps
// the backward of the layers below it; a request's wait() makes the default stream wait
// for the collective, again by an event, so the host never blocks on the GPU there.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace cohort {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over host's ranks; this rank's GPU must be current (CudaBackend's
  // constructor makes it so). Throws cohort::Error naming the NCCL call on failure.
  explicit NcclCommunicator(Communicator& host);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return host_.rank(); }
  int world() const override { return host_.world(); }
  std::string describe() const override;

  void all_reduce_sum(float* data, size_t n) override;
  std::unique_ptr<CommRequest> all_reduce_sum_async(float* data, size_t n) override;
  std::unique_ptr<CommRequest> all_reduce_sum_bf16_async(uint16_t* data, size_t n) override;
  void all_reduce_sum(double* data, size_t n) override { host_.all_reduce_sum(data, n); }
  void all_reduce_max(double* data, size_t n) override { host_.all_reduce_max(data, n); }
  void reduce_scatter_sum(float* data, const std::vector<size_t>& counts) override;
  std::unique_ptr<CommRequest> reduce_scatter_sum_async(float* data,
                                                        const std::vector<size_t>& counts) override;
  void all_gather(float* data, const std::vector<size_t>& counts) override;
  std::unique_ptr<CommRequest> all_gather_async(float* data,
                                                const std::vector<size_t>& counts) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void send(const void* data, size_t bytes, int dest, int tag) override {
    host_.send(data, bytes, dest, tag);
  }
  void recv(void* data, size_t bytes, int source, int tag) override {
    host_.recv(data, bytes, source, tag);
  }
  std::unique_ptr<CommRequest> isend(const void* data, size_t bytes, int dest, int tag) override {
    return host_.isend(data, bytes, dest, tag);
  }
  std::unique_ptr<CommRequest> irecv(void* data, size_t bytes, int source, int tag) override {
    return host_.irecv(data, bytes, source, tag);
  }
  int probe(int source, int tag) override { return host_.probe(source, tag); }
  void barrier() override { host_.barrier(); }
  std::unique_ptr<Communicator> split(int color) override { return host_.split(color); }
  std::vector<std::string> all_gather_strings(const std::string& mine) override {
    return host_.all_gather_strings(mine);
  }

 private:
  // Makes the NCCL stream wait for everything queued on the default stream so far.
  void after_compute();
  std::unique_ptr<CommRequest> finished();  // a request whose wait() orders compute after
  void wait_here();                         // the default stream waits for the NCCL stream

  Communicator& host_;
  void* comm_ = nullptr;    // ncclComm_t
  void* stream_ = nullptr;  // cudaStream_t
  void* ready_ = nullptr;   // cudaEvent_t: compute work the collective needs
  int device_ = 0;
};

}  // namespace cohort
