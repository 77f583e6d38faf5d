#include "dist/comm_watchdog.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace cohort {

namespace {
constexpr int kCheckInTag = 7201;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", ranks[i]);
  return s;
}
}  // namespace

CommWatchdog::CommWatchdog(Communicator& comm, double timeout_seconds, AbortJob abort_job)
    : timeout_(timeout_seconds), abort_job_(abort_job), rank_(comm.rank()), world_(comm.world()) {
  if (timeout_ <= 0 || world_ < 2) return;
  own_ = comm.split(0);
  thread_ = std::thread([this] { monitor(); });
}

CommWatchdog::~CommWatchdog() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (auto& s : sends_) s->wait();
}

CommWatchdog::Guard CommWatchdog::watch(const char* what, long step) {
  if (!thread_.joinable()) return Guard(nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  CheckIn c;
  c.seq = ++seq_;
  c.step = step;
  std::snprintf(c.what, sizeof c.what, "%s", what);
  current_ = c;
  inside_ = true;
  entered_at_ = now();
  if (rank_ != 0) {
    // Completed sends are dropped; the outbox keeps the buffers of those in flight.
    while (!sends_.empty() && sends_.size() > 64) {
      sends_.front()->wait();
      sends_.pop_front();
      outbox_.pop_front();
    }
    outbox_.push_back(c);
    sends_.push_back(own_->isend(&outbox_.back(), sizeof(CheckIn), 0, kCheckInTag));
  }
  return Guard(this);
}

void CommWatchdog::leave() {
  std::lock_guard<std::mutex> lock(mutex_);
  inside_ = false;
}

void CommWatchdog::abort_job(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "\ncohort: error: %s\n", message.c_str());
  std::fflush(stderr);
  abort_job_(kExitHang);
  std::_Exit(kExitHang);  // abort_job_ does not return; this keeps [[noreturn]] honest
}

void CommWatchdog::monitor() {
  // Rank 0: the newest check-in of every rank, and when each region was first entered.
  std::vector<int64_t> arrived(size_t(world_), 0);
  std::vector<CheckIn> last(static_cast<size_t>(world_));
  std::deque<std::pair<int64_t, double>> first_entry;  // (seq, time), oldest first
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stopping_; });
      if (stopping_) return;
      if (inside_ && now() - entered_at_ > 2 * timeout_) {
        const CheckIn c = current_;
        const double waited = now() - entered_at_;
        lock.unlock();
        abort_job(
            fmt::format("rank {}: {} at step {} has not finished after {:.0f} s "
                        "(--comm-timeout {:g}); every rank arrived, so a link or a "
                        "rank's network stack is stuck",
                        rank_, c.what, c.step, waited, timeout_));
      }
      if (rank_ == 0) {
        arrived[0] = seq_;
        last[0] = current_;
        if (first_entry.empty() || first_entry.back().first < seq_) {
          if (inside_) first_entry.emplace_back(seq_, entered_at_);
        }
      }
    }
    if (rank_ != 0) continue;
    for (int from = own_->probe(-1, kCheckInTag); from >= 0; from = own_->probe(-1, kCheckInTag)) {
      CheckIn c;
      own_->recv(&c, sizeof c, from, kCheckInTag);
      arrived[size_t(from)] = c.seq;
      last[size_t(from)] = c;
      if (first_entry.empty() || first_entry.back().first < c.seq) {
        first_entry.emplace_back(c.seq, now());
      }
    }
    const int64_t slowest = *std::min_element(arrived.begin(), arrived.end());
    while (!first_entry.empty() && first_entry.front().first <= slowest) first_entry.pop_front();
    if (first_entry.empty() || now() - first_entry.front().second <= timeout_) continue;
    const int64_t seq = first_entry.front().first;
    std::vector<int> missing, waiting;
    CheckIn region;
    std::snprintf(region.what, sizeof region.what, "a collective");
    for (int r = 0; r < world_; ++r) {
      if (arrived[size_t(r)] < seq) {
        missing.push_back(r);
      } else {
        waiting.push_back(r);
        if (last[size_t(r)].seq == seq) region = last[size_t(r)];
      }
    }
    abort_job(
        fmt::format("{} at step {}: rank{} {} waited {:.1f} s (--comm-timeout {:g}) for "
                    "rank{} {}, which never arrived",
                    region.what, region.step, waiting.size() > 1 ? "s" : "", rank_list(waiting),
                    now() - first_entry.front().second, timeout_, missing.size() > 1 ? "s" : "",
                    rank_list(missing)));
  }
}

}  // namespace cohort
