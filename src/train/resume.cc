#include "train/resume.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace cohort {

TrainingState resume_from(const LoadedCheckpoint& ck, Model& model, Optimizer* optimizer,
                          Trainer& trainer, ShardedLoader* loader) {
  if (ck.model.shape() != model.config().shape()) {
    throw Error(fmt::format("{}: checkpoint model ({}) differs from the config's ({})",
                            ck.dir.string(), ck.model.shape(), model.config().shape()));
  }
  if (ck.params_begin == 0 && ck.params.size() == model.num_params()) {
    model.upload_params(ck.params.data());
  } else {  // an fsdp rank's shard: the rest stays untouched
    COHORT_CHECK(ck.params_begin + ck.params.size() <= model.num_params())
        << "checkpoint range beyond the model";
    model.backend().memory().copy_from_host(model.params() + ck.params_begin, ck.params.data(),
                                            ck.params.size() * sizeof(float));
  }
  if (optimizer) load_optimizer_state(ck.dir, *optimizer);
  trainer.set_next_step(ck.state.step);
  if (loader) loader->restore({ck.state.step, ck.state.loader_sample});
  return ck.state;
}

std::string keep_global_batch(RunConfig& cfg, int world) {
  namespace fs = std::filesystem;
  const fs::path dir = resolve_checkpoint(fs::path(cfg.train.run_dir) / "checkpoints");
  // A checkpoint whose files do not read is left to the resume itself, which names what is
  // wrong and falls back to an older one (load_newest_good_checkpoint).
  int world_then = 0;
  RunConfig then;
  try {
    const auto state = nlohmann::json::parse(read_file(dir / "state.json"));
    const auto config = nlohmann::json::parse(read_file(dir / "config.json"));
    world_then = state.value("world", 0);
    then.apply_toml_text(config.value("cohort_run_config", ""), (dir / "config.json").string());
  } catch (const std::exception&) {
    return "";
  }
  if (world_then <= 0) return "";
  // The ranks that computed: a parameter server's servers hold no batch.
  const int written_by = then.dist.name == "ps" ? world_then - then.dist.ps_servers : world_then;
  if (written_by <= 0 || written_by == world) return "";
  const long global = long(then.train.batch_size) * then.train.grad_accum * written_by;
  TrainConfig& tc = cfg.train;
  if (global % world != 0) {
    std::string counts;
    for (long n = 1; n <= global; ++n)
      if (global % n == 0) counts += fmt::format("{}{}", counts.empty() ? "" : ", ", n);
    throw Error(fmt::format(
        "{}: its global batch of {} ({} ranks x batch_size {} x grad_accum {}) cannot be split "
        "over {} ranks; rank counts that can: {}",
        dir.string(), global, written_by, then.train.batch_size, then.train.grad_accum, world,
        counts));
  }
  const long share = global / world;
  if (share % tc.batch_size == 0) {
    tc.grad_accum = int(share / tc.batch_size);
  } else if (share % tc.grad_accum == 0) {
    tc.batch_size = int(share / tc.grad_accum);
  } else {
    long b = std::min<long>(tc.batch_size, share);
    while (share % b != 0) --b;
    tc.batch_size = int(b);
    tc.grad_accum = int(share / b);
  }
  return fmt::format(
      "resume: written by {} ranks, now {}: the global batch of {} kept as batch_size {} x "
      "grad_accum {} per rank",
      written_by, world, global, tc.batch_size, tc.grad_accum);
}

}  // namespace cohort
