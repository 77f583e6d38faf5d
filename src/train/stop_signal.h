// Preemption: SIGTERM (what schedulers send before they kill a job) and SIGINT (Ctrl-C)
// ask the training loop to finish its step, write a checkpoint and exit 0, so the job
// can be requeued and resumed. A second signal of either kind ends the process at
// once, as it would without the handler.
#pragma once

namespace cohort {

void install_stop_handlers();
// The signal that asked this process to stop (SIGTERM, SIGINT), or 0.
int stop_signal();
const char* signal_name(int signal);

}  // namespace cohort
