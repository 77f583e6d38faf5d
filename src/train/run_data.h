// The data a run trains and validates on: a prepared token dataset (ShardedLoader over
// its train split, the val split's tokens), generated tokens (--synthetic), or a task
// dataset (cohort prepare genre | translation). Opening it also settles the model's
// vocabulary (and classes) from the data.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/batch_source.h"
#include "data/sharded_loader.h"
#include "data/task_dataset.h"
#include "dist/communicator.h"
#include "train/run_config.h"

namespace cohort {

// The data a run trains and validates on.
struct RunData {
  std::unique_ptr<BatchSource> train;
  std::string fingerprint;          // what every rank must agree on
  ShardedLoader* loader = nullptr;  // train as a ShardedLoader, when it is one
  std::vector<int32_t> val;         // empty: no validation split
  long val_words = 0;
  std::optional<std::filesystem::path> tokenizer_dir;
  std::string describe;
  // The encoder and seq2seq tasks: samples instead of token streams.
  std::optional<TaskInfo> task;
  std::vector<TaskSample> task_train, task_val;
};

// Throws cohort::Error naming `where` and the field or file. Without load_tokens only the
// fingerprint and vocabulary are resolved (a parameter server's need).
RunData open_data(RunConfig& cfg, bool synthetic, const std::string& where,
                  const Communicator& comm, bool load_tokens);

}  // namespace cohort
