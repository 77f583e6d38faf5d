// Start-up and end-of-run checks that the ranks of a data-parallel run are running
// the same job. Each throws cohort::CollectiveError on every rank at once (they compare
// notes in a collective first), naming the field and the first rank that differs, so a
// mismatch stops the whole job with one line instead of a hang or a silent divergence.
#pragma once

#include <string>

#include "core/memory_space.h"
#include "core/parameter_layout.h"
#include "dist/communicator.h"

namespace cohort {

// config: the resolved run config as text; data: a fingerprint of the training data.
void check_ranks_agree(Communicator& comm, const std::string& config, const ParameterLayout& layout,
                       const std::string& data);

// For start-up errors that may hit some ranks and not others (a config, a missing
// file): every rank passes its own error message (empty: none) and exit code, and if
// any rank failed every rank throws the same CollectiveError: the message itself when
// all ranks failed alike, else the first failing rank's prefixed with its rank.
void raise_if_any_failed(Communicator& comm, const std::string& error, int exit_code);

// NCCL takes one GPU per rank and refuses a GPU two ranks share, with an error that does
// not say which ranks or why ("invalid usage"). device: this rank's GPU as "host PCI-bus-id";
// throws on every rank, naming the first two ranks that share one, before NCCL starts.
void check_devices_distinct(Communicator& comm, const std::string& device);

// After training: every rank's parameters must be bit-identical to rank 0's. params (n)
// lie in `space` (copied to the host to be hashed when that is a GPU's).
void check_replicas_identical(Communicator& comm, const float* params, size_t n,
                              MemorySpace& space = host_memory());

}  // namespace cohort
