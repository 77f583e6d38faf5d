// The GPT's causal attention as cuDNN graphs (its graph API's operations: matmuls,
// pointwise ops, reductions, reshapes), forward and backward, at the layouts of the
// tensor-core route (cuda_flash_attention_tc.h): q, k, v in one (B, T, 3C) 16-bit buffer,
// the output and its gradient (B, T, C), the log-sum-exps (B, NH, T). Plain data with no
// cuDNN in it: cuda_cudnn.cc lowers a graph to cuDNN's descriptors, and the tests run one
// through a CPU interpreter against the CPU attention, on machines without a GPU.
//
// The graphs follow cuDNN's documented SDPA pattern (cudnn-frontend's lowering for
// cuDNN 9 before its unified SDPA operation), which cuDNN's runtime fusion engines match
// to their fused flash-attention kernels:
//   forward:  S = Q K^T * scale, causal mask (GEN_INDEX rows >= columns, else -inf),
//             Stats = max + log(sum exp(S - max)), O = (exp(S - max) / sum) V;
//   backward: D = rowsum(dO * O), P = exp(S - Stats), dV = P^T dO,
//             dS = P * (dO V^T - D) * scale, dK = dS^T Q, dQ = dS K.
// dQ is the product's own output, not an fp32 accumulator: without that accumulator
// cuDNN's Hopper backward computes dQ from a dP workspace instead of atomics
// (deterministic; cudnn-frontend builds the same graph for set_deterministic_algorithm).
// Stats are natural-log log-sum-exps of the scaled scores.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace cohort::cudnn_graph {

enum class DataType { float32, bf16, fp16, int32, boolean };

struct Tensor {
  int64_t uid;
  DataType type;
  std::array<int64_t, 4> dims, strides;  // elements
  bool is_virtual = false;               // inside the graph only
  bool by_value = false;                 // a host scalar, `value`
  float value = 0.0f;
};

enum class OpKind { matmul, pointwise, reduction, reshape };
enum class Pointwise { add, sub, mul, div, exp, log, identity, gen_index, cmp_ge, binary_select };
enum class Reduction { add, max };

// Operands by uid (0: none). matmul: y = x . b over the last two dims; pointwise: y = x op b
// (binary_select: y = t ? x : b; gen_index: y = x's index along `axis`); reduction: y = x
// reduced over the dims where y has 1; reshape: y is x's memory seen with y's dims and
// strides (how the graphs transpose).
struct Op {
  OpKind kind;
  Pointwise pointwise = Pointwise::identity;
  Reduction reduction = Reduction::add;
  DataType compute = DataType::float32;
  int64_t axis = 0;
  int64_t x = 0, b = 0, t = 0, y = 0;
};

struct Graph {
  std::vector<Tensor> tensors;
  std::vector<Op> ops;
  const Tensor& tensor(int64_t uid) const;  // throws cohort::Error for an unknown uid
};

// The uids of the tensors a caller binds to memory. Q, K and V each point at their part of
// the qkv buffer (its start, + C, + 2C values); the gradients likewise at the dqkv buffer.
enum Uid : int64_t {
  kQ = 1,
  kK = 2,
  kV = 3,
  kO = 4,
  kStats = 5,  // fp32 (B, NH, T): the forward writes it, the backward reads it
  kDO = 6,
  kDQ = 7,
  kDK = 8,
  kDV = 9,
  kRowDot = 10,  // backward only: fp32 (B, NH, T) scratch for D = rowsum(dO * O)
};

struct AttentionShape {
  int B, T, C, NH;  // head size C / NH
  DataType io;      // bf16 or fp16: q, k, v, O, dO and the gradients
};

Graph attention_forward_graph(const AttentionShape& s);
Graph attention_backward_graph(const AttentionShape& s);

}  // namespace cohort::cudnn_graph
