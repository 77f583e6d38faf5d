#include "backend/cuda/cudnn_attention_graph.h"

#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace cohort::cudnn_graph {

const Tensor& Graph::tensor(int64_t uid) const {
  for (const Tensor& t : tensors)
    if (t.uid == uid) return t;
  throw Error("cudnn graph: no tensor with uid " + std::to_string(uid));
}

namespace {

using Dims = std::array<int64_t, 4>;

// Appends tensors and ops; virtual tensors and scalars get uids from 100 up, past Uid's.
class Builder {
 public:
  explicit Builder(const AttentionShape& s)
      : io_(s.io), B_(s.B), H_(s.NH), T_(s.T), D_(s.C / s.NH), C_(s.C) {
    if (s.NH <= 0 || s.C % s.NH != 0 || s.B <= 0 || s.T <= 0)
      throw Error("cudnn graph: C must be a positive multiple of NH, B and T positive");
  }

  // (B, NH, T, head) views of the buffers.
  Dims qkv_dims() const { return {B_, H_, T_, D_}; }
  Dims qkv_strides() const { return {T_ * 3 * C_, D_, 3 * C_, 1}; }
  Dims qkv_t_dims() const { return {B_, H_, D_, T_}; }  // k or v transposed
  Dims qkv_t_strides() const { return {T_ * 3 * C_, D_, 1, 3 * C_}; }
  Dims out_strides() const { return {T_ * C_, D_, C_, 1}; }
  Dims scores() const { return {B_, H_, T_, T_}; }
  Dims score_strides() const { return {H_ * T_ * T_, T_ * T_, T_, 1}; }
  Dims score_t_strides() const { return {H_ * T_ * T_, T_ * T_, 1, T_}; }  // transposed view
  Dims rows() const { return {B_, H_, T_, 1}; }
  Dims row_strides() const { return {H_ * T_, T_, 1, 1}; }
  DataType io() const { return io_; }
  float scale() const { return 1.0f / std::sqrt(float(D_)); }

  int64_t device(int64_t uid, DataType type, Dims dims, Dims strides) {
    g_.tensors.push_back(Tensor{uid, type, dims, strides});
    return uid;
  }
  int64_t scalar(float value) {
    Tensor t{next_++, DataType::float32, {1, 1, 1, 1}, {1, 1, 1, 1}};
    t.by_value = true;
    t.value = value;
    g_.tensors.push_back(t);
    return t.uid;
  }
  int64_t virt(DataType type, Dims dims, Dims strides) {
    Tensor t{next_++, type, dims, strides};
    t.is_virtual = true;
    g_.tensors.push_back(t);
    return t.uid;
  }
  int64_t scores_f32() { return virt(DataType::float32, scores(), score_strides()); }

  void matmul(int64_t a, int64_t b, int64_t y) { add({OpKind::matmul, {}, {}, {}, 0, a, b, 0, y}); }
  int64_t pointwise(Pointwise mode, int64_t x, int64_t b, int64_t y) {
    add({OpKind::pointwise, mode, {}, DataType::float32, 0, x, b, 0, y});
    return y;
  }
  int64_t reduce(Reduction mode, int64_t x, int64_t y) {
    add({OpKind::reduction, {}, mode, DataType::float32, 0, x, 0, 0, y});
    return y;
  }
  void reshape(int64_t x, int64_t y) { add({OpKind::reshape, {}, {}, {}, 0, x, 0, 0, y}); }

  // Scores where the key comes after the query become -inf: rows >= columns stay.
  int64_t causal_mask(int64_t s) {
    const int64_t row = virt(DataType::int32, scores(), score_strides());
    const int64_t col = virt(DataType::int32, scores(), score_strides());
    add({OpKind::pointwise, Pointwise::gen_index, {}, DataType::float32, 2, s, 0, 0, row});
    add({OpKind::pointwise, Pointwise::gen_index, {}, DataType::float32, 3, s, 0, 0, col});
    const int64_t keep = virt(DataType::boolean, scores(), score_strides());
    add({OpKind::pointwise, Pointwise::cmp_ge, {}, DataType::boolean, 0, row, col, 0, keep});
    const int64_t masked = scores_f32();
    add({OpKind::pointwise,
         Pointwise::binary_select,
         {},
         DataType::float32,
         0,
         s,
         scalar(-std::numeric_limits<float>::infinity()),
         keep,
         masked});
    return masked;
  }

  Graph take() { return std::move(g_); }

 private:
  void add(Op op) { g_.ops.push_back(op); }
  Graph g_;
  int64_t next_ = 100;
  DataType io_;
  int64_t B_, H_, T_, D_, C_;
};

}  // namespace

