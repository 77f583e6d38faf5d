// Evaluation of the encoder and encoder-decoder tasks on a split. Each rank scores a
// contiguous share of the samples; the totals are sums, so the caller all-reduces them
// and divides (task_eval_reduce).
//   mlm        the training loss's definition: mean over samples of each sample's mean
//              over its masked positions, with masks fixed by the sample's index.
//   classify   cross-entropy per sample, and the confusion matrix for accuracy and
//              macro-F1.
//   translate  -log p per target token (no label smoothing): per-token perplexity.
#pragma once

#include <cstdint>
#include <vector>

#include "data/task_dataset.h"
#include "dist/communicator.h"
#include "model/encoder_model.h"
#include "model/seq2seq_model.h"

namespace cohort {

struct TaskEvalTotals {
  double loss_sum = 0.0;
  double count = 0.0;             // samples (mlm, classify) or target tokens (translate)
  std::vector<double> confusion;  // classify: K x K, [truth * K + predicted]
  double loss() const { return count > 0 ? loss_sum / count : 0.0; }
};

TaskEvalTotals evaluate_encoder(EncoderModel& model, const TaskInfo& info,
                                const std::vector<TaskSample>& samples, bool mlm, int B,
                                uint64_t seed, int rank, int world,
                                std::vector<int>* predictions = nullptr);
TaskEvalTotals evaluate_seq2seq(Seq2SeqModel& model, const TaskInfo& info,
                                const std::vector<TaskSample>& samples, int B, int rank, int world);
// Sums every field over the ranks.
void task_eval_reduce(TaskEvalTotals& t, Communicator& comm);

struct ClassificationScores {
  double accuracy = 0.0;
  double macro_f1 = 0.0;  // mean F1 over the classes that occur in truth or predictions
};
ClassificationScores score_confusion(const std::vector<double>& confusion, int K);
ClassificationScores score_predictions(const std::vector<int>& truth,
                                       const std::vector<int>& predicted, int K);

}  // namespace cohort
