#include <fmt/format.h>

#include "train/ps_run.h"

namespace cohort {

bool is_cut_step(long done, const TrainConfig& tc, long stop_at) {
  return done >= tc.steps || (tc.eval_every > 0 && done % tc.eval_every == 0) ||
         (tc.checkpoint_every > 0 && done % tc.checkpoint_every == 0) ||
         (stop_at > 0 && done == stop_at);
}

void print_rank_summaries(Communicator& world, const std::string& mine) {
  const auto all = world.all_gather_strings(mine);
  if (world.rank() != 0) return;
  for (const auto& line : all) fmt::print("{}\n", line);
}

}  // namespace cohort
