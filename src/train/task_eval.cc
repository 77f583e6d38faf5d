#include "train/task_eval.h"

#include <algorithm>

#include "train/task_batches.h"

namespace cohort {

namespace {
// Masks for evaluation: keyed by step 0xffffffff, a step no run takes.
constexpr uint32_t kEvalStep = 0xffffffffu;

std::pair<size_t, size_t> share(size_t n, int rank, int world) {
  return {n * size_t(rank) / size_t(world), n * size_t(rank + 1) / size_t(world)};
}

// Where the model gathers its parameters from every rank (fsdp) each rank must run as many
// forwards as the others: the batches the largest share takes beyond this rank's.
size_t padding_forwards(const Model& model, size_t n, int B, int rank, int world) {
  if (model.parameter_store() == nullptr) return 0;
  auto batches = [&](int r) {
    const auto [b, e] = share(n, r, world);
    return (e - b + size_t(B) - 1) / size_t(B);
  };
  size_t most = 0;
  for (int r = 0; r < world; ++r) most = std::max(most, batches(r));
  return most - batches(rank);
}
}  // namespace

TaskEvalTotals evaluate_encoder(EncoderModel& model, const TaskInfo& info,
                                const std::vector<TaskSample>& samples, bool mlm, int B,
                                uint64_t seed, int rank, int world, std::vector<int>* predictions) {
  TaskEvalTotals t;
  const int K = model.config().n_classes;
  if (!mlm) t.confusion.assign(size_t(K) * K, 0.0);
  const auto [begin, end] = share(samples.size(), rank, world);
  EncoderBatchData batch;
  for (size_t i = begin; i < end; i += size_t(B)) {
    std::vector<const TaskSample*> picked;
    for (size_t j = i; j < std::min(end, i + size_t(B)); ++j) picked.push_back(&samples[j]);
    fill_encoder_batch(batch, info, picked, mlm, seed, kEvalStep, i);
    model.forward(batch.view(mlm), ForwardOptions{});
    for (int b = 0; b < batch.B; ++b) t.loss_sum += model.sample_losses()[b];
    t.count += batch.B;
    if (mlm) continue;
    const std::vector<float> logits = model.copy_class_logits();
    for (int b = 0; b < batch.B; ++b) {
      const float* z = logits.data() + size_t(b) * K;
      const int pred = int(std::max_element(z, z + K) - z);
      t.confusion[size_t(batch.labels[b]) * K + pred] += 1.0;
      if (predictions) predictions->push_back(pred);
    }
  }
  // Scored by nobody: the first sample again, for the collectives' sake.
  for (size_t k = padding_forwards(model, samples.size(), B, rank, world); k > 0; --k) {
    fill_encoder_batch(batch, info, {&samples[0]}, mlm, seed, kEvalStep, 0);
    model.forward(batch.view(mlm), ForwardOptions{});
  }
  return t;
}

TaskEvalTotals evaluate_seq2seq(Seq2SeqModel& model, const TaskInfo& info,
                                const std::vector<TaskSample>& samples, int B, int rank,
                                int world) {
  TaskEvalTotals t;
  const auto [begin, end] = share(samples.size(), rank, world);
  Seq2SeqBatchData batch;
  for (size_t i = begin; i < end; i += size_t(B)) {
    std::vector<const TaskSample*> picked;
    for (size_t j = i; j < std::min(end, i + size_t(B)); ++j) picked.push_back(&samples[j]);
    fill_seq2seq_batch(batch, info, picked);
    model.forward(batch.view(), ForwardOptions{}, 0.0f);
    for (int b = 0; b < batch.B; ++b) {
      t.loss_sum += model.sample_nll()[b];
      t.count += model.sample_tokens()[b];
    }
  }
  for (size_t k = padding_forwards(model, samples.size(), B, rank, world); k > 0; --k) {
    fill_seq2seq_batch(batch, info, {&samples[0]});
    model.forward(batch.view(), ForwardOptions{}, 0.0f);
  }
  return t;
}

void task_eval_reduce(TaskEvalTotals& t, Communicator& comm) {
  std::vector<double> v = {t.loss_sum, t.count};
  v.insert(v.end(), t.confusion.begin(), t.confusion.end());
  comm.all_reduce_sum(v.data(), v.size());
  t.loss_sum = v[0];
  t.count = v[1];
  std::copy(v.begin() + 2, v.end(), t.confusion.begin());
}

ClassificationScores score_confusion(const std::vector<double>& c, int K) {
  ClassificationScores s;
  double total = 0, correct = 0, f1_sum = 0;
  int classes = 0;
  for (int k = 0; k < K; ++k) {
    double tp = c[size_t(k) * K + k], truth = 0, predicted = 0;
    for (int j = 0; j < K; ++j) {
      truth += c[size_t(k) * K + j];
      predicted += c[size_t(j) * K + k];
    }
    total += truth;
    correct += tp;
    if (truth == 0 && predicted == 0) continue;
    ++classes;
    f1_sum += 2 * tp / (truth + predicted);  // 0 where nothing was right
  }
  s.accuracy = total > 0 ? correct / total : 0.0;
  s.macro_f1 = classes > 0 ? f1_sum / classes : 0.0;
  return s;
}

ClassificationScores score_predictions(const std::vector<int>& truth,
                                       const std::vector<int>& predicted, int K) {
  std::vector<double> c(size_t(K) * K, 0.0);
  for (size_t i = 0; i < truth.size(); ++i) c[size_t(truth[i]) * K + predicted[i]] += 1.0;
  return score_confusion(c, K);
}

}  // namespace cohort
