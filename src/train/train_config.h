// How to train: batch shape, step count, learning-rate schedule, clipping, seeds.
// Resolved from defaults, a TOML file and --set overrides by RunConfig (run_config.h).
#pragma once

#include <cstdint>
#include <string>

#include "backend/make_backend.h"  // validate_backend_choice, resolve_precision

namespace cohort {

struct TrainConfig {
  int batch_size = 8;  // B per micro-batch (per rank, once there are ranks)
  int seq_len = 64;    // T
  int grad_accum = 1;  // micro-batches per optimizer step
  long steps = 200;
  float lr = 1e-3f;
  float min_lr = 1e-4f;
  long warmup = 20;
  float grad_clip = 1.0f;  // global norm; 0 disables
  std::string recompute =
      "none";  // none | attention | block: activations kept for backward (model/recompute.h)
  uint64_t seed = 1337;            // init, data and dropout
  int threads = 0;                 // 0: OMP_NUM_THREADS or all cores
  std::string backend = "cpu";     // cpu | cuda (one GPU per rank)
  std::string precision = "auto";  // auto | fp32 | bf16 | fp16: the CUDA backend's matmuls
  std::string resolved_precision() const { return resolve_precision(backend, precision); }
  int log_every = 10;
  int max_bad_steps = 5;  // non-finite steps in a row (each skipped) before the run stops

  // lm: next-token prediction (the GPT). mlm, classify: the encoder (masked LM; genre
  // classification from its pooled [CLS]). translate: the encoder-decoder. The last
  // three read a task dataset (cohort prepare genre | translation).
  std::string task = "lm";
  std::string init_from;         // a checkpoint whose tensors of the same name seed the model
  float label_smoothing = 0.1f;  // translate

  // Run-level settings; top-level keys in the TOML (data_dir = ..., not [train]).
  std::string data_dir;       // a prepared dataset (cohort prepare); empty: --synthetic
  std::string run_dir;        // metrics.jsonl and checkpoints/; empty: none
  long eval_every = 0;        // steps between validations; 0: only at the end
  long eval_tokens = 0;       // validation tokens scored each time; 0: the whole split
  long checkpoint_every = 0;  // steps between checkpoints; 0: only at the end
  int keep_checkpoints = 3;   // newest checkpoints kept (plus the best)
  int patience = 0;           // stop after this many validations without improvement; 0: never

  // Throws cohort::Error naming the field. context_length bounds seq_len.
  void validate(int context_length, const std::string& where = "config") const;
};

}  // namespace cohort
