#include "train/train_config.h"

#include <fmt/format.h>

#include "core/error.h"
#include "model/recompute.h"

namespace cohort {

void TrainConfig::validate(int context_length, const std::string& where) const {
  auto positive = [&](const char* field, long v) {
    if (v <= 0) throw Error(fmt::format("{}: train.{} must be positive, got {}", where, field, v));
  };
  positive("batch_size", batch_size);
  positive("seq_len", seq_len);
  positive("grad_accum", grad_accum);
  positive("steps", steps);
  positive("log_every", log_every);
  positive("max_bad_steps", max_bad_steps);
  validate_backend_choice(backend, precision, where, "train.backend", "train.precision");
  // The tasks' sequence lengths come from their datasets (checked against the context
  // when the data is opened); seq_len is the language model's.
  if (task == "lm" && seq_len > context_length) {
    throw Error(fmt::format("{}: train.seq_len ({}) exceeds model.context_length ({})", where,
                            seq_len, context_length));
  }
  if (!(lr > 0.0f)) throw Error(fmt::format("{}: train.lr must be positive, got {}", where, lr));
  if (!(min_lr >= 0.0f && min_lr <= lr)) {
    throw Error(fmt::format("{}: train.min_lr must be in [0, train.lr], got {}", where, min_lr));
  }
  if (warmup < 0) throw Error(fmt::format("{}: train.warmup must be >= 0, got {}", where, warmup));
  parse_recompute(recompute, where);
  if (!(grad_clip >= 0.0f)) {
    throw Error(fmt::format("{}: train.grad_clip must be >= 0, got {}", where, grad_clip));
  }
  auto non_negative = [&](const char* field, long v) {
    if (v < 0) throw Error(fmt::format("{}: {} must be >= 0, got {}", where, field, v));
  };
  non_negative("eval_every", eval_every);
  non_negative("eval_tokens", eval_tokens);
  non_negative("checkpoint_every", checkpoint_every);
  non_negative("patience", patience);
  if (keep_checkpoints < 1) {
    throw Error(fmt::format("{}: keep_checkpoints must be >= 1, got {}", where, keep_checkpoints));
  }
  if (task != "lm" && task != "mlm" && task != "classify" && task != "translate") {
    throw Error(fmt::format("{}: train.task must be lm, mlm, classify or translate, got '{}'",
                            where, task));
  }
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
    throw Error(
        fmt::format("{}: train.label_smoothing must be in [0, 1), got {}", where, label_smoothing));
  }
  if (threads < 0)
    throw Error(fmt::format("{}: train.threads must be >= 0, got {}", where, threads));
}

}  // namespace cohort
