// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_: if the L2 norm of
// all gradients exceeds max_norm, scale them by max_norm / (norm + 1e-6).
#pragma once

#include <cstddef>

#include "backend/backend.h"

namespace cohort {

// Returns the norm before clipping. max_norm <= 0 only measures.
float clip_grad_norm(Backend& backend, float* grads, size_t n, float max_norm);
// The factor clipping applies to gradients of this norm (1: none). For sharded
// gradients, whose norm is assembled from per-shard sums of squares.
float clip_scale(float norm, float max_norm);

}  // namespace cohort
