// What a parameter-server run's ranks agree on at a cut step (dist/parameter_server.h:
// every worker and server holds the same parameters there): rank 0 decides after
// validating and broadcasts a CutControl to every rank, servers included, so that they
// join the checkpoint's collectives and stop together.
#pragma once

#include <cstdint>
#include <string>

#include "dist/communicator.h"
#include "dist/ps_roles.h"
#include "train/run_config.h"

namespace cohort {

struct CutControl {
  int32_t save = 0;     // write a checkpoint of step `done` now
  int32_t is_best = 0;  // ... and point `best` at it
  int32_t stop = 0;     // the run ends after it
};

// The steps after which a run may validate, checkpoint or end: every eval_every and
// checkpoint_every steps, --stop-at, and the last step.
bool is_cut_step(long done, const TrainConfig& tc, long stop_at);

// A server rank's whole part in `cohort train`: initial (or resumed) parameters of its
// range, serving until rank 0 says stop, its optimizer shard in every checkpoint.
// Returns the exit code.
int run_parameter_server(RunConfig& cfg, const std::string& data_fingerprint, long stop_at,
                         bool resume, Communicator& world, Communicator& servers,
                         const PsRoles& roles);

// Every rank's one-line account of its part, printed by rank 0 (a collective).
void print_rank_summaries(Communicator& world, const std::string& mine);

}  // namespace cohort
