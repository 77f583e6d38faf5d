#include "train/stop_signal.h"

#include <csignal>

namespace cohort {

namespace {

volatile std::sig_atomic_t g_signal = 0;

void on_stop_signal(int signal) {
  g_signal = signal;
  // The next one is not intercepted.
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_DFL);
}

}  // namespace

void install_stop_handlers() {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
}

int stop_signal() { return g_signal; }

const char* signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "a signal";
  }
}

}  // namespace cohort
