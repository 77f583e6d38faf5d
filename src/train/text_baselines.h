// The baselines a genre classifier must beat, computed on the same split:
//   majority     always the most frequent training class;
//   naive Bayes  multinomial, bag of words over the passage's word ids, Laplace (add-1)
//                smoothing, log-space (McCallum & Nigam 1998).
#pragma once

#include <vector>

#include "data/task_dataset.h"

namespace cohort {

int majority_class(const std::vector<TaskSample>& train, int K);

class NaiveBayes {
 public:
  NaiveBayes(const std::vector<TaskSample>& train, int K, int vocab);
  int predict(const std::vector<int32_t>& ids) const;

 private:
  int K_, V_;
  std::vector<double> log_prior_, log_likelihood_;  // (K), (K, V)
};

}  // namespace cohort
