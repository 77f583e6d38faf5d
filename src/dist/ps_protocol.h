// The messages between a parameter server's workers and servers (MPI point-to-point
// on the job's communicator). A worker sends a request; a push is followed by the
// gradient of the server's range (tag kPsGradient). A server answers a pull, and the
// pull that every push implies (the parameters for step + 1), with a reply followed
// by its range of the parameters (tag kPsParams), once the staleness bound allows.
#pragma once

#include <cstdint>

#include "dist/communicator.h"

namespace cohort {

inline constexpr int kPsRequest = 7101;
inline constexpr int kPsGradient = 7102;
inline constexpr int kPsReply = 7103;
inline constexpr int kPsParams = 7104;

enum PsRequestKind : int32_t { kPsPull = 1, kPsPush = 2 };

struct PsRequest {
  int64_t step = 0;  // pull: parameters for this step; push: the gradient of this step
  int32_t kind = kPsPull;
  float lr = 0.0f;   // push: the learning rate of `step`
  int32_t skip = 0;  // push: the worker's loss was not finite; do not apply
  int32_t pad = 0;
};

// What a server has done so far, sent with every reply.
struct PsServerStats {
  int64_t version = 0;        // updates applied to the server's range
  int64_t applied = 0;        // gradients applied (sync: W per update)
  int64_t staleness_sum = 0;  // over applied gradients
  int64_t staleness_max = 0;
  int64_t lead_max = 0;   // most steps a worker was ahead of the slowest at a pull
  int64_t bytes_in = 0;   // gradient and request bytes received
  int64_t bytes_out = 0;  // reply and parameter bytes sent
};

struct PsReply {
  float grad_norm = 0.0f;  // sync: the global norm of the mean gradient before clipping
  int32_t applied = 1;     // sync: 0 if the step was skipped (not finite)
  PsServerStats stats;
};

// Waits until a message with `tag` from `source` (-1: any rank) has arrived and returns
// its source. Probes with core/backoff.h's pauses instead of MPI's busy wait.
int wait_for_message(Communicator& comm, int source, int tag);

}  // namespace cohort
