// The run of `cohort train` (run.cc): the CLI parses flags into a config and RunOptions
// and calls run_training once.
#pragma once

#include <string>

#include "train/fault_injection.h"
#include "train/run_config.h"

namespace cohort {

struct RunOptions {
  std::string where = "config";  // names the config in errors (its file, or "config")
  bool synthetic = false;        // generated token sequences instead of a dataset
  bool resume = false;           // continue from the run directory's newest checkpoint
  long stop_at = 0;              // stop after this step with a checkpoint (0: never)
  std::string rank_logs;         // each rank writes its progress lines to DIR/rank-R.log
  TestFaults faults;             // tests only: injected by decorators
  // The memory planner (train/memory_plan.h): the limit a rank's plan must fit ("": the
  // memory available; "0": none), and plan_world > 0: print the plan for that many ranks
  // and exit without training (cohort plan).
  std::string memory_limit;
  int plan_world = 0;
};

// Trains; returns the process exit code. Throws cohort::Error (or CollectiveError) for
// bad input and failures, naming the file and field.
int run_training(RunConfig cfg, const RunOptions& options);

}  // namespace cohort
