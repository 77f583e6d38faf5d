// Checkpoints, laid out as design.md says:
//   RUN_DIR/checkpoints/step-N/  model.safetensors  HF GPT-2 names (fsdp: the shard set
//                                                   model-rank-R-of-N.safetensors and
//                                                   model.index.json, io/shard_set.h)
//                                config.json        GPT2Config + cohort's run config
//                                optimizer.safetensors  state buffers (+ step count)
//                                state.json         step, loader position, LR, seed,
//                                                   early-stopping record
//                                tokenizer/         the data's tokenizer
//                                MANIFEST           each file's size and FNV-1a 64
//   RUN_DIR/checkpoints/latest   names the newest complete checkpoint
//   RUN_DIR/checkpoints/best     names the one with the lowest validation loss
// A checkpoint is written into step-N.tmp, every file fsynced, then renamed; `latest`
// is switched by an atomic rename. Only the newest keep_last (and the best) are kept.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/parameter_layout.h"
#include "data/tokenizer.h"
#include "dist/communicator.h"
#include "model/model_config.h"
#include "optim/optimizer.h"

namespace cohort {

struct TrainingState {
  long step = 0;               // steps completed
  uint64_t loader_sample = 0;  // global sample the next step starts at
  uint64_t seed = 0;
  float lr = 0.0f;  // of the last step taken
  double best_val_loss = std::numeric_limits<double>::infinity();
  long best_step = -1;
  int evals_since_best = 0;
  int world = 0;  // ranks of the run that wrote it (0: not recorded, older checkpoints)

  // The early-stopping record after a validation at `step`; true on a new best.
  bool record_validation(double val_loss, long at_step) {
    if (val_loss < best_val_loss) {
      best_val_loss = val_loss;
      best_step = at_step;
      evals_since_best = 0;
      return true;
    }
    ++evals_since_best;
    return false;
  }
};

struct CheckpointContents {
  const ModelConfig* model = nullptr;
  const ParameterLayout* layout = nullptr;
  const float* params = nullptr;  // read on rank 0 only, through params_space
  MemorySpace* params_space = &host_memory();
  // fsdp: each rank holds only flat [params_begin, params_end) of params, and writes it to
  // the model's shard set in place of rank 0's model.safetensors.
  bool params_sharded = false;
  size_t params_begin = 0, params_end = 0;
  Optimizer* optimizer = nullptr;  // this rank's: the whole buffer, a shard, or none
  // The optimizer is this rank's own part of the state even if it spans the whole
  // buffer (a lone parameter server), not a replica that rank 0 writes for everyone.
  bool optimizer_is_part = false;
  const std::filesystem::path* tokenizer_dir = nullptr;  // copied in; may be null
  std::string run_config_toml;
  TrainingState state;
};

// Writes RUN_DIR/checkpoints/step-N and points `latest` (and `best` if is_best) at it;
// prunes older ones beyond keep_last. Returns the checkpoint directory. Every rank
// calls it: an optimizer that covers the whole buffer is written by rank 0 as
// optimizer.safetensors; a sharded one (ZeRO-1, a parameter server's servers) by its
// rank as optimizer-rank-R-of-N.safetensors holding its range; rank 0 writes the rest
// and renames the directory into place once every shard is there.
std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir,
                                      const CheckpointContents& c, int keep_last, bool is_best,
                                      Communicator& comm);

// Accepts a checkpoint directory, a run directory, RUN_DIR/checkpoints (following
// `latest`), or the pointer file RUN_DIR/checkpoints/latest or .../best itself. Throws
// cohort::Error if there is none.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& path);

struct LoadedCheckpoint {
  std::filesystem::path dir;
  ModelConfig model;
  // Layout order: the whole buffer, or, where load_checkpoint was given a range, flat
  // [params_begin, params_begin + params.size()) of it.
  std::vector<float> params;
  size_t params_begin = 0;
  std::string run_config_toml;
  TrainingState state;
  std::unique_ptr<Tokenizer> tokenizer;  // null if the checkpoint has none
};

// Verifies the MANIFEST, then reads model (model.safetensors, or the model shard set
// consolidated), config, state and tokenizer. Each problem is one cohort::Error naming the
// file.
// range: only flat [first, second) of the parameters (an fsdp rank's shard; from a shard
// set only the files holding part of it are read).
using ParamRange = std::pair<size_t, size_t>;
LoadedCheckpoint load_checkpoint(const std::filesystem::path& dir,
                                 const std::optional<ParamRange>& range = std::nullopt);
// For --resume: the checkpoint `latest` names if it loads, else the newest older one
// that does; each one skipped is reported through warn with what was wrong with it.
// Throws cohort::Error if none loads.
LoadedCheckpoint load_newest_good_checkpoint(const std::filesystem::path& run_dir,
                                             const std::function<void(const std::string&)>& warn,
                                             const std::optional<ParamRange>& range = std::nullopt);
// Restores the optimizer's [begin, end) of each state buffer and its step count from
// dir/optimizer.safetensors or from the per-rank shard files, whatever number of ranks
// wrote them.
void load_optimizer_state(const std::filesystem::path& dir, Optimizer& optimizer);

}  // namespace cohort
