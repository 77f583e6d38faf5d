// The memory planner: what one rank will hold, counted before the model exists, so a run
// that cannot fit is refused at start-up with one line rather than killed halfway.
//   parameters, gradients  the flat buffers (4 bytes a parameter each);
//   optimizer              AdamW's two moments or SGD's momentum, over the rank's shard
//                          (zero1, zero2, fsdp: 1/N of the buffer; a parameter server's
//                          worker: none); zero2 and fsdp also hold only their shard of the
//                          gradients and the buckets in flight, fsdp only its shard of the
//                          parameters, the embeddings and the blocks in use or in flight;
//   activations            every buffer the model's plan allocates for its task's batch,
//                          counted by building and planning the model on PlanningBackend
//                          (the model's own code, no memory), with the other
//                          train.recompute setting beside it;
//   communication          the strategy's own buffers (the bf16 wire's copy);
//   process                what the process holds already: libraries, the data it loaded.
// The activations are what the plan allocates: the worst case, every batch at the task's
// longest sample. Host buffers of 1 MB and more are mapped untouched (host_memory()), so a
// run whose batches are shorter (the encoder's, the translator's) holds less.
// On the CUDA backend the first four are device memory; the limit is the host's, so they
// are shown but not held against it.
#pragma once

#include <cstddef>
#include <string>

#include "backend/backend.h"
#include "dist/communicator.h"
#include "train/run_config.h"
#include "train/run_data.h"

namespace cohort {

struct MemoryPlan {
  int world = 1;
  std::string strategy, recompute, other_recompute, optimizer_name;
  bool device = false;  // the model's buffers are in a device's memory, not the host's
  size_t params = 0, grads = 0, optimizer = 0, activations = 0, other_activations = 0;
  size_t comm = 0, process = 0;
  size_t host_total() const;  // what the host limit is checked against
  size_t total() const;
  std::string summary() const;  // one line
  std::string table() const;    // a line per term
};

// world: the ranks that share the optimizer shards (comm.world() in a run, --world for
// cohort plan). Builds the task's model on a PlanningBackend over `backend`.
MemoryPlan plan_memory(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm,
                       int world);

// "4G", "512M", "1.5G", "0" (no limit), or "" (the default: the memory this process may
// still take, the host's available memory or its cgroup's limit, shared by the ranks on
// this host). Bytes; 0 means no limit. Throws cohort::Error naming `flag` on bad text.
size_t memory_limit_bytes(const std::string& text, const std::string& flag);

// The setting closest to cfg's that fits `limit` ("--strategy fsdp --recompute block would
// fit (1830.7 MB per rank)"): recomputation, then each ZeRO stage beyond cfg's, each
// planned; empty where none does.
std::string fitting_setting(const RunConfig& cfg, Backend& backend, RunData& data,
                            Communicator& comm, int world, size_t limit);

// Throws cohort::Error (exit 2) when the plan's host total exceeds limit (0: none): one
// line naming the largest term and `fits` (fitting_setting's), or, without it, a setting
// that would shrink that term.
void check_memory_plan(const MemoryPlan& plan, size_t limit, const std::string& limit_source,
                       const std::string& fits = "");

}  // namespace cohort
