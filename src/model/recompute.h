// Activation recomputation (train.recompute): what the forward keeps for the backward.
//   none       every activation of every block (the fastest);
//   attention  every activation but the attentions' probabilities (B x NH x T x T a block,
//              the part that grows with T squared): one buffer for all blocks, and each
//              block's attention runs again just before its backward;
//   block      each block's input and its ln_1 only; the backward runs the block's forward
//          again into one shared set of buffers just before the block's backward. About
//          one block's activations instead of n_layer blocks', for one more forward.
// The same bits either way: every op is deterministic and the dropout masks are keyed by
// position, not by call order (backend.h).
#pragma once

#include <string>

namespace cohort {

enum class Recompute { none, attention, block };

// "none" | "attention" | "block"; throws cohort::Error naming `where` otherwise.
Recompute parse_recompute(const std::string& name, const std::string& where);
const char* recompute_name(Recompute r);

}  // namespace cohort
