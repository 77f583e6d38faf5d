// Double-precision reference forward of every CPU backend op, written as plainly as
// possible (no blocking, no causal shortcuts beyond the mask itself). The op tests
// compare each backend forward with these and each backward with central finite
// differences of these.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/dropout_mask.h"

namespace cohort::ref {

using Vec = std::vector<double>;

inline Vec linear(const Vec& inp, const Vec& w, const Vec* bias, int N, int C, int OC) {
  Vec out(size_t(N) * OC);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double s = bias ? (*bias)[o] : 0.0;
      for (int c = 0; c < C; ++c) s += inp[size_t(n) * C + c] * w[size_t(c) * OC + o];
      out[size_t(n) * OC + o] = s;
    }
  return out;
}

inline Vec lm_head(const Vec& x, const Vec& wte, int N, int C, int Vp) {
  Vec out(size_t(N) * Vp);
  for (int n = 0; n < N; ++n)
    for (int v = 0; v < Vp; ++v) {
      double s = 0;
      for (int c = 0; c < C; ++c) s += x[size_t(n) * C + c] * wte[size_t(v) * C + c];
      out[size_t(n) * Vp + v] = s;
    }
  return out;
}

inline Vec embedding(const std::vector<int32_t>& tok, const Vec& wte, const Vec& wpe, int B, int T,
                     int C) {
  Vec out(size_t(B) * T * C);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < C; ++c)
        out[(size_t(b) * T + t) * C + c] =
            wte[size_t(tok[size_t(b) * T + t]) * C + c] + wpe[size_t(t) * C + c];
  return out;
}

inline Vec layernorm(const Vec& x, const Vec& w, const Vec& b, int N, int C) {
  Vec out(x.size());
  for (int n = 0; n < N; ++n) {
    double m = 0, v = 0;
    for (int c = 0; c < C; ++c) m += x[size_t(n) * C + c];
    m /= C;
    for (int c = 0; c < C; ++c) v += (x[size_t(n) * C + c] - m) * (x[size_t(n) * C + c] - m);
    v /= C;
    const double s = 1.0 / std::sqrt(v + 1e-5);
    for (int c = 0; c < C; ++c)
      out[size_t(n) * C + c] = (x[size_t(n) * C + c] - m) * s * w[c] + b[c];
  }
  return out;
}

// Query t's scaled scores against keys 0..t, in head h of sample b (qkv (B, T, 3C)).
inline std::vector<double> causal_scores(const Vec& qkv, int b, int h, int t, int T, int C,
                                         int NH) {
  const int HS = C / NH;
  std::vector<double> s(size_t(t) + 1);
  for (int t2 = 0; t2 <= t; ++t2) {
    double d = 0;
    for (int i = 0; i < HS; ++i)
      d += qkv[(size_t(b) * T + t) * 3 * C + h * HS + i] *
           qkv[(size_t(b) * T + t2) * 3 * C + C + h * HS + i];
    s[size_t(t2)] = d / std::sqrt(double(HS));
  }
  return s;
}

// Also returns the probabilities (B, NH, T, T) before dropout.
inline Vec attention(const Vec& qkv, int B, int T, int C, int NH, const DropoutKey& key,
                     Vec* probs = nullptr) {
  const int HS = C / NH;
  Vec out(size_t(B) * T * C, 0.0);
  if (probs) probs->assign(size_t(B) * NH * T * T, 0.0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        std::vector<double> s = causal_scores(qkv, b, h, t, T, C, NH);
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (int t2 = 0; t2 <= t; ++t2) sum += (s[t2] = std::exp(s[t2] - mx));
        DropoutStream mask(key, key.sample_offset + b, (size_t(h) * T + t) * T);
        for (int t2 = 0; t2 <= t; ++t2) {
          const double p = s[t2] / sum;
          if (probs) (*probs)[((size_t(b) * NH + h) * T + t) * T + t2] = p;
          const double pd = p * (key.active() ? mask.next() : 1.0f);
          for (int i = 0; i < HS; ++i)
            out[(size_t(b) * T + t) * C + h * HS + i] +=
                pd * qkv[(size_t(b) * T + t2) * 3 * C + 2 * C + h * HS + i];
        }
      }
  return out;
}

// Each score row's natural log-sum-exp, (B, NH, T), of the scaled causal scores: what a
// flash attention keeps for its backward.
inline Vec attention_lse(const Vec& qkv, int B, int T, int C, int NH) {
  Vec lse(size_t(B) * NH * T);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        const std::vector<double> s = causal_scores(qkv, b, h, t, T, C, NH);
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (double x : s) sum += std::exp(x - mx);
        lse[(size_t(b) * NH + h) * T + t] = mx + std::log(sum);
      }
  return lse;
}

inline Vec gelu(const Vec& x) {
  Vec out(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    out[i] =
        0.5 * x[i] * (1 + std::tanh(std::sqrt(2 / M_PI) * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
  return out;
}

inline Vec cross_entropy(const Vec& logits, const std::vector<int32_t>& targets, int N, int V,
                         int Vp) {
  Vec losses(N);
  for (int n = 0; n < N; ++n) {
    double mx = -1e300, sum = 0;
    for (int i = 0; i < V; ++i) mx = std::max(mx, logits[size_t(n) * Vp + i]);
    for (int i = 0; i < V; ++i) sum += std::exp(logits[size_t(n) * Vp + i] - mx);
    losses[n] = mx + std::log(sum) - logits[size_t(n) * Vp + targets[n]];
  }
  return losses;
}

}  // namespace cohort::ref
