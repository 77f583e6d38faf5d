#include "dist/mpi_communicator.h"

#include <fmt/format.h>
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <numeric>

#include "core/backoff.h"
#include "core/bf16.h"
#include "core/error.h"

namespace cohort {

namespace {

MPI_Comm as_comm(void* p) { return *static_cast<MPI_Comm*>(p); }

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(fmt::format("MPI {} failed: {}", what, std::string(text, size_t(len))),
              kExitInternal);
}

// bf16 sum for MPI_UINT16_T buffers holding bfloat16 values.
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const uint16_t*>(in);
  auto* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

MPI_Op bf16_sum_op() {
  static MPI_Op op = [] {
    MPI_Op o;
    MPI_Op_create(&bf16_sum, 1, &o);
    return o;
  }();
  return op;
}

// MPI counts are int: large buffers go in chunks.
constexpr size_t kMaxCount = size_t(INT_MAX) / 2;

}  // namespace

struct MpiCommunicator::Queue {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Task>> tasks;
  bool stopping = false;
};

struct MpiCommunicator::Task {
  void* data;
  size_t n;
  bool bf16 = false;
  // A reduce-scatter (or, where gather, an all-gather), where not empty: each rank's block
  // of data (n = their sum), and this rank's index.
  std::vector<int> counts;
  bool gather = false;
  int rank = 0;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::string error;
};

namespace {
class TaskRequest final : public CommRequest {
 public:
  explicit TaskRequest(std::shared_ptr<MpiCommunicator::Task> t) : task_(std::move(t)) {}
  void wait() override;
  bool finished() override;

 private:
  std::shared_ptr<MpiCommunicator::Task> task_;
};
}  // namespace

// The communication thread: runs queued all-reduces in order on its own communicator.
void run_comm_thread(std::shared_ptr<MpiCommunicator::Queue> queue, MPI_Comm comm);

MpiCommunicator::MpiCommunicator(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "init");
    owns_mpi_ = true;
    if (provided < MPI_THREAD_MULTIPLE) {
      throw Error("this MPI library does not provide MPI_THREAD_MULTIPLE", kExitInternal);
    }
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_);
  world_comm_ = new MPI_Comm;
  check(MPI_Comm_dup(MPI_COMM_WORLD, static_cast<MPI_Comm*>(world_comm_)), "comm dup");
  start_thread();
}

MpiCommunicator::MpiCommunicator(const MpiCommunicator& parent, int color) {
  world_comm_ = new MPI_Comm;
  check(MPI_Comm_split(as_comm(parent.world_comm_), color, parent.rank_,
                       static_cast<MPI_Comm*>(world_comm_)),
        "comm split");
  MPI_Comm_rank(as_comm(world_comm_), &rank_);
  MPI_Comm_size(as_comm(world_comm_), &world_);
  start_thread();
}

void MpiCommunicator::start_thread() {
  thread_comm_ = new MPI_Comm;
  check(MPI_Comm_dup(as_comm(world_comm_), static_cast<MPI_Comm*>(thread_comm_)), "comm dup");
  queue_ = std::make_shared<Queue>();
  thread_ = std::thread(run_comm_thread, queue_, *static_cast<MPI_Comm*>(thread_comm_));
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color) {
  return std::unique_ptr<Communicator>(new MpiCommunicator(*this, color));
}

MpiCommunicator::~MpiCommunicator() {
  {
    std::lock_guard<std::mutex> lock(queue_->mutex);
    queue_->stopping = true;
  }
  queue_->cv.notify_all();
  if (std::uncaught_exceptions() > 0) {
    // An error is on its way out: other ranks may be inside a collective this rank will
    // never join, so neither wait for the communication thread nor finalize (both could
    // wait forever). The thread keeps the queue alive; main() exits at once with the
    // error's code and mpirun stops the other ranks.
    thread_.detach();
    return;
  }
  if (thread_.joinable()) thread_.join();
  MPI_Comm_free(static_cast<MPI_Comm*>(world_comm_));
  MPI_Comm_free(static_cast<MPI_Comm*>(thread_comm_));
  delete static_cast<MPI_Comm*>(world_comm_);
  delete static_cast<MPI_Comm*>(thread_comm_);
  if (owns_mpi_) MPI_Finalize();
}

std::string MpiCommunicator::describe() const {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, size_t(len));
  if (const size_t comma = v.find(','); comma != std::string::npos) v.resize(comma);
  return fmt::format("MPI ({}), {} ranks", v, world_);
}

