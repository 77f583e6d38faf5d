// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_: if the L2 norm of
// all gradients exceeds max_norm, scale them by max_norm / (norm + 1e-6).
#pragma once

#include <cstddef>

#include "backend/backend.h"

namespace cohort {

// The L2 norm of grads (their squares summed in double, in a fixed order).
float grad_norm(Backend& backend, const float* grads, size_t n);
// Scales grads in place; returns the norm before clipping. max_norm <= 0 only measures.
// Where an optimizer step follows, pass it clip_scale(grad_norm(...), max_norm) as its
// grad_scale instead: the same update without this pass over the gradients.
float clip_grad_norm(Backend& backend, float* grads, size_t n, float max_norm);
// The factor clipping applies to gradients of this norm (1: none). For sharded
// gradients, whose norm is assembled from per-shard sums of squares.
float clip_scale(float norm, float max_norm);

}  // namespace cohort
