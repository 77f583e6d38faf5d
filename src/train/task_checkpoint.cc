#include "train/task_checkpoint.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/file_io.h"
#include "train/run_config.h"

namespace cohort {

namespace fs = std::filesystem;

void check_same_tokenizer(const fs::path& data_tok, const fs::path& ck_tok) {
  if (!fs::exists(ck_tok)) return;  // a checkpoint without a tokenizer: nothing to compare
  for (const auto& e : fs::directory_iterator(ck_tok)) {
    const fs::path other = data_tok / e.path().filename();
    if (!fs::exists(other) || read_file(other) != read_file(e.path())) {
      throw Error(
          fmt::format("{}: differs from the checkpoint's tokenizer ({}): the data was "
                      "prepared with another tokenizer or vocabulary",
                      data_tok.string(), ck_tok.string()));
    }
  }
}

TaskCheckpoint open_task_checkpoint(const std::string& checkpoint, const std::string& data,
                                    bool with_data) {
  TaskCheckpoint t;
  t.dir = resolve_checkpoint(checkpoint);
  t.ck = load_checkpoint(t.dir);
  if (t.ck.model.arch == "gpt") {
    throw Error(
        fmt::format("{}: a GPT checkpoint; this command is for encoder and seq2seq "
                    "checkpoints (train --task mlm | classify | translate)",
                    t.dir.string()));
  }
  // The checkpoint carries its own task.json (beside its tokenizer): enough to decode.
  t.info = read_task_info(t.dir);
  t.task = t.ck.model.arch == "seq2seq" ? "translate"
           : t.ck.model.n_classes > 0   ? "classify"
                                        : "mlm";
  if (!with_data) return t;
  RunConfig run;
  if (!t.ck.run_config_toml.empty())
    run.apply_toml_text(t.ck.run_config_toml, (t.dir / "config.json").string());
  t.data_dir = data.empty() ? fs::path(run.train.data_dir) : fs::path(data);
  if (t.data_dir.empty()) throw Error("pass --data DIR (the checkpoint names no dataset)");
  if (data.empty() && !fs::exists(t.data_dir)) {
    throw Error(
        fmt::format("{}: the dataset this checkpoint trained on is not there (relative "
                    "paths are from the training run's directory): pass --data DIR",
                    t.data_dir.string()));
  }
  t.info = read_task_info(t.data_dir);
  check_same_tokenizer(t.data_dir / "tokenizer", t.dir / "tokenizer");
  if (t.info.vocab_size != t.ck.model.vocab_size) {
    throw Error(fmt::format("{}: vocabulary of {} but the checkpoint's model has {}",
                            t.data_dir.string(), t.info.vocab_size, t.ck.model.vocab_size));
  }
  return t;
}

namespace {
template <typename Family>
std::unique_ptr<Family> load_family(const TaskCheckpoint& t, Backend& backend, const char* arch,
                                    const char* wanted) {
  if (t.ck.model.arch != arch) {
    throw Error(
        fmt::format("{}: a {} checkpoint; this needs {}", t.dir.string(), t.ck.model.arch, wanted));
  }
  auto model = std::make_unique<Family>(t.ck.model, backend);
  model->upload_params(t.ck.params.data());
  return model;
}
}  // namespace

std::unique_ptr<EncoderModel> load_encoder(const TaskCheckpoint& t, Backend& backend) {
  return load_family<EncoderModel>(t, backend, "encoder",
                                   "an encoder (train --task mlm or classify)");
}

std::unique_ptr<Seq2SeqModel> load_seq2seq(const TaskCheckpoint& t, Backend& backend) {
  return load_family<Seq2SeqModel>(t, backend, "seq2seq",
                                   "an encoder-decoder (train --task translate)");
}

}  // namespace cohort
