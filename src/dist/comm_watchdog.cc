#include "dist/comm_watchdog.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

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

// The ranks at one sequence number disagree: those off the most common collective (ties:
// rank 0's side) are named.
std::string mismatch_message(int64_t seq, const std::vector<const CommWatchdog::CheckIn*>& slot) {
  std::map<std::string, std::vector<int>> by;
  for (size_t r = 0; r < slot.size(); ++r) {
    if (slot[r]) by[fmt::format("{} at step {}", slot[r]->what, slot[r]->step)].push_back(int(r));
  }
  auto usual = by.begin();
  for (auto it = by.begin(); it != by.end(); ++it) {
    const bool has_zero = !it->second.empty() && it->second.front() == 0;
    if (it->second.size() > usual->second.size() ||
        (it->second.size() == usual->second.size() && has_zero))
      usual = it;
  }
  std::string odd;
  for (auto it = by.begin(); it != by.end(); ++it) {
    if (it == usual) continue;
    odd += fmt::format("{}rank{} {} {} in {}", odd.empty() ? "" : "; ",
                       it->second.size() > 1 ? "s" : "", rank_list(it->second),
                       it->second.size() > 1 ? "are" : "is", it->first);
  }
  return fmt::format(
      "collective {}: {}, where rank{} {} {} in {}: the ranks' collectives differ "
      "(a rank skipped or added one)",
      seq, odd, usual->second.size() > 1 ? "s" : "", rank_list(usual->second),
      usual->second.size() > 1 ? "are" : "is", usual->first);
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

void CommWatchdog::check_in(const CheckIn& c) {
  if (rank_ == 0) {
    own_check_ins_.push_back(c);
    return;
  }
  // Completed sends are dropped; the outbox keeps the buffers of those in flight.
  while (!sends_.empty() && sends_.size() > 64) {
    sends_.front()->wait();
    sends_.pop_front();
    outbox_.pop_front();
  }
  outbox_.push_back(c);
  sends_.push_back(own_->isend(&outbox_.back(), sizeof(CheckIn), 0, kCheckInTag));
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
  check_in(c);
  return Guard(this);
}

void CommWatchdog::note(const std::string& what) {
  if (!thread_.joinable()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  CheckIn c;
  c.seq = ++seq_;
  c.step = step_;
  std::snprintf(c.what, sizeof c.what, "%s", what.c_str());
  check_in(c);
}

void CommWatchdog::begin_step(long step) {
  std::lock_guard<std::mutex> lock(mutex_);
  step_ = step;
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
  // Per sequence number not yet passed by every rank: each rank's check-in there, and when
  // two first differed (the verdict waits a moment for the other ranks' check-ins).
  std::map<int64_t, std::vector<const CheckIn*>> at_seq;
  std::map<int64_t, double> differ_since;
  std::deque<CheckIn> kept;  // the check-ins at_seq points into
  auto record = [&](int from, const CheckIn& c) {
    kept.push_back(c);
    auto& slot = at_seq[c.seq];
    slot.resize(size_t(world_), nullptr);
    slot[size_t(from)] = &kept.back();
    for (const CheckIn* o : slot) {
      if (o && (std::strcmp(o->what, c.what) != 0 || o->step != c.step) &&
          !differ_since.count(c.seq))
        differ_since[c.seq] = now();
    }
  };
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
        for (const CheckIn& c : own_check_ins_) record(0, c);
        own_check_ins_.clear();
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
      record(from, c);
      if (first_entry.empty() || first_entry.back().first < c.seq) {
        first_entry.emplace_back(c.seq, now());
      }
    }
    const int64_t slowest = *std::min_element(arrived.begin(), arrived.end());
    for (const auto& [seq, since] : differ_since) {
      const auto& slot = at_seq[seq];
      const bool all_in = std::all_of(slot.begin(), slot.end(), [](auto* p) { return p; });
      if (all_in || now() - since > 1.0) abort_job(mismatch_message(seq, slot));
    }
    while (!at_seq.empty() && at_seq.begin()->first <= slowest) at_seq.erase(at_seq.begin());
    while (kept.size() > 4096 && (at_seq.empty() || kept.front().seq < at_seq.begin()->first))
      kept.pop_front();
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