Graph attention_forward_graph(const AttentionShape& s) {
  Builder g(s);
  const int64_t q = g.device(kQ, g.io(), g.qkv_dims(), g.qkv_strides());
  const int64_t kt = g.device(kK, g.io(), g.qkv_t_dims(), g.qkv_t_strides());
  const int64_t v = g.device(kV, g.io(), g.qkv_dims(), g.qkv_strides());
  const int64_t o = g.device(kO, g.io(), g.qkv_dims(), g.out_strides());
  const int64_t stats = g.device(kStats, DataType::float32, g.rows(), g.row_strides());

  const int64_t raw = g.scores_f32();
  g.matmul(q, kt, raw);
  const int64_t scaled = g.pointwise(Pointwise::mul, raw, g.scalar(g.scale()), g.scores_f32());
  const int64_t masked = g.causal_mask(scaled);
  // The softmax, keeping its log-sum-exp for the backward.
  const int64_t max =
      g.reduce(Reduction::max, masked, g.virt(DataType::float32, g.rows(), g.row_strides()));
  const int64_t shifted = g.pointwise(Pointwise::sub, masked, max, g.scores_f32());
  const int64_t e = g.pointwise(Pointwise::exp, shifted, 0, g.scores_f32());
  const int64_t sum =
      g.reduce(Reduction::add, e, g.virt(DataType::float32, g.rows(), g.row_strides()));
  const int64_t log_sum =
      g.pointwise(Pointwise::log, sum, 0, g.virt(DataType::float32, g.rows(), g.row_strides()));
  g.pointwise(Pointwise::add, max, log_sum, stats);
  // The probabilities in the 16-bit type, as the second product takes them.
  const int64_t p =
      g.pointwise(Pointwise::div, e, sum, g.virt(g.io(), g.scores(), g.score_strides()));
  g.matmul(p, v, o);
  return g.take();
}

Graph attention_backward_graph(const AttentionShape& s) {
  Builder g(s);
  const int64_t q = g.device(kQ, g.io(), g.qkv_dims(), g.qkv_strides());
  const int64_t kt = g.device(kK, g.io(), g.qkv_t_dims(), g.qkv_t_strides());
  const int64_t vt = g.device(kV, g.io(), g.qkv_t_dims(), g.qkv_t_strides());
  const int64_t o = g.device(kO, g.io(), g.qkv_dims(), g.out_strides());
  const int64_t dout = g.device(kDO, g.io(), g.qkv_dims(), g.out_strides());
  const int64_t stats = g.device(kStats, DataType::float32, g.rows(), g.row_strides());
  const int64_t dq = g.device(kDQ, g.io(), g.qkv_dims(), g.qkv_strides());
  const int64_t dk = g.device(kDK, g.io(), g.qkv_dims(), g.qkv_strides());
  const int64_t dv = g.device(kDV, g.io(), g.qkv_dims(), g.qkv_strides());
  const int64_t row_dot = g.device(kRowDot, DataType::float32, g.rows(), g.row_strides());

  // D = rowsum(dO * O), into memory of its own (the kernels read it per key tile).
  const auto dims = g.qkv_dims();
  const int64_t products =
      g.pointwise(Pointwise::mul, dout, o,
                  g.virt(DataType::float32, dims,
                         {dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[1] * dims[3], 1}));
  const int64_t sums =
      g.reduce(Reduction::add, products, g.virt(DataType::float32, g.rows(), g.row_strides()));
  g.pointwise(Pointwise::mul, sums, g.scalar(1.0f), row_dot);

  // P = exp(S * scale - Stats), masked.
  const int64_t raw = g.scores_f32();
  g.matmul(q, kt, raw);
  const int64_t scale = g.scalar(g.scale());
  const int64_t scaled = g.pointwise(Pointwise::mul, raw, scale, g.scores_f32());
  const int64_t centred = g.pointwise(Pointwise::sub, scaled, stats, g.scores_f32());
  const int64_t masked = g.causal_mask(centred);
  const int64_t p = g.pointwise(Pointwise::exp, masked, 0, g.scores_f32());

  // dV = P^T dO.
  const int64_t p_t = g.virt(g.io(), g.scores(), g.score_t_strides());
  g.reshape(p, p_t);
  g.matmul(p_t, dout, dv);

  // dS = P * (dO V^T - D) * scale; dK = dS^T Q; dQ = dS K.
  const int64_t dp = g.scores_f32();
  g.matmul(dout, vt, dp);
  const int64_t centred_dp = g.pointwise(Pointwise::sub, dp, row_dot, g.scores_f32());
  const int64_t weighted = g.pointwise(Pointwise::mul, centred_dp, p, g.scores_f32());
  const int64_t ds = g.pointwise(Pointwise::mul, weighted, scale, g.scores_f32());
  const int64_t ds_t = g.virt(g.io(), g.scores(), g.score_t_strides());
  g.reshape(ds, ds_t);
  g.matmul(ds_t, q, dk);
  const int64_t k = g.virt(DataType::float32, g.qkv_dims(), g.qkv_strides());
  g.reshape(kt, k);
  g.matmul(ds, k, dq);
  return g.take();
}

}  // namespace cohort::cudnn_graph
