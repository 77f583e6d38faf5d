// Every CpuBackend op: forward against the double reference (reference_ops.h), backward
// against central finite differences of that reference, on awkward shapes (T=17, C=40,
// NH=5, V=101 padded to 128) so no kernel can lean on a power of two.
//
// Tolerances: inputs are O(1); a float32 sum of K such products carries an error of
// about sqrt(K) * 6e-8 * |terms|, so forward checks use atol 1e-5 (K <= 160). Finite
// differences in double are exact to ~1e-9; the analytic gradient is float32, so
// backward checks use atol 1e-4, rtol 1e-4 unless the op's comment says otherwise.
#include <gtest/gtest.h>
#include <omp.h>

#include <bit>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/vec_math.h"
#include "grad_check.h"
#include "reference_ops.h"

namespace cohort {
namespace {

using test::check_gradient;
using test::dot;
using test::expect_close;
using test::random_vec;
using test::to_float;
using Vec = std::vector<double>;

constexpr int B = 2, T = 17, C = 40, NH = 5, V = 101, Vp = 128, N = B * T;

class CpuOps : public ::testing::Test {
 protected:
  CpuBackend be;
  std::mt19937 rng{1234};
};

TEST_F(CpuOps, Linear) {
  const int OC = 3 * C;
  Vec inp = random_vec(size_t(N) * C, rng), w = random_vec(size_t(C) * OC, rng, 0.3),
      bias = random_vec(OC, rng), r = random_vec(size_t(N) * OC, rng);
  std::vector<float> out(size_t(N) * OC);
  be.linear_forward(out.data(), to_float(inp).data(), to_float(w).data(), to_float(bias).data(), N,
                    C, OC);
  expect_close(out, ref::linear(inp, w, &bias, N, C, OC), 1e-5, 1e-5, "linear forward");

  // Parameter gradients accumulate: start them at 1 and subtract it afterwards.
  std::vector<float> dinp(size_t(N) * C), dw(size_t(C) * OC, 1.0f), db(OC, 1.0f);
  be.linear_backward(dinp.data(), dw.data(), db.data(), to_float(r).data(), to_float(inp).data(),
                     to_float(w).data(), N, C, OC);
  for (auto& x : dw) x -= 1.0f;
  for (auto& x : db) x -= 1.0f;
  auto objective = [&] { return dot(r, ref::linear(inp, w, &bias, N, C, OC)); };
  check_gradient(inp, objective, dinp, 1e-4, 1e-4, "linear dinp");
  check_gradient(w, objective, dw, 1e-4, 1e-4, "linear dweight");
  check_gradient(bias, objective, db, 1e-4, 1e-4, "linear dbias");
}

TEST_F(CpuOps, LmHead) {
  Vec x = random_vec(size_t(N) * C, rng), wte = random_vec(size_t(Vp) * C, rng, 0.3),
      r = random_vec(size_t(N) * Vp, rng);
  std::vector<float> logits(size_t(N) * Vp);
  be.lm_head_forward(logits.data(), to_float(x).data(), to_float(wte).data(), N, C, Vp);
  expect_close(logits, ref::lm_head(x, wte, N, C, Vp), 1e-5, 1e-5, "lm_head forward");
  std::vector<float> dx(size_t(N) * C), dwte(size_t(Vp) * C);
  be.lm_head_backward(dx.data(), dwte.data(), to_float(r).data(), to_float(x).data(),
                      to_float(wte).data(), N, C, Vp);
  auto objective = [&] { return dot(r, ref::lm_head(x, wte, N, C, Vp)); };
  check_gradient(x, objective, dx, 1e-4, 1e-4, "lm_head dx");
  check_gradient(wte, objective, dwte, 1e-4, 1e-4, "lm_head dwte");
}

// The softmax may replace the logits (probs == logits): same losses and probabilities.
TEST_F(CpuOps, CrossEntropyInPlaceOfTheLogits) {
  const int Vr = 37, Vpad = 40, rows = 5;
  std::vector<float> z(size_t(rows) * Vpad);
  for (size_t i = 0; i < z.size(); ++i) z[i] = float((i * 7919) % 101) / 17.0f - 3.0f;
  const std::vector<int32_t> targets = {3, 0, 36, -1, 12};
  for (float smoothing : {0.0f, 0.1f}) {
    std::vector<float> losses(rows), probs(z.size()), in_place = z, losses2(rows);
    be.masked_cross_entropy_forward(losses.data(), probs.data(), z.data(), targets.data(), rows, Vr,
                                    Vpad, smoothing);
    be.masked_cross_entropy_forward(losses2.data(), in_place.data(), in_place.data(),
                                    targets.data(), rows, Vr, Vpad, smoothing);
    EXPECT_EQ(losses, losses2) << "smoothing " << smoothing;
    EXPECT_EQ(probs, in_place) << "smoothing " << smoothing;
  }
  std::vector<int32_t> t5 = {3, 0, 36, 1, 12};
  std::vector<float> losses(rows), probs(z.size()), in_place = z, losses2(rows);
  be.softmax_cross_entropy_forward(losses.data(), probs.data(), z.data(), t5.data(), rows, Vr,
                                   Vpad);
  be.softmax_cross_entropy_forward(losses2.data(), in_place.data(), in_place.data(), t5.data(),
                                   rows, Vr, Vpad);
  EXPECT_EQ(losses, losses2);
  EXPECT_EQ(probs, in_place);
}

TEST_F(CpuOps, GatherAndScatterRows) {
  const std::vector<float> in = {0, 1, 10, 11, 20, 21, 30, 31};  // 4 rows of 2
  const std::vector<int32_t> rows = {3, 0, 2};
  std::vector<float> picked(6), back(8, -1.0f);
  be.gather_rows(picked.data(), in.data(), rows.data(), 3, 2);
  EXPECT_EQ(picked, (std::vector<float>{30, 31, 0, 1, 20, 21}));
  be.scatter_rows(back.data(), picked.data(), rows.data(), 3, 2);
  EXPECT_EQ(back, (std::vector<float>{0, 1, -1, -1, 20, 21, 30, 31}));
}

TEST_F(CpuOps, Embedding) {
  std::vector<int32_t> tok(N);
  for (int i = 0; i < N; ++i) tok[i] = (i * 7) % 11;  // repeated tokens share wte rows
  Vec wte = random_vec(size_t(V) * C, rng), wpe = random_vec(size_t(T) * C, rng),
      r = random_vec(size_t(N) * C, rng);
  std::vector<float> out(size_t(N) * C);
  be.embedding_forward(out.data(), tok.data(), to_float(wte).data(), to_float(wpe).data(), B, T, C);
  expect_close(out, ref::embedding(tok, wte, wpe, B, T, C), 1e-6, 1e-6, "embedding forward");
  std::vector<float> dwte(size_t(V) * C), dwpe(size_t(T) * C);
  be.embedding_backward(dwte.data(), dwpe.data(), to_float(r).data(), tok.data(), B, T, C);
  auto objective = [&] { return dot(r, ref::embedding(tok, wte, wpe, B, T, C)); };
  check_gradient(wte, objective, dwte, 1e-5, 1e-5, "embedding dwte", 10000);
  check_gradient(wpe, objective, dwpe, 1e-5, 1e-5, "embedding dwpe", 10000);
}

TEST_F(CpuOps, LayerNorm) {
  Vec x = random_vec(size_t(N) * C, rng, 2.0), w = random_vec(C, rng), b = random_vec(C, rng),
      r = random_vec(size_t(N) * C, rng);
  for (auto& v : x) v += 0.5;  // a non-zero mean to remove
  std::vector<float> out(size_t(N) * C), mean(N), rstd(N);
  be.layernorm_forward(out.data(), mean.data(), rstd.data(), to_float(x).data(), to_float(w).data(),
                       to_float(b).data(), N, C);
  expect_close(out, ref::layernorm(x, w, b, N, C), 1e-5, 1e-5, "layernorm forward");
  // dinp accumulates (+=) like the parameter grads: start all at 1.
  std::vector<float> dx(size_t(N) * C, 1.0f), dw(C, 1.0f), db(C, 1.0f);
  be.layernorm_backward(dx.data(), dw.data(), db.data(), to_float(r).data(), to_float(x).data(),
                        to_float(w).data(), mean.data(), rstd.data(), N, C);
  for (auto* g : {&dx, &dw, &db})
    for (auto& v : *g) v -= 1.0f;
  auto objective = [&] { return dot(r, ref::layernorm(x, w, b, N, C)); };
  check_gradient(x, objective, dx, 1e-4, 1e-4, "layernorm dinp");
  check_gradient(w, objective, dw, 1e-4, 1e-4, "layernorm dweight");
  check_gradient(b, objective, db, 1e-4, 1e-4, "layernorm dbias");
}

void check_attention(CpuBackend& be, std::mt19937& rng, const DropoutKey& key) {
  Vec qkv = random_vec(size_t(N) * 3 * C, rng), r = random_vec(size_t(N) * C, rng);
  std::vector<float> out(size_t(N) * C), att(size_t(B) * NH * T * T);
  be.attention_forward(out.data(), att.data(), to_float(qkv).data(), B, T, C, NH, key);
  Vec probs;
  expect_close(out, ref::attention(qkv, B, T, C, NH, key, &probs), 1e-5, 1e-5, "attention forward");
  std::vector<float> att_causal(att.size(), 0.0f);  // only t2 <= t is defined
  for (int bh = 0; bh < B * NH; ++bh)
    for (int t = 0; t < T; ++t)
      for (int t2 = 0; t2 <= t; ++t2)
        att_causal[(size_t(bh) * T + t) * T + t2] = att[(size_t(bh) * T + t) * T + t2];
  expect_close(att_causal, probs, 1e-6, 1e-5, "attention probabilities");

  std::vector<float> dqkv(qkv.size(), 7.0f), scratch(att.size());  // 7: must be overwritten
  be.attention_backward(dqkv.data(), scratch.data(), to_float(r).data(), to_float(qkv).data(),
                        att.data(), out.data(), B, T, C, NH, key);
  auto objective = [&] { return dot(r, ref::attention(qkv, B, T, C, NH, key)); };
  check_gradient(qkv, objective, dqkv, 1e-4, 1e-4, "attention dqkv", 2000);
}

TEST_F(CpuOps, Attention) { check_attention(be, rng, DropoutKey{}); }

TEST_F(CpuOps, AttentionWithDropout) {
  DropoutKey key{0.3f, 99, 5, 3, 11};
  check_attention(be, rng, key);
}

TEST_F(CpuOps, AttentionIsIndependentOfThreadCount) {
  Vec qkv = random_vec(size_t(N) * 3 * C, rng);
  DropoutKey key{0.2f, 7, 1, 2, 0};
  std::vector<float> out1(size_t(N) * C), out2(out1.size()), att(size_t(B) * NH * T * T);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  be.attention_forward(out1.data(), att.data(), to_float(qkv).data(), B, T, C, NH, key);
  omp_set_num_threads(2);
  be.attention_forward(out2.data(), att.data(), to_float(qkv).data(), B, T, C, NH, key);
  omp_set_num_threads(threads);
  EXPECT_EQ(out1, out2);
}

// vec_exp: 2 ulp (relative 2.4e-7) over the range softmax and GELU use; vec_tanh:
// 2e-7 absolute (see vec_math.h for why absolute is what GELU needs).
TEST(VecMath, ExpAndTanhAccuracy) {
  double worst_exp = 0, worst_tanh = 0;
  for (float x = -80.0f; x <= 80.0f; x += 0.00137f) {
    worst_exp = std::max(worst_exp, std::abs(vec_exp(x) / std::exp(double(x)) - 1.0));
  }
  for (float x = -12.0f; x <= 12.0f; x += 0.0001f) {
    worst_tanh = std::max(worst_tanh, std::abs(vec_tanh(x) - std::tanh(double(x))));
  }
  EXPECT_LE(worst_exp, 2.4e-7);
  EXPECT_LE(worst_tanh, 2e-7);
  EXPECT_EQ(vec_tanh(0.0f), 0.0f);
  EXPECT_EQ(vec_tanh(100.0f), 1.0f);
  EXPECT_EQ(vec_tanh(-100.0f), -1.0f);
}

TEST_F(CpuOps, Gelu) {
  Vec x = random_vec(N * C, rng, 2.0), r = random_vec(N * C, rng);
  std::vector<float> out(x.size()), dx(x.size());
  be.gelu_forward(out.data(), to_float(x).data(), x.size());
  expect_close(out, ref::gelu(x), 1e-6, 1e-5, "gelu forward");
  be.gelu_backward(dx.data(), to_float(x).data(), to_float(r).data(), x.size());
  check_gradient(
      x, [&] { return dot(r, ref::gelu(x)); }, dx, 1e-5, 1e-4, "gelu dinp", 10000);
}

TEST_F(CpuOps, SoftmaxCrossEntropy) {
  Vec logits = random_vec(size_t(N) * Vp, rng, 3.0);
  std::vector<int32_t> targets(N);
  for (int i = 0; i < N; ++i) targets[i] = (i * 37) % V;
  std::vector<float> losses(N), probs(size_t(N) * Vp);
  be.softmax_cross_entropy_forward(losses.data(), probs.data(), to_float(logits).data(),
                                   targets.data(), N, V, Vp);
  expect_close(losses, ref::cross_entropy(logits, targets, N, V, Vp), 1e-5, 1e-5, "cross-entropy");
  const float dloss = 0.7f;
  be.softmax_cross_entropy_backward(probs.data(), probs.data(), targets.data(), dloss, N, V, Vp);
  auto objective = [&] {
    double s = 0;
    for (double l : ref::cross_entropy(logits, targets, N, V, Vp)) s += dloss * l;
    return s;
  };
  check_gradient(logits, objective, probs, 1e-6, 1e-4, "cross-entropy dlogits", 5000);
  for (int n = 0; n < N; ++n)
    for (int i = V; i < Vp; ++i)
      ASSERT_EQ(probs[size_t(n) * Vp + i], 0.0f) << "padding gets no gradient";
}

TEST_F(CpuOps, DropoutMaskIsKeyedAndUnbiased) {
  const size_t per_sample = 50000;
  std::vector<float> x(2 * per_sample, 1.0f), y(x.size(), 1.0f);
  DropoutKey key{0.25f, 42, 3, 1, 0};
  be.dropout(x.data(), 2, per_sample, key);
  size_t dropped = 0;
  for (float v : x) {
    ASSERT_TRUE(v == 0.0f || v == 1.0f / 0.75f) << v;
    dropped += v == 0.0f;
  }
  EXPECT_NEAR(double(dropped) / x.size(), 0.25, 0.01);
  // The same key gives the same mask with another thread count; sample b of a batch
  // starting at offset 0 equals sample 0 of a batch starting at offset b.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  be.dropout(y.data(), 2, per_sample, key);
  omp_set_num_threads(threads);
  EXPECT_EQ(x, y);
  std::vector<float> z(per_sample, 1.0f);
  DropoutKey shifted = key;
  shifted.sample_offset = 1;
  be.dropout(z.data(), 1, per_sample, shifted);
  EXPECT_TRUE(std::equal(z.begin(), z.end(), x.begin() + per_sample));
  // Another step draws another mask.
  std::vector<float> w(per_sample, 1.0f);
  DropoutKey next = key;
  next.step = 4;
  be.dropout(w.data(), 1, per_sample, next);
  EXPECT_FALSE(std::equal(w.begin(), w.end(), x.begin()));
}

TEST_F(CpuOps, AdamWMatchesFormula) {
  Vec p = random_vec(1000, rng), g = random_vec(1000, rng);
  std::vector<float> pf = to_float(p), m(1000), v(1000);
  Vec pm(1000, 0.0), pv(1000, 0.0);
  for (int t = 1; t <= 3; ++t) {
    const double b1 = 0.9, b2 = 0.95, lr = 1e-2, wd = 0.1, eps = 1e-8;
    Backend::AdamWArgs a{float(lr),
                         float(b1),
                         float(b2),
                         float(eps),
                         float(wd),
                         float(1 - std::pow(b1, t)),
                         float(1 - std::pow(b2, t))};
    be.adamw_update(pf.data(), to_float(g).data(), m.data(), v.data(), 1000, a);
    for (size_t i = 0; i < 1000; ++i) {
      p[i] *= 1 - lr * wd;
      pm[i] = b1 * pm[i] + (1 - b1) * g[i];
      pv[i] = b2 * pv[i] + (1 - b2) * g[i] * g[i];
      p[i] -=
          lr * (pm[i] / (1 - std::pow(b1, t))) / (std::sqrt(pv[i] / (1 - std::pow(b2, t))) + eps);
    }
  }
  expect_close(pf, p, 1e-6, 1e-5, "adamw");
}

TEST_F(CpuOps, SgdWithMomentum) {
  std::vector<float> p = {1.0f, -2.0f}, g = {0.5f, 1.0f}, buf = {0.0f, 0.0f};
  be.sgd_update(p.data(), g.data(), buf.data(), 2, 0.1f, 0.9f, 1.0f);  // buf = g
  be.sgd_update(p.data(), g.data(), buf.data(), 2, 0.1f, 0.9f, 1.0f);  // buf = 0.9 g + g
  EXPECT_FLOAT_EQ(p[0], 1.0f - 0.1f * 0.5f - 0.1f * 1.9f * 0.5f);
  EXPECT_FLOAT_EQ(p[1], -2.0f - 0.1f - 0.1f * 1.9f);
  std::vector<float> q = {1.0f};
  be.sgd_update(q.data(), g.data(), nullptr, 1, 0.1f, 0.0f, 1.0f);
  EXPECT_FLOAT_EQ(q[0], 0.95f);
}

// grad_scale (clipping's factor) gives the bits of scaling the gradients first.
TEST_F(CpuOps, SgdGradScaleIsScalingFirst) {
  const std::vector<float> g = to_float(random_vec(100, rng));
  std::vector<float> scaled = g;
  be.scale(scaled.data(), 0.3719f, scaled.size());
  for (const float momentum : {0.0f, 0.9f}) {
    std::vector<float> p(100, 1.0f), q(100, 1.0f), buf_p(100, 0.5f), buf_q(100, 0.5f);
    be.sgd_update(p.data(), g.data(), buf_p.data(), 100, 0.1f, momentum, 0.3719f);
    be.sgd_update(q.data(), scaled.data(), buf_q.data(), 100, 0.1f, momentum, 1.0f);
    EXPECT_EQ(p, q) << "momentum " << momentum;
    EXPECT_EQ(buf_p, buf_q) << "momentum " << momentum;
  }
}

TEST_F(CpuOps, SumSquaresIsExactAndThreadIndependent) {
  Vec x = random_vec(100003, rng);
  double want = 0;
  for (double v : x) want += v * v;
  const auto xf = to_float(x);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = be.sum_squares(xf.data(), xf.size());
  omp_set_num_threads(2);
  const double two = be.sum_squares(xf.data(), xf.size());
  omp_set_num_threads(threads);
  EXPECT_NEAR(one, want, 1e-9 * want);
  EXPECT_EQ(one, two);
}

}  // namespace
}  // namespace cohort

