// A training task: the model family it trains, the micro-batches of each step, and its
// validation with the task's own metrics.
//   lm         the GPT on a token stream (validation: loss per token of the val split)
//   mlm        the encoder on passages, masked-LM loss
//   classify   the encoder on passages, loss, accuracy and macro-F1
//   translate  the encoder-decoder on pairs, loss per target token
// The task owns its model, built as its family, so nothing in the run casts a Model to
// the family it is.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "backend/backend.h"
#include "dist/communicator.h"
#include "model/model.h"
#include "train/run_config.h"
#include "train/run_data.h"
#include "train/trainer.h"

namespace cohort {

struct Validation {
  double loss = 0.0;  // mean per predicted token, or per passage for classify
  std::string text;   // the task's further metrics for the progress line (" | accuracy ...")
  nlohmann::json fields = nlohmann::json::object();  // the same for the eval line
};

class Task {
 public:
  virtual ~Task() = default;
  virtual Model& model() = 0;
  // The micro-batches of every training step (config batch_size per rank).
  virtual MicroBatches& batches() = 0;
  // Whether the data has a validation split.
  virtual bool can_validate() const = 0;
  // The mean over the ranks of comm; nullopt without a validation split. whole: all of
  // the split; else the periodic validation (lm: the first train.eval_tokens tokens).
  virtual std::optional<Validation> validate(bool whole) = 0;
  // What the progress line counts, and how many of them a sample is.
  virtual const char* unit() const = 0;
  virtual long units_per_sample() const = 0;
};

// The task of cfg.train.task on `data` (opened for it by open_data), its model built on
// `backend` (weights not yet initialized); comm: the ranks that compute.
std::unique_ptr<Task> make_task(const RunConfig& cfg, Backend& backend, RunData& data,
                                Communicator& comm);

}  // namespace cohort
