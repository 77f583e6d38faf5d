// CommWatchdog: stops a job whose ranks stopped meeting. Each rank marks the collective
// regions of its step loop (watch() ... the guard's end) in the same order; entering
// one sends rank 0 a check-in (sequence number, region, step) on a communicator of its
// own. A thread on rank 0 collects them: once some rank has waited `timeout` seconds in
// region k while others never checked in to it, it prints which region, which step and
// which ranks never arrived, and aborts the job (exit code kExitHang). A thread on every
// rank also aborts if its own region outlasts 2 x timeout (all arrived, yet the
// collective never finished: a dead link). Ranks may also note each collective they start
// (note(): a check-in without a region; WatchedCommunicator notes every collective of the
// strategy): where two ranks' check-ins with the same sequence number name different
// collectives, one rank skipped or added one, and rank 0 stops the job at once, naming
// the ranks that differ from the most common one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dist/communicator.h"

namespace cohort {

inline constexpr int kExitHang = 5;

class CommWatchdog {
 public:
  // Ends every rank of the job with exit_code (abort_every_rank, communicator.h).
  using AbortJob = void (*)(int exit_code);
  // comm: the ranks that meet in the watched regions. timeout <= 0 or one rank: off.
  CommWatchdog(Communicator& comm, double timeout_seconds, AbortJob abort_job);
  ~CommWatchdog();

  class Guard {
   public:
    explicit Guard(CommWatchdog* w) : w_(w) {}
    Guard(Guard&& o) noexcept : w_(o.w_) { o.w_ = nullptr; }
    ~Guard() {
      if (w_) w_->leave();
    }

   private:
    CommWatchdog* w_;
  };
  // `what` is copied (at most 111 characters are kept).
  [[nodiscard]] Guard watch(const char* what, long step);
  // A collective started now, outside any region; tagged with the step begin_step named.
  void note(const std::string& what);
  void begin_step(long step);
  bool active() const { return thread_.joinable(); }

  struct CheckIn {
    int64_t seq = 0;
    int64_t step = 0;
    char what[112] = {};
  };

 private:
  void leave();
  void check_in(const CheckIn& c);  // with mutex_ held
  void monitor();
  [[noreturn]] void abort_job(const std::string& message);

  std::unique_ptr<Communicator> own_;  // check-ins travel here
  double timeout_ = 0;
  AbortJob abort_job_;
  int rank_ = 0, world_ = 1;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int64_t seq_ = 0;  // regions entered by this rank
  bool inside_ = false;
  double entered_at_ = 0;  // seconds on a steady clock
  CheckIn current_;
  std::deque<std::unique_ptr<CommRequest>> sends_;
  std::deque<CheckIn> outbox_;         // buffers of the sends in flight (a deque: they never move)
  std::deque<CheckIn> own_check_ins_;  // rank 0's own, for its monitor to compare
  long step_ = 0;                      // begin_step's
  std::thread thread_;
};

}  // namespace cohort
