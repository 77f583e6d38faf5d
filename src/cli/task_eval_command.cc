// cohort eval on an encoder or seq2seq checkpoint (eval_command.cc hands these over):
//   classify   accuracy and macro-F1 on the split, beside the majority-class and
//              naive Bayes baselines fitted on the same dataset's train split;
//   mlm        masked-LM loss and perplexity;
//   translate  per-token loss and perplexity (BLEU: cohort translate).
#include "cli/task_eval_command.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/timer.h"
#include "dist/communicator.h"
#include "train/task_checkpoint.h"
#include "train/task_eval.h"
#include "train/text_baselines.h"

namespace cohort {

int run_task_eval(const std::string& checkpoint, const std::string& data, const std::string& split,
                  int batch_size, const BackendFlags& device) {
  const TaskCheckpoint t = open_task_checkpoint(checkpoint, data, true);
  const auto samples = read_task_split(t.data_dir, split, t.info);
  const std::unique_ptr<Backend> backend = make_backend(device);
  Timer timer;
  nlohmann::json result = {{"split", split},
                           {"samples", samples.size()},
                           {"task", t.task},
                           {"checkpoint", t.dir.string()}};
  if (t.task == "translate") {
    const auto model = load_seq2seq(t, *backend);
    Seq2SeqModel& m = *model;
    m.plan(batch_size, t.info.max_len, t.info.max_len);
    const TaskEvalTotals e = evaluate_seq2seq(m, t.info, samples, batch_size, 0, 1);
    fmt::print(
        "split {}: {} pairs, {} target tokens | loss {:.4f} | perplexity {:.2f} | {} "
        "({:.1f}s)\n",
        split, samples.size(), long(e.count), e.loss(), std::exp(e.loss()), t.dir.string(),
        timer.seconds());
    result.update(
        {{"tokens", long(e.count)}, {"loss", e.loss()}, {"perplexity", std::exp(e.loss())}});
  } else {
    const auto model = load_encoder(t, *backend);
    EncoderModel& m = *model;
    m.plan(batch_size, t.info.max_len);
    const bool mlm = t.task == "mlm";
    std::vector<int> predicted;
    const uint64_t seed = 1337;  // fixes the evaluation masks
    const TaskEvalTotals e =
        evaluate_encoder(m, t.info, samples, mlm, batch_size, seed, 0, 1, &predicted);
    result.update({{"loss", e.loss()}, {"perplexity", std::exp(e.loss())}});
    if (mlm) {
      fmt::print(
          "split {}: {} passages | masked-LM loss {:.4f} | perplexity {:.2f} | {} ({:.1f}s)\n",
          split, samples.size(), e.loss(), std::exp(e.loss()), t.dir.string(), timer.seconds());
    } else {
      const int K = int(t.info.classes.size());
      const ClassificationScores model_scores = score_confusion(e.confusion, K);
      // The baselines, fitted on this dataset's train split.
      const auto train = read_task_split(t.data_dir, "train", t.info);
      const int majority = majority_class(train, K);
      const NaiveBayes nb(train, K, t.info.tokenizer_vocab);
      std::vector<int> truth, maj_pred, nb_pred;
      for (const auto& s : samples) {
        truth.push_back(s.label);
        maj_pred.push_back(majority);
        nb_pred.push_back(nb.predict(s.ids));
      }
      const ClassificationScores maj = score_predictions(truth, maj_pred, K);
      const ClassificationScores bayes = score_predictions(truth, nb_pred, K);
      fmt::print("split {}: {} passages, {} genres ({:.1f}s)\n", split, samples.size(), K,
                 timer.seconds());
      fmt::print("  {:<22} accuracy {:.4f} | macro-F1 {:.4f}\n",
                 fmt::format("majority ({})", t.info.classes[majority]), maj.accuracy,
                 maj.macro_f1);
      fmt::print("  {:<22} accuracy {:.4f} | macro-F1 {:.4f}\n", "naive Bayes (words)",
                 bayes.accuracy, bayes.macro_f1);
      fmt::print("  {:<22} accuracy {:.4f} | macro-F1 {:.4f} | loss {:.4f}\n", "cohort encoder",
                 model_scores.accuracy, model_scores.macro_f1, e.loss());
      result.update({{"accuracy", model_scores.accuracy},
                     {"macro_f1", model_scores.macro_f1},
                     {"majority_accuracy", maj.accuracy},
                     {"majority_macro_f1", maj.macro_f1},
                     {"naive_bayes_accuracy", bayes.accuracy},
                     {"naive_bayes_macro_f1", bayes.macro_f1}});
    }
  }
  fmt::print("RESULT {}\n", result.dump());
  return 0;
}

}  // namespace cohort
