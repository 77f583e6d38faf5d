// Puts a run back where a checkpoint left it. The one resume that `cohort train --resume`
// (train/run.cc) and the tests (tests/train/device_path_test.cc) both call.
#pragma once

#include "data/sharded_loader.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace cohort {

// The checkpoint's parameters into `model`, its optimizer shard into `optimizer` (null
// where this rank keeps no optimizer state: a parameter server's worker), its step into
// `trainer`, its sample position into `loader` (null: data without one). Throws
// cohort::Error naming the checkpoint when its model's shape is not `model`'s. Returns
// the checkpoint's training state; the caller then starts the strategy at its step.
TrainingState resume_from(const LoadedCheckpoint& ck, Model& model, Optimizer* optimizer,
                          Trainer& trainer, ShardedLoader* loader);

}  // namespace cohort
