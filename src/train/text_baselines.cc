#include "train/text_baselines.h"

#include <algorithm>
#include <cmath>

namespace cohort {

int majority_class(const std::vector<TaskSample>& train, int K) {
  std::vector<long> n(K, 0);
  for (const auto& s : train) ++n[s.label];
  return int(std::max_element(n.begin(), n.end()) - n.begin());
}

NaiveBayes::NaiveBayes(const std::vector<TaskSample>& train, int K, int vocab)
    : K_(K), V_(vocab), log_prior_(K, 0.0), log_likelihood_(size_t(K) * vocab, 1.0) {
  std::vector<double> docs(K, 0.0), words(K, double(vocab));  // add-1: V pseudo-counts
  for (const auto& s : train) {
    docs[s.label] += 1.0;
    for (int32_t id : s.ids) log_likelihood_[size_t(s.label) * V_ + id] += 1.0;
    words[s.label] += double(s.ids.size());
  }
  for (int k = 0; k < K; ++k) {
    log_prior_[k] = std::log(std::max(docs[k], 1e-300) / double(train.size()));
    for (int v = 0; v < V_; ++v) {
      double& x = log_likelihood_[size_t(k) * V_ + v];
      x = std::log(x / words[k]);
    }
  }
}

int NaiveBayes::predict(const std::vector<int32_t>& ids) const {
  int best = 0;
  double best_score = -INFINITY;
  for (int k = 0; k < K_; ++k) {
    double s = log_prior_[k];
    for (int32_t id : ids) s += log_likelihood_[size_t(k) * V_ + id];
    if (s > best_score) best_score = s, best = k;
  }
  return best;
}

}  // namespace cohort