void run_comm_thread(std::shared_ptr<MpiCommunicator::Queue> queue, MPI_Comm comm) {
  for (;;) {
    std::shared_ptr<MpiCommunicator::Task> task;
    {
      std::unique_lock<std::mutex> lock(queue->mutex);
      queue->cv.wait(lock, [&] { return queue->stopping || !queue->tasks.empty(); });
      if (queue->tasks.empty()) return;  // stopping with nothing left
      task = queue->tasks.front();
      queue->tasks.pop_front();
    }
    std::string error;
    const size_t width = task->bf16 ? 2 : 4;
    if (task->gather) {
      std::vector<int> displs(task->counts.size());
      for (size_t r = 1; r < displs.size(); ++r) displs[r] = displs[r - 1] + task->counts[r - 1];
      if (MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, task->data, task->counts.data(),
                         displs.data(), MPI_FLOAT, comm) != MPI_SUCCESS)
        error = "MPI all-gather failed on the communication thread";
    } else if (!task->counts.empty()) {
      // In place: MPI leaves this rank's block at the start of data; it moves to its own
      // offset, where callers expect it.
      auto* data = static_cast<float*>(task->data);
      const size_t offset =
          std::accumulate(task->counts.begin(), task->counts.begin() + task->rank, size_t(0));
      const int mine = task->counts[size_t(task->rank)];
      if (MPI_Reduce_scatter(MPI_IN_PLACE, data, task->counts.data(), MPI_FLOAT, MPI_SUM, comm) !=
          MPI_SUCCESS)
        error = "MPI reduce-scatter failed on the communication thread";
      else if (mine > 0 && offset > 0)
        std::memmove(data + offset, data, size_t(mine) * sizeof(float));
    }
    for (size_t off = 0; task->counts.empty() && off < task->n && error.empty(); off += kMaxCount) {
      const int count = int(std::min(kMaxCount, task->n - off));
      void* chunk = static_cast<char*>(task->data) + off * width;
      const int rc =
          task->bf16 ? MPI_Allreduce(MPI_IN_PLACE, chunk, count, MPI_UINT16_T, bf16_sum_op(), comm)
                     : MPI_Allreduce(MPI_IN_PLACE, chunk, count, MPI_FLOAT, MPI_SUM, comm);
      if (rc != MPI_SUCCESS) error = "MPI all-reduce failed on the communication thread";
    }
    {
      std::lock_guard<std::mutex> lock(task->m);
      task->done = true;
      task->error = error;
    }
    task->cv.notify_all();
  }
}

bool TaskRequest::finished() {
  {
    std::lock_guard<std::mutex> lock(task_->m);
    if (!task_->done) return false;
  }
  wait();  // done: raises the thread's error, if any
  return true;
}

void TaskRequest::wait() {
  std::unique_lock<std::mutex> lock(task_->m);
  task_->cv.wait(lock, [&] { return task_->done; });
  if (!task_->error.empty()) throw Error(task_->error, kExitInternal);
}

std::unique_ptr<CommRequest> MpiCommunicator::enqueue(std::shared_ptr<Task> task) {
  {
    std::lock_guard<std::mutex> lock(queue_->mutex);
    queue_->tasks.push_back(task);
  }
  queue_->cv.notify_one();
  return std::make_unique<TaskRequest>(std::move(task));
}

std::unique_ptr<CommRequest> MpiCommunicator::all_reduce_sum_bf16_async(uint16_t* data, size_t n) {
  bf16_sum_op();  // created here, on the main thread, before the thread may use it
  auto task = std::make_shared<Task>();
  task->data = data;
  task->n = n;
  task->bf16 = true;
  return enqueue(std::move(task));
}

std::unique_ptr<CommRequest> MpiCommunicator::reduce_scatter_sum_async(
    float* data, const std::vector<size_t>& counts) {
  COHORT_CHECK(int(counts.size()) == world_) << "one count per rank";
  auto task = std::make_shared<Task>();
  task->data = data;
  task->n = std::accumulate(counts.begin(), counts.end(), size_t(0));
  COHORT_CHECK(task->n <= size_t(INT_MAX)) << "a reduce-scatter of at most 2^31 floats";
  task->counts.assign(counts.begin(), counts.end());
  task->rank = rank_;
  return enqueue(std::move(task));
}

std::unique_ptr<CommRequest> MpiCommunicator::all_gather_async(float* data,
                                                               const std::vector<size_t>& counts) {
  COHORT_CHECK(int(counts.size()) == world_) << "one count per rank";
  auto task = std::make_shared<Task>();
  task->data = data;
  task->n = std::accumulate(counts.begin(), counts.end(), size_t(0));
  COHORT_CHECK(task->n <= size_t(INT_MAX)) << "an all-gather of at most 2^31 floats";
  task->counts.assign(counts.begin(), counts.end());
  task->rank = rank_;
  task->gather = true;
  return enqueue(std::move(task));
}

std::unique_ptr<CommRequest> MpiCommunicator::all_reduce_sum_async(float* data, size_t n) {
  auto task = std::make_shared<Task>();
  task->data = data;
  task->n = n;
  return enqueue(std::move(task));
}

void MpiCommunicator::all_reduce_sum(float* data, size_t n) {
  for (size_t off = 0; off < n; off += kMaxCount) {
    check(MPI_Allreduce(MPI_IN_PLACE, data + off, int(std::min(kMaxCount, n - off)), MPI_FLOAT,
                        MPI_SUM, as_comm(world_comm_)),
          "all-reduce");
  }
}

void MpiCommunicator::all_reduce_sum(double* data, size_t n) {
  check(MPI_Allreduce(MPI_IN_PLACE, data, int(n), MPI_DOUBLE, MPI_SUM, as_comm(world_comm_)),
        "all-reduce");
}

