// Central finite differences in double. For an op y = f(x1, x2, ...), the objective is
// L = sum(R * f) with a fixed random R; the backend's backward, given dout = R, must
// return dL/dx. Large inputs are checked on an evenly spread subset of elements.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace cohort::test {

using Vec = std::vector<double>;

inline Vec random_vec(size_t n, std::mt19937& rng, double scale = 1.0) {
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = static_cast<double>(static_cast<float>(d(rng)));  // exactly a float
  return v;
}

inline std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Max |a - b| / (atol + rtol*|b|) over elements must be <= 1.
inline void expect_close(const std::vector<float>& got, const Vec& want, double atol, double rtol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::abs(double(got[i]) - want[i]) / (atol + rtol * std::abs(want[i]));
    if (e > worst) worst = e, at = i;
  }
  EXPECT_LE(worst, 1.0) << what << ": element " << at << " got " << got[at] << " want " << want[at]
                        << " (atol " << atol << ", rtol " << rtol << ")";
}

// Compares `analytic` with dObjective/dx by central differences, perturbing x in place.
inline void check_gradient(Vec& x, const std::function<double()>& objective,
                           const std::vector<float>& analytic, double atol, double rtol,
                           const std::string& what, size_t max_checks = 400) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  const size_t stride = std::max<size_t>(1, x.size() / max_checks);
  std::vector<float> got;
  Vec want;
  for (size_t i = 0; i < x.size(); i += stride) {
    const double h = 1e-6 * std::max(1.0, std::abs(x[i]));
    const double keep = x[i];
    x[i] = keep + h;
    const double up = objective();
    x[i] = keep - h;
    const double down = objective();
    x[i] = keep;
    want.push_back((up - down) / (2 * h));
    got.push_back(analytic[i]);
  }
  expect_close(got, want, atol, rtol, what + " (finite differences)");
}

}  // namespace cohort::test
