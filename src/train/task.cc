#include "train/task.h"

#include <fmt/format.h>

#include "model/encoder_model.h"
#include "model/gpt.h"
#include "model/seq2seq_model.h"
#include "train/evaluator.h"
#include "train/task_batches.h"
#include "train/task_eval.h"

namespace cohort {

namespace {

class LmTask final : public Task {
 public:
  LmTask(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm)
      : tc_(cfg.train),
        data_(data),
        comm_(comm),
        model_(cfg.model, backend),
        batches_(model_, *data.train, tc_.batch_size, tc_.seq_len) {}
  Model& model() override { return model_; }
  MicroBatches& batches() override { return batches_; }
  const char* unit() const override { return "tok"; }
  bool can_validate() const override { return !data_.val.empty(); }
  long units_per_sample() const override { return tc_.seq_len; }
  std::optional<Validation> validate(bool whole) override {
    if (data_.val.empty()) return std::nullopt;
    const EvalTotals t =
        evaluate_stream(model_, data_.val, tc_.batch_size, tc_.seq_len, tc_.seq_len,
                        whole ? 0 : tc_.eval_tokens, comm_.rank(), comm_.world());
    double sums[2] = {t.nll, double(t.predicted)};
    comm_.all_reduce_sum(sums, 2);
    Validation v;
    v.loss = sums[0] / sums[1];
    return v;
  }

 private:
  const TrainConfig& tc_;
  RunData& data_;
  Communicator& comm_;
  Gpt model_;
  LmMicroBatches batches_;
};

TaskBatchShape batch_shape(const TrainConfig& tc, const Communicator& comm) {
  return TaskBatchShape{tc.batch_size, tc.grad_accum, comm.rank(), comm.world(), tc.seed};
}

// mlm and classify.
class EncoderTask final : public Task {
 public:
  EncoderTask(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm)
      : tc_(cfg.train),
        n_classes_(cfg.model.n_classes),
        data_(data),
        comm_(comm),
        model_(cfg.model, backend),
        batches_(model_, *data.task, data.task_train, tc_.task == "mlm", batch_shape(tc_, comm)) {}
  Model& model() override { return model_; }
  MicroBatches& batches() override { return batches_; }
  const char* unit() const override { return "samples"; }
  bool can_validate() const override { return !data_.task_val.empty(); }
  long units_per_sample() const override { return 1; }
  std::optional<Validation> validate(bool) override {
    if (data_.task_val.empty()) return std::nullopt;
    TaskEvalTotals t = evaluate_encoder(model_, *data_.task, data_.task_val, tc_.task == "mlm",
                                        tc_.batch_size, tc_.seed, comm_.rank(), comm_.world());
    task_eval_reduce(t, comm_);
    Validation v;
    v.loss = t.loss();
    if (tc_.task == "classify") {
      const ClassificationScores sc = score_confusion(t.confusion, n_classes_);
      v.text = fmt::format(" | accuracy {:.4f} | macro-F1 {:.4f}", sc.accuracy, sc.macro_f1);
      v.fields = {{"val_accuracy", sc.accuracy}, {"val_macro_f1", sc.macro_f1}};
    }
    return v;
  }

 private:
  const TrainConfig& tc_;
  int n_classes_;
  RunData& data_;
  Communicator& comm_;
  EncoderModel model_;
  EncoderMicroBatches batches_;
};

class TranslateTask final : public Task {
 public:
  TranslateTask(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm)
      : tc_(cfg.train),
        data_(data),
        comm_(comm),
        model_(cfg.model, backend),
        batches_(model_, *data.task, data.task_train, tc_.label_smoothing, batch_shape(tc_, comm)) {
  }
  Model& model() override { return model_; }
  MicroBatches& batches() override { return batches_; }
  const char* unit() const override { return "samples"; }
  bool can_validate() const override { return !data_.task_val.empty(); }
  long units_per_sample() const override { return 1; }
  std::optional<Validation> validate(bool) override {
    if (data_.task_val.empty()) return std::nullopt;
    TaskEvalTotals t = evaluate_seq2seq(model_, *data_.task, data_.task_val, tc_.batch_size,
                                        comm_.rank(), comm_.world());
    task_eval_reduce(t, comm_);
    Validation v;
    v.loss = t.loss();
    return v;
  }

 private:
  const TrainConfig& tc_;
  RunData& data_;
  Communicator& comm_;
  Seq2SeqModel model_;
  Seq2SeqMicroBatches batches_;
};

}  // namespace

std::unique_ptr<Task> make_task(const RunConfig& cfg, Backend& backend, RunData& data,
                                Communicator& comm) {
  const std::string& task = cfg.train.task;
  if (task == "lm") return std::make_unique<LmTask>(cfg, backend, data, comm);
  if (task == "mlm" || task == "classify")
    return std::make_unique<EncoderTask>(cfg, backend, data, comm);
  return std::make_unique<TranslateTask>(cfg, backend, data, comm);
}

}  // namespace cohort
