#include "support/flash_attention_reference.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/dropout_mask.h"

namespace cohort::testing {
namespace {

struct Heads {
  int B, T, C, NH, HS;
  float scale;
  const float* at(const float* qkv, int part, int b, int t, int h) const {
    return qkv + (size_t(b) * T + t) * 3 * C + size_t(part) * C + size_t(h) * HS;
  }
  float keep(const DropoutKey& key, int b, int h, int t, int t2) const {
    if (key.p <= 0.0f) return 1.0f;
    DropoutStream s(key, key.sample_offset + uint32_t(b), (uint64_t(h) * T + t) * T + t2);
    return s.next();
  }
};

Heads heads(int B, int T, int C, int NH) {
  const int HS = C / NH;
  return {B, T, C, NH, HS, 1.0f / std::sqrt(float(HS))};
}

// Score of (t, t2) exactly as the kernels form it: sum over d of (scale * q_d) * k_d.
float score(const Heads& s, const float* qkv, int b, int h, int t, int t2) {
  const float *q = s.at(qkv, 0, b, t, h), *k = s.at(qkv, 1, b, t2, h);
  float sc = 0.0f;
  for (int d = 0; d < s.HS; ++d) sc += (s.scale * q[d]) * k[d];
  return sc;
}

}  // namespace

void flash_attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C, int NH,
                             const DropoutKey& dropout) {
  const Heads s = heads(B, T, C, NH);
  std::vector<float> acc(size_t(s.HS));
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        float m = -INFINITY, l = 0.0f;
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int t2 = 0; t2 <= t; ++t2) {
          const float sc = score(s, qkv, b, h, t, t2);
          if (sc > m) {
            const float correction = std::exp(m - sc);
            l *= correction;
            for (float& a : acc) a *= correction;
            m = sc;
          }
          const float e = std::exp(sc - m);
          l += e;
          const float w = e * s.keep(dropout, b, h, t, t2);
          const float* v = s.at(qkv, 2, b, t2, h);
          for (int d = 0; d < s.HS; ++d) acc[size_t(d)] += w * v[d];
        }
        float* y = out + (size_t(b) * T + t) * C + size_t(h) * s.HS;
        for (int d = 0; d < s.HS; ++d) y[d] = acc[size_t(d)] / l;
        lse[(size_t(b) * NH + h) * T + t] = m + std::log(l);
      }
}

void flash_attention_backward(float* dqkv, const float* dout, const float* qkv, const float* lse,
                              const float* out, int B, int T, int C, int NH,
                              const DropoutKey& dropout) {
  const Heads s = heads(B, T, C, NH);
  std::memset(dqkv, 0, sizeof(float) * size_t(B) * T * 3 * C);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        const size_t o = (size_t(b) * T + t) * C + size_t(h) * s.HS;
        float dsum = 0.0f;
        for (int d = 0; d < s.HS; ++d) dsum += dout[o + d] * out[o + d];
        const float row_lse = lse[(size_t(b) * NH + h) * T + t];
        const float* q = s.at(qkv, 0, b, t, h);
        float* dq = dqkv + (size_t(b) * T + t) * 3 * C + size_t(h) * s.HS;
        for (int t2 = 0; t2 <= t; ++t2) {
          const float* k = s.at(qkv, 1, b, t2, h);
          const float* v = s.at(qkv, 2, b, t2, h);
          float* dk = dqkv + (size_t(b) * T + t2) * 3 * C + C + size_t(h) * s.HS;
          float* dv = dk + C;
          float dp = 0.0f;
          for (int d = 0; d < s.HS; ++d) dp += dout[o + d] * v[d];
          const float p = std::exp(score(s, qkv, b, h, t, t2) - row_lse);
          const float keep = s.keep(dropout, b, h, t, t2);
          const float ds = p * (dp * keep - dsum);
          for (int d = 0; d < s.HS; ++d) {
            dq[d] += ds * k[d];
            dk[d] += ds * (s.scale * q[d]);
            dv[d] += p * keep * dout[o + d];
          }
        }
        for (int d = 0; d < s.HS; ++d) dq[d] *= s.scale;
      }
}

}  // namespace cohort::testing
