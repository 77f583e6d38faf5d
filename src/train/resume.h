// Puts a run back where a checkpoint left it. The one resume that `cohort train --resume`
// (train/run.cc) and the tests (tests/train/device_path_test.cc) both call.
#pragma once

#include <string>

#include "data/sharded_loader.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "train/checkpoint.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace cohort {

// The checkpoint's parameters into `model`, its optimizer shard into `optimizer` (null
// where this rank keeps no optimizer state: a parameter server's worker), its step into
// `trainer`, its sample position into `loader` (null: data without one). Throws
// cohort::Error naming the checkpoint when its model's shape is not `model`'s. Returns
// the checkpoint's training state; the caller then starts the strategy at its step.
TrainingState resume_from(const LoadedCheckpoint& ck, Model& model, Optimizer* optimizer,
                          Trainer& trainer, ShardedLoader* loader);

// Before a resume on another number of ranks: the checkpoint's global batch (its computing ranks x
// batch_size x grad_accum) is kept by giving this run's ranks the share it needs, this
// config's batch_size kept where it divides that share, else its grad_accum, else the
// largest batch_size under this one that divides it. Nothing changes when the checkpoint
// was written by as many ranks, or records none. Throws cohort::Error (exit 2) when the
// global batch cannot be split over `world` ranks, naming the rank counts that can. Returns
// a line saying what changed, or "".
std::string keep_global_batch(RunConfig& cfg, int world);

}  // namespace cohort
