// cohort eval: loss and perplexity of a GPT checkpoint on a split, per token and per
// word; encoder and seq2seq checkpoints go to task_eval_command.cc.
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/backend_choice.h"
#include "cli/commands.h"
#include "cli/task_eval_command.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/threads.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "model/gpt.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/run_config.h"
#include "train/task_checkpoint.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

struct EvalOptions {
  std::string checkpoint, split = "test", data;
  int batch_size = 16, seq_len = 0, stride = 0, threads = 0;
  BackendFlags device;
};

int run_eval(const EvalOptions& o) {
  check_backend_flags(o.device);
  set_thread_count(o.threads);
  const fs::path ck_dir = resolve_checkpoint(o.checkpoint);
  const LoadedCheckpoint ck = load_checkpoint(ck_dir);
  if (o.batch_size < 1) throw Error("--batch-size must be >= 1");
  if (ck.model.arch != "gpt")
    return run_task_eval(o.checkpoint, o.data, o.split, o.batch_size, o.device);
  RunConfig run;
  if (!ck.run_config_toml.empty())
    run.apply_toml_text(ck.run_config_toml, (ck_dir / "config.json").string());
  const fs::path data_dir = o.data.empty() ? fs::path(run.train.data_dir) : fs::path(o.data);
  if (data_dir.empty()) throw Error("eval: pass --data DIR (the checkpoint names no dataset)");
  const DatasetInfo info = read_dataset_info(data_dir);
  if (info.vocab_size != ck.model.vocab_size) {
    throw Error(fmt::format("{}: vocabulary of {} but the checkpoint's model has {}",
                            (data_dir / "dataset.json").string(), info.vocab_size,
                            ck.model.vocab_size));
  }
  check_same_tokenizer(data_dir / "tokenizer", ck_dir / "tokenizer");
  const auto tokens = load_split(data_dir, info, o.split);
  const long words = info.splits.at(o.split).words;

  const int T = o.seq_len > 0
                    ? o.seq_len
                    : (run.train.seq_len > 0 ? run.train.seq_len : ck.model.context_length);
  if (T > ck.model.context_length) {
    throw Error(
        fmt::format("--seq-len {} exceeds the model's context of {}", T, ck.model.context_length));
  }
  if (o.batch_size < 1) throw Error("--batch-size must be >= 1");
  const std::unique_ptr<Backend> backend = make_backend(o.device);
  Gpt model(ck.model, *backend);
  model.upload_params(ck.params.data());
  model.plan(o.batch_size, T);
  Timer timer;
  const bool tty = isatty(fileno(stderr)) != 0;
  const EvalTotals t = evaluate_stream(
      model, tokens, o.batch_size, T, o.stride, 0, 0, 1, [&](long done, long total) {
        if (tty) fmt::print(stderr, "\reval {}: {}/{} tokens\x1b[K", o.split, done, total);
      });
  if (tty) fmt::print(stderr, "\r\x1b[K");
  // The first token of a split has no prediction; for the word tokenizer words ==
  // tokens, so word and token perplexity agree exactly.
  const double loss = t.mean_loss();
  const double word_ppl = std::exp(t.nll / double(std::max(1L, words - 1)));
  const int stride = o.stride > 0 && o.stride < T ? o.stride : T;
  fmt::print(
      "split {}: {} tokens, {} words | loss {:.4f} | perplexity {:.2f} | word perplexity "
      "{:.2f} | T={} stride={} | {} ({:.1f}s)\n",
      o.split, tokens.size(), words, loss, std::exp(loss), word_ppl, T, stride, ck_dir.string(),
      timer.seconds());
  fmt::print("RESULT {}\n", nlohmann::json{{"split", o.split},
                                           {"tokens", tokens.size()},
                                           {"words", words},
                                           {"loss", loss},
                                           {"perplexity", std::exp(loss)},
                                           {"word_perplexity", word_ppl},
                                           {"seq_len", T},
                                           {"stride", stride},
                                           {"checkpoint", ck_dir.string()}}
                                .dump());
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = root.add_subcommand(
      "eval",
      "Loss and perplexity (per token and per word) of a checkpoint on a split; for an "
      "encoder, masked-LM loss or accuracy and macro-F1 beside majority and naive Bayes "
      "baselines; for an encoder-decoder, per-token perplexity");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Checkpoint directory, or a run directory (its latest checkpoint)")
      ->required();
  cmd->add_option("--split", o->split, "train | val | test")->capture_default_str();
  cmd->add_option("--data", o->data,
                  "Prepared dataset (default: the one the checkpoint trained on)");
  cmd->add_option("--batch-size", o->batch_size, "Windows per forward pass")->capture_default_str();
  cmd->add_option("--seq-len", o->seq_len, "Window length (0: the training seq_len)")
      ->capture_default_str();
  cmd->add_option("--stride", o->stride,
                  "Tokens between window starts; each token is scored once, with at least "
                  "seq_len - stride tokens of context after the first window (0: seq_len)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all)")->capture_default_str();
  add_backend_flags(cmd, o->device);
  cmd->callback([o, &exit_code]() { exit_code = run_eval(*o); });
}

}  // namespace cohort
