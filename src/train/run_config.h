// RunConfig: everything a run is made of, as dotted keys (model.n_layer, train.lr,
// ...). Resolved in order: built-in defaults < TOML file (--config) < command-line
// flags < --set key=value. Unknown keys and values of the wrong type are errors that
// name the source and the key. The resolved config is printed by --dump-config and
// will be stored in every checkpoint.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dist/strategy.h"
#include "model/model_config.h"
#include "optim/optimizer.h"
#include "train/train_config.h"

namespace cohort {

struct DataConfig {
  int synthetic_branching = 4;  // successors per token in --synthetic data; 0: uniform
};

struct RunConfig {
  RunConfig() { model.vocab_size = 0; }  // taken from the dataset unless set
  ModelConfig model;
  OptimizerConfig optim;
  TrainConfig train;
  DataConfig data;
  StrategyConfig dist;

  // Applies a TOML document; `source` names it in errors. Throws cohort::Error.
  void apply_toml_file(const std::string& path);
  void apply_toml_text(const std::string& text, const std::string& source);
  // "key=value"; value in TOML syntax, or a bare word for a string key. `source` names
  // where it came from in errors ("--set", or the shortcut flag such as "--steps").
  void apply_override(const std::string& assignment, const std::string& source = "--set");
  // model.arch from train.task where left at gpt; n_decoder_layer from n_layer where 0.
  void resolve_task();
  // Checks every section; throws cohort::Error naming the field.
  void validate(const std::string& where = "config") const;
  std::string to_toml() const;
  // One line per key: name, type, default, help (for --help-config).
  static std::string describe_keys();
  // The built-in default of one key, as TOML text (for --help).
  static std::string default_of(const std::string& key);
};

// What the CUDA backend does not run yet, refused before any work starts: the parameter
// server, bf16 on the wire. No-op for the CPU.
void check_backend_supports(const TrainConfig& train, const StrategyConfig& dist);

}  // namespace cohort
