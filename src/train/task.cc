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

// What every task holds: its config, data and ranks, its model family, and the
// micro-batches that make_batches(model, config) builds on that model.
template <typename Family, typename Batches>
class TaskOf : public Task {
 public:
  Model& model() override { return model_; }
  MicroBatches& batches() override { return batches_; }

 protected:
  template <typename MakeBatches>
  TaskOf(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm,
         MakeBatches make_batches)
      : tc_(cfg.train),
        data_(data),
        comm_(comm),
        model_(cfg.model, backend),
        batches_(make_batches(with_recompute(model_, cfg.train), tc_)) {}

  // The micro-batches plan the model: it must know what to keep first.
  static Family& with_recompute(Family& model, const TrainConfig& tc) {
    model.set_recompute(parse_recompute(tc.recompute, "train.recompute"));
    return model;
  }

  const TrainConfig& tc_;
  RunData& data_;
  Communicator& comm_;
  Family model_;
  Batches batches_;
};

class LmTask final : public TaskOf<Gpt, LmMicroBatches> {
 public:
  LmTask(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm)
      : TaskOf(cfg, backend, data, comm, [&data](Gpt& model, const TrainConfig& tc) {
          return LmMicroBatches(model, *data.train, tc.batch_size, tc.seq_len);
        }) {}
  const char* unit() const override { return "tok"; }
  long units_per_sample() const override { return tc_.seq_len; }
  bool can_validate() const override { return !data_.val.empty(); }
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
};

// The tasks on samples: they count samples and validate on the val split's samples.
template <typename Family, typename Batches>
class SampleTask : public TaskOf<Family, Batches> {
 public:
  const char* unit() const override { return "samples"; }
  long units_per_sample() const override { return 1; }
  bool can_validate() const override { return !this->data_.task_val.empty(); }

 protected:
  using TaskOf<Family, Batches>::TaskOf;
  static TaskBatchShape shape(const TrainConfig& tc, const Communicator& comm) {
    return TaskBatchShape{tc.batch_size, tc.grad_accum, comm.rank(), comm.world(), tc.seed};
  }
};

// mlm and classify.
class EncoderTask final : public SampleTask<EncoderModel, EncoderMicroBatches> {
 public:
  EncoderTask(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm)
      : SampleTask(cfg, backend, data, comm,
                   [&data, &comm](EncoderModel& model, const TrainConfig& tc) {
                     return EncoderMicroBatches(model, *data.task, data.task_train,
                                                tc.task == "mlm", shape(tc, comm));
                   }),
        n_classes_(cfg.model.n_classes) {}
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
  int n_classes_;
};

class TranslateTask final : public SampleTask<Seq2SeqModel, Seq2SeqMicroBatches> {
 public:
  TranslateTask(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm)
      : SampleTask(cfg, backend, data, comm,
                   [&data, &comm](Seq2SeqModel& model, const TrainConfig& tc) {
                     return Seq2SeqMicroBatches(model, *data.task, data.task_train,
                                                tc.label_smoothing, shape(tc, comm));
                   }) {}
  std::optional<Validation> validate(bool) override {
    if (data_.task_val.empty()) return std::nullopt;
    TaskEvalTotals t = evaluate_seq2seq(model_, *data_.task, data_.task_val, tc_.batch_size,
                                        comm_.rank(), comm_.world());
    task_eval_reduce(t, comm_);
    Validation v;
    v.loss = t.loss();
    return v;
  }
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
