// Backoff: the pause between two polls of something another process will finish.
// A short spin of yields (an answer is often moments away), then sleeps of up to
// 200 us. On an oversubscribed machine a rank that busy-waits, as MPI's blocking calls
// do, takes the core another rank needs to produce the answer.
#pragma once

#include <chrono>
#include <thread>

namespace cohort {

class Backoff {
 public:
  void pause() {
    if (tries_ < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(tries_ < 512 ? 20 : 200));
    }
    ++tries_;
  }

 private:
  int tries_ = 0;
};

}  // namespace cohort
