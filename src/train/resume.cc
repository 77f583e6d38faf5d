#include "train/resume.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

TrainingState resume_from(const LoadedCheckpoint& ck, Model& model, Optimizer* optimizer,
                          Trainer& trainer, ShardedLoader* loader) {
  if (ck.model.shape() != model.config().shape()) {
    throw Error(fmt::format("{}: checkpoint model ({}) differs from the config's ({})",
                            ck.dir.string(), ck.model.shape(), model.config().shape()));
  }
  model.upload_params(ck.params.data());
  if (optimizer) load_optimizer_state(ck.dir, *optimizer);
  trainer.set_next_step(ck.state.step);
  if (loader) loader->restore({ck.state.step, ck.state.loader_sample});
  return ck.state;
}

}  // namespace cohort
