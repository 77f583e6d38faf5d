// The encoder and encoder-decoder ops: general attention (bidirectional with padded
// keys, causal, and cross-attention with Tq != Tk), tanh, and the masked, smoothed
// cross-entropy, each forward against a double reference and each backward against
// central finite differences. Tolerances as in cpu_ops_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "grad_check.h"

namespace cohort {
namespace {

using test::check_gradient;
using test::dot;
using test::expect_close;
using test::random_vec;
using test::to_float;
using Vec = std::vector<double>;

constexpr int B = 2, C = 40, NH = 5;

// Double reference of mha_forward without dropout; q (B,Tq,C), k and v (B,Tk,C).
Vec ref_mha(const Vec& q, const Vec& k, const Vec& v, int Tq, int Tk, bool causal,
            const std::vector<int32_t>* key_len) {
  const int HS = C / NH;
  Vec out(size_t(B) * Tq * C, 0.0);
  for (int b = 0; b < B; ++b) {
    const int len = key_len ? (*key_len)[b] : Tk;
    for (int h = 0; h < NH; ++h) {
      for (int t = 0; t < Tq; ++t) {
        std::vector<double> s(Tk, -INFINITY);
        double maxv = -INFINITY;
        for (int t2 = 0; t2 < Tk; ++t2) {
          if ((causal && t2 > t) || t2 >= len) continue;
          double d = 0;
          for (int i = 0; i < HS; ++i)
            d += q[(size_t(b) * Tq + t) * C + h * HS + i] *
                 k[(size_t(b) * Tk + t2) * C + h * HS + i];
          s[t2] = d / std::sqrt(double(HS));
          maxv = std::max(maxv, s[t2]);
        }
        double sum = 0;
        for (auto& x : s) sum += (x = std::isinf(x) ? 0.0 : std::exp(x - maxv));
        for (int t2 = 0; t2 < Tk; ++t2) {
          for (int i = 0; i < HS; ++i)
            out[(size_t(b) * Tq + t) * C + h * HS + i] +=
                s[t2] / sum * v[(size_t(b) * Tk + t2) * C + h * HS + i];
        }
      }
    }
  }
  return out;
}

void check_mha(int Tq, int Tk, bool causal, std::vector<int32_t> key_len) {
  CpuBackend be;
  std::mt19937 rng(77);
  const std::vector<int32_t>* lens = key_len.empty() ? nullptr : &key_len;
  Vec q = random_vec(size_t(B) * Tq * C, rng), k = random_vec(size_t(B) * Tk * C, rng),
      v = random_vec(size_t(B) * Tk * C, rng), r = random_vec(size_t(B) * Tq * C, rng);
  std::vector<float> out(size_t(B) * Tq * C), att(size_t(B) * NH * Tq * Tk), scratch(att.size());
  const int32_t* kl = lens ? lens->data() : nullptr;
  be.mha_forward(out.data(), att.data(), to_float(q).data(), to_float(k).data(), to_float(v).data(),
                 C, C, B, Tq, Tk, C, NH, causal, kl, DropoutKey{});
  expect_close(out, ref_mha(q, k, v, Tq, Tk, causal, lens), 1e-5, 1e-5, "mha forward");
  std::vector<float> dq(q.size(), 9.0f), dk(k.size(), 9.0f), dv(v.size(), 9.0f);  // overwritten
  be.mha_backward(dq.data(), dk.data(), dv.data(), scratch.data(), to_float(r).data(),
                  to_float(q).data(), to_float(k).data(), to_float(v).data(), att.data(), C, C, B,
                  Tq, Tk, C, NH, causal, kl, DropoutKey{});
  auto objective = [&] { return dot(r, ref_mha(q, k, v, Tq, Tk, causal, lens)); };
  check_gradient(q, objective, dq, 1e-4, 1e-4, "mha dq");
  check_gradient(k, objective, dk, 1e-4, 1e-4, "mha dk");
  check_gradient(v, objective, dv, 1e-4, 1e-4, "mha dv");
  // Padded keys get no gradient at all.
  if (lens) {
    for (int b = 0; b < B; ++b)
      for (int t2 = (*lens)[b]; t2 < Tk; ++t2)
        for (int c = 0; c < C; ++c) {
          ASSERT_EQ(dk[(size_t(b) * Tk + t2) * C + c], 0.0f);
          ASSERT_EQ(dv[(size_t(b) * Tk + t2) * C + c], 0.0f);
        }
  }
}

TEST(CpuMha, BidirectionalWithPaddedKeys) { check_mha(13, 13, false, {13, 6}); }
TEST(CpuMha, CausalMatchesReference) { check_mha(11, 11, true, {}); }
TEST(CpuMha, CrossAttentionWithPaddedSource) { check_mha(7, 15, false, {9, 15}); }

TEST(CpuMha, DropoutMaskDoesNotDependOnPadding) {
  // The same sample padded to 9 or to 13 positions: its first 9 query rows and keys see
  // the same dropout mask, so ranks that pad their micro-batches differently agree.
  CpuBackend be;
  std::mt19937 rng(8);
  const int Tshort = 9, Tlong = 13;
  Vec q = random_vec(size_t(Tlong) * C, rng), k = random_vec(size_t(Tlong) * C, rng),
      v = random_vec(size_t(Tlong) * C, rng);
  const auto fq = to_float(q), fk = to_float(k), fv = to_float(v);
  DropoutKey key{0.3f, 42, 3, 1, 4};
  const int32_t len = Tshort;
  std::vector<float> a(size_t(Tlong) * C), b(a.size()), att(size_t(NH) * Tlong * Tlong);
  be.mha_forward(a.data(), att.data(), fq.data(), fk.data(), fv.data(), C, C, 1, Tshort, Tshort, C,
                 NH, false, &len, key);
  be.mha_forward(b.data(), att.data(), fq.data(), fk.data(), fv.data(), C, C, 1, Tlong, Tlong, C,
                 NH, false, &len, key);
  // Not bit-equal: sgemm blocks a 9-row product differently from a 13-row one, so sums
  // round differently (5 ulps seen on an AVX-512 EPYC with OpenBLAS's Haswell kernels).
  // A mask that differed would drop other positions (p = 0.3): errors of the size of the
  // values, far above this bound.
  for (size_t i = 0; i < size_t(Tshort) * C; ++i)
    ASSERT_NEAR(a[i], b[i], 1e-5f * (1 + std::fabs(b[i]))) << i;
}

TEST(CpuMha, MatchesCausalGptKernelOnPackedQkv) {
  CpuBackend be;
  std::mt19937 rng(5);
  const int T = 17;
  Vec qkv = random_vec(size_t(B) * T * 3 * C, rng);
  const auto f = to_float(qkv);
  DropoutKey key;  // no dropout: the kernels number their masks differently
  std::vector<float> a(size_t(B) * T * C), b(a.size()), att(size_t(B) * NH * T * T);
  be.attention_forward(a.data(), att.data(), f.data(), B, T, C, NH, key);
  be.mha_forward(b.data(), att.data(), f.data(), f.data() + C, f.data() + 2 * C, 3 * C, 3 * C, B, T,
                 T, C, NH, true, nullptr, key);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5) << i;
}

TEST(CpuMha, Tanh) {
  CpuBackend be;
  std::mt19937 rng(3);
  Vec x = random_vec(301, rng), r = random_vec(301, rng);
  std::vector<float> y(x.size()), dx(x.size());
  be.tanh_forward(y.data(), to_float(x).data(), x.size());
  Vec want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = std::tanh(x[i]);
  expect_close(y, want, 1e-6, 1e-6, "tanh forward");
  be.tanh_backward(dx.data(), y.data(), to_float(r).data(), x.size());
  auto objective = [&] {
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += r[i] * std::tanh(x[i]);
    return s;
  };
  check_gradient(x, objective, dx, 1e-5, 1e-4, "tanh");
}

// Double reference of the masked, smoothed cross-entropy.
Vec ref_masked_ce(const Vec& z, const std::vector<int32_t>& tg, int N, int V, int Vp, double e) {
  Vec out(N, 0.0);
  for (int n = 0; n < N; ++n) {
    if (tg[n] < 0) continue;
    double maxv = -INFINITY, mean = 0;
    for (int i = 0; i < V; ++i)
      maxv = std::max(maxv, z[size_t(n) * Vp + i]), mean += z[size_t(n) * Vp + i] / V;
    double s = 0;
    for (int i = 0; i < V; ++i) s += std::exp(z[size_t(n) * Vp + i] - maxv);
    const double lse = maxv + std::log(s);
    out[n] = (1 - e) * (lse - z[size_t(n) * Vp + tg[n]]) + e * (lse - mean);
  }
  return out;
}

TEST(CpuMha, MaskedSmoothedCrossEntropy) {
  CpuBackend be;
  std::mt19937 rng(11);
  const int N = 9, V = 37, Vp = 64;
  const float e = 0.1f;
  Vec z = random_vec(size_t(N) * Vp, rng, 2.0);
  std::vector<int32_t> tg = {3, -1, 0, 36, 5, -1, 7, 8, 20};
  Vec scale = random_vec(N, rng);
  std::vector<float> losses(N), probs(size_t(N) * Vp);
  be.masked_cross_entropy_forward(losses.data(), probs.data(), to_float(z).data(), tg.data(), N, V,
                                  Vp, e);
  expect_close(losses, ref_masked_ce(z, tg, N, V, Vp, e), 1e-5, 1e-5, "masked cross-entropy");
  const auto row_scale = to_float(scale);
  be.masked_cross_entropy_backward(probs.data(), probs.data(), tg.data(), row_scale.data(), N, V,
                                   Vp, e);
  auto objective = [&] { return dot(scale, ref_masked_ce(z, tg, N, V, Vp, e)); };
  check_gradient(z, objective, probs, 1e-5, 1e-4, "masked cross-entropy dlogits");
}

}  // namespace
}  // namespace cohort