namespace cohort {
namespace {

// The AVX2 body of the GELU loops computes what their scalar tail computes, bit for bit:
// a value gives the same result whichever path it takes.
TEST(CpuGelu, VectorBodyMatchesScalarTail) {
  CpuBackend be;
  std::vector<float> x, r;
  for (int i = -4000; i < 4000; ++i) x.push_back(float(i) * 0.0031f + 0.0007f);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 20.0f, -20.0f, 100.0f, -100.0f}) x.push_back(v);
  while (x.size() % 8) x.push_back(0.5f);
  for (size_t i = 0; i < x.size(); ++i) r.push_back(1.0f - float(i % 7) * 0.25f);
  std::vector<float> out(x.size()), dx(x.size());
  be.gelu_forward(out.data(), x.data(), x.size());
  be.gelu_backward(dx.data(), x.data(), r.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    float one = 0, done = 0;
    be.gelu_forward(&one, &x[i], 1);  // n < 8: the scalar path
    be.gelu_backward(&done, &x[i], &r[i], 1);
    ASSERT_EQ(std::bit_cast<uint32_t>(one), std::bit_cast<uint32_t>(out[i])) << "x = " << x[i];
    ASSERT_EQ(std::bit_cast<uint32_t>(done), std::bit_cast<uint32_t>(dx[i])) << "x = " << x[i];
  }
}

}  // namespace
}  // namespace cohort
