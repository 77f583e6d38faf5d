// Communicator: the collectives data-parallel training needs, over MPI between
// processes (MpiCommunicator), or trivially for a single process (SoloCommunicator).
// Float reductions are sums; callers divide. Asynchronous calls return a request whose
// wait() blocks until the buffer may be read (and reused).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cohort {

class CommRequest {
 public:
  virtual ~CommRequest() = default;
  virtual void wait() = 0;
  // Whether it has finished, without blocking where the communicator can tell (MPI's
  // queued collectives); the default waits for it.
  virtual bool finished() {
    wait();
    return true;
  }
};

// A request that was finished when made (one rank: nothing to exchange).
class DoneRequest final : public CommRequest {
 public:
  void wait() override {}
  bool finished() override { return true; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual std::string describe() const = 0;

  // data (n) <- sum over ranks, in place; every rank receives the same bits.
  virtual void all_reduce_sum(float* data, size_t n) = 0;
  virtual std::unique_ptr<CommRequest> all_reduce_sum_async(float* data, size_t n) = 0;
  // The same on bfloat16 values (core/bf16.h): half the bytes; each partial sum is
  // rounded to bf16, as NCCL does for bf16.
  virtual std::unique_ptr<CommRequest> all_reduce_sum_bf16_async(uint16_t* data, size_t n) = 0;
  virtual void all_reduce_sum(double* data, size_t n) = 0;
  virtual void all_reduce_max(double* data, size_t n) = 0;
  // data holds world() consecutive blocks of counts[r] floats; afterwards block
  // rank() holds the sum over ranks of that block (the other blocks are unspecified).
  virtual void reduce_scatter_sum(float* data, const std::vector<size_t>& counts) = 0;
  // The same, started now and finished by the request's wait(), in order with the other
  // asynchronous collectives (ZeRO's gradient buckets, as backward completes them).
  // counts may hold zeros (a bucket that misses a rank's shard).
  virtual std::unique_ptr<CommRequest> reduce_scatter_sum_async(
      float* data, const std::vector<size_t>& counts) = 0;
  // data holds world() consecutive blocks; each rank contributes block rank() and
  // afterwards every rank has every block.
  virtual void all_gather(float* data, const std::vector<size_t>& counts) = 0;
  // The same, in order with the other asynchronous collectives (fsdp's prefetch of the
  // next unit's parameters while this one computes). counts may hold zeros.
  virtual std::unique_ptr<CommRequest> all_gather_async(float* data,
                                                        const std::vector<size_t>& counts) = 0;
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void send(const void* data, size_t bytes, int dest, int tag) = 0;
  virtual void recv(void* data, size_t bytes, int source, int tag) = 0;
  // Non-blocking point-to-point: the buffer must stay untouched until wait().
  virtual std::unique_ptr<CommRequest> isend(const void* data, size_t bytes, int dest, int tag) = 0;
  virtual std::unique_ptr<CommRequest> irecv(void* data, size_t bytes, int source, int tag) = 0;
  // The source of a message with this tag from `source` (-1: any rank) that has
  // arrived, or -1 if none has yet. Never blocks.
  virtual int probe(int source, int tag) = 0;
  virtual void barrier() = 0;
  // A communicator over the ranks that pass the same color, ordered by rank here.
  virtual std::unique_ptr<Communicator> split(int color) = 0;
  // Every rank's bytes, gathered on every rank (for start-up consistency checks).
  virtual std::vector<std::string> all_gather_strings(const std::string& mine) = 0;
};

// One process: every collective is the identity.
class SoloCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  std::string describe() const override { return "solo (1 rank)"; }
  void all_reduce_sum(float*, size_t) override {}
  std::unique_ptr<CommRequest> all_reduce_sum_async(float*, size_t) override;
  std::unique_ptr<CommRequest> all_reduce_sum_bf16_async(uint16_t*, size_t) override;
  void all_reduce_sum(double*, size_t) override {}
  void all_reduce_max(double*, size_t) override {}
  void reduce_scatter_sum(float*, const std::vector<size_t>&) override {}
  std::unique_ptr<CommRequest> reduce_scatter_sum_async(float*,
                                                        const std::vector<size_t>&) override;
  void all_gather(float*, const std::vector<size_t>&) override {}
  std::unique_ptr<CommRequest> all_gather_async(float*, const std::vector<size_t>&) override;
  void broadcast(void*, size_t, int) override {}
  void send(const void*, size_t, int, int) override;
  void recv(void*, size_t, int, int) override;
  std::unique_ptr<CommRequest> isend(const void*, size_t, int, int) override;
  std::unique_ptr<CommRequest> irecv(void*, size_t, int, int) override;
  int probe(int, int) override { return -1; }
  void barrier() override {}
  std::unique_ptr<Communicator> split(int) override { return std::make_unique<SoloCommunicator>(); }
  std::vector<std::string> all_gather_strings(const std::string& mine) override { return {mine}; }
};

// The communicator for this process: MPI when launched by mpirun (or when MPI is
// built in and the environment names a world), else solo.
std::unique_ptr<Communicator> make_communicator(int* argc, char*** argv);
// Ends every rank of the job with exit_code: MPI_Abort under mpirun, else this process.
[[noreturn]] void abort_every_rank(int exit_code);

// Splits n elements into world contiguous blocks, the first n % world one larger.
std::vector<size_t> even_blocks(size_t n, int world);

}  // namespace cohort