void MpiCommunicator::all_reduce_max(double* data, size_t n) {
  check(MPI_Allreduce(MPI_IN_PLACE, data, int(n), MPI_DOUBLE, MPI_MAX, as_comm(world_comm_)),
        "all-reduce");
}

void MpiCommunicator::reduce_scatter_sum(float* data, const std::vector<size_t>& counts) {
  COHORT_CHECK(int(counts.size()) == world_) << "one count per rank";
  std::vector<int> c(counts.begin(), counts.end());
  size_t offset = 0;
  for (int r = 0; r < rank_; ++r) offset += counts[size_t(r)];
  // MPI_IN_PLACE for reduce-scatter puts the result at the start of the buffer; a
  // separate receive buffer keeps block rank() where callers expect it.
  std::vector<float> mine(counts[size_t(rank_)]);
  check(MPI_Reduce_scatter(data, mine.data(), c.data(), MPI_FLOAT, MPI_SUM, as_comm(world_comm_)),
        "reduce-scatter");
  std::copy(mine.begin(), mine.end(), data + offset);
}

void MpiCommunicator::all_gather(float* data, const std::vector<size_t>& counts) {
  COHORT_CHECK(int(counts.size()) == world_) << "one count per rank";
  std::vector<int> c(counts.begin(), counts.end()), displs(counts.size());
  for (size_t r = 1; r < counts.size(); ++r) displs[r] = displs[r - 1] + c[r - 1];
  check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, c.data(), displs.data(), MPI_FLOAT,
                       as_comm(world_comm_)),
        "all-gather");
}

void MpiCommunicator::broadcast(void* data, size_t bytes, int root) {
  auto* p = static_cast<char*>(data);
  for (size_t off = 0; off < bytes; off += kMaxCount) {
    check(MPI_Bcast(p + off, int(std::min(kMaxCount, bytes - off)), MPI_BYTE, root,
                    as_comm(world_comm_)),
          "broadcast");
  }
}

void MpiCommunicator::send(const void* data, size_t bytes, int dest, int tag) {
  check(MPI_Send(data, int(bytes), MPI_BYTE, dest, tag, as_comm(world_comm_)), "send");
}

void MpiCommunicator::recv(void* data, size_t bytes, int source, int tag) {
  check(MPI_Recv(data, int(bytes), MPI_BYTE, source, tag, as_comm(world_comm_), MPI_STATUS_IGNORE),
        "recv");
}

namespace {
class P2pRequest final : public CommRequest {
 public:
  // Polls with core/backoff.h rather than MPI_Wait's busy loop.
  void wait() override {
    if (done_) return;
    done_ = true;
    for (Backoff backoff;; backoff.pause()) {
      int flag = 0;
      check(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "wait");
      if (flag) return;
    }
  }
  ~P2pRequest() override {
    // Never leave MPI writing into a buffer its owner is about to free.
    if (!done_ && std::uncaught_exceptions() == 0) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};
}  // namespace

std::unique_ptr<CommRequest> MpiCommunicator::isend(const void* data, size_t bytes, int dest,
                                                    int tag) {
  COHORT_CHECK(bytes <= size_t(INT_MAX)) << "message of " << bytes << " bytes";
  auto r = std::make_unique<P2pRequest>();
  check(MPI_Isend(data, int(bytes), MPI_BYTE, dest, tag, as_comm(world_comm_), &r->request_),
        "isend");
  return r;
}

std::unique_ptr<CommRequest> MpiCommunicator::irecv(void* data, size_t bytes, int source, int tag) {
  COHORT_CHECK(bytes <= size_t(INT_MAX)) << "message of " << bytes << " bytes";
  auto r = std::make_unique<P2pRequest>();
  check(MPI_Irecv(data, int(bytes), MPI_BYTE, source, tag, as_comm(world_comm_), &r->request_),
        "irecv");
  return r;
}

int MpiCommunicator::probe(int source, int tag) {
  int flag = 0;
  MPI_Status status;
  check(MPI_Iprobe(source < 0 ? MPI_ANY_SOURCE : source, tag, as_comm(world_comm_), &flag, &status),
        "probe");
  return flag ? status.MPI_SOURCE : -1;
}

void MpiCommunicator::barrier() { check(MPI_Barrier(as_comm(world_comm_)), "barrier"); }

std::vector<std::string> MpiCommunicator::all_gather_strings(const std::string& mine) {
  int len = int(mine.size());
  std::vector<int> lens(static_cast<size_t>(world_)), displs(static_cast<size_t>(world_));
  check(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, as_comm(world_comm_)),
        "all-gather");
  for (int r = 1; r < world_; ++r) displs[size_t(r)] = displs[size_t(r - 1)] + lens[size_t(r - 1)];
  std::string all(size_t(displs.back() + lens.back()), '\0');
  check(MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR,
                       as_comm(world_comm_)),
        "all-gather");
  std::vector<std::string> out;
  for (int r = 0; r < world_; ++r)
    out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(lens[size_t(r)])));
  return out;
}

void MpiCommunicator::abort_all(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

}  // namespace cohort
