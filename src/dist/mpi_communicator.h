// MpiCommunicator: the collectives over OpenMPI. Asynchronous all-reduces run on a
// communication thread with their own duplicate of the world communicator, in the
// order they were started (the same on every rank), so they overlap the main thread's
// compute and never interleave with its collectives.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "dist/communicator.h"
#include "dist/launcher.h"

namespace cohort {

class MpiCommunicator final : public Communicator {
 public:
  // Calls MPI_Init_thread (MPI_THREAD_MULTIPLE) unless MPI is already initialized.
  MpiCommunicator(int* argc, char*** argv);
  ~MpiCommunicator() override;  // joins the thread, MPI_Finalize

  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string describe() const override;

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
  int probe(int source, int tag) override;
  void barrier() override;
  std::unique_ptr<Communicator> split(int color) override;
  std::vector<std::string> all_gather_strings(const std::string& mine) override;

  // Stops every rank at once (MPI_Abort): for an error on one rank that the others
  // cannot know about, so that none of them waits forever in a collective.
  [[noreturn]] static void abort_all(int exit_code);

  struct Task;   // one queued asynchronous all-reduce or reduce-scatter
  struct Queue;  // shared with the thread, so it outlives an abandoned communicator

 private:
  std::unique_ptr<CommRequest> enqueue(std::shared_ptr<Task> task);
  // A communicator over MPI_Comm_split(parent, color): MPI stays the parent's.
  MpiCommunicator(const MpiCommunicator& parent, int color);
  void start_thread();

  int rank_ = 0, world_ = 1;
  bool owns_mpi_ = false;
  void* world_comm_ = nullptr;   // MPI_Comm (a dup of MPI_COMM_WORLD) for the main thread
  void* thread_comm_ = nullptr;  // MPI_Comm for the communication thread
  std::shared_ptr<Queue> queue_;
  std::thread thread_;
};

}  // namespace cohort
