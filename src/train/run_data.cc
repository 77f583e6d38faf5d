#include "train/run_data.h"

#include <fmt/format.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/synthetic_source.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

// A task dataset (cohort prepare genre | translation) for train.task mlm, classify or
// translate; sets the model's vocabulary and classes from it.
RunData open_task_data(RunConfig& cfg, const std::string& where, bool load_samples) {
  RunData d;
  const fs::path dir = cfg.train.data_dir;
  const TaskInfo info = read_task_info(dir);
  const std::string& task = cfg.train.task;
  const bool genre = task == "mlm" || task == "classify";
  if ((genre && info.task != "genre") || (!genre && info.task != "translation")) {
    throw Error(fmt::format(
        "{}: train.task = {} needs a {} dataset, but {} is a {} dataset", where, task,
        genre ? "genre (cohort prepare genre)" : "translation (cohort prepare translation)",
        dir.string(), info.task));
  }
  if (cfg.model.vocab_size == 0) cfg.model.vocab_size = info.vocab_size;
  if (cfg.model.vocab_size != info.vocab_size) {
    throw Error(fmt::format("{}: model.vocab_size is {} but {} needs {} (leave it unset)", where,
                            cfg.model.vocab_size, dir.string(), info.vocab_size));
  }
  if (task == "classify" && cfg.model.n_classes == 0)
    cfg.model.n_classes = int(info.classes.size());
  if (task == "classify" && cfg.model.n_classes != int(info.classes.size())) {
    throw Error(fmt::format("{}: model.n_classes is {} but {} has {} classes", where,
                            cfg.model.n_classes, dir.string(), info.classes.size()));
  }
  if (info.max_len > cfg.model.context_length) {
    throw Error(
        fmt::format("{}: {} has sequences of up to {} tokens, more than "
                    "model.context_length {}",
                    where, dir.string(), info.max_len, cfg.model.context_length));
  }
  cfg.validate(where);
  d.fingerprint = fmt::format("{} {} train {}", dir.filename().string(), task,
                              task_split_fingerprint(dir, "train"));
  d.task = info;
  d.tokenizer_dir = dir / "tokenizer";
  if (!load_samples) return d;
  d.task_train = read_task_split(dir, "train", info);
  if (fs::exists(dir / "val.jsonl")) d.task_val = read_task_split(dir, "val", info);
  d.describe = fmt::format("{}: {} {} training samples, {} validation ({})", dir.string(),
                           d.task_train.size(), info.task, d.task_val.size(), info.source);
  return d;
}

}  // namespace

RunData open_data(RunConfig& cfg, bool synthetic, const std::string& where,
                  const Communicator& comm, bool load_tokens) {
  RunData d;
  cfg.resolve_task();
  if (cfg.train.task != "lm") {
    if (synthetic) throw Error(fmt::format("{}: --synthetic is for train.task = lm", where));
    if (cfg.train.data_dir.empty()) {
      throw Error(fmt::format("{}: train.task = {} needs --data: a dataset from cohort prepare {}",
                              where, cfg.train.task,
                              cfg.train.task == "translate" ? "translation" : "genre"));
    }
    return open_task_data(cfg, where, load_tokens);
  }
  if (synthetic) {
    if (cfg.model.vocab_size == 0) cfg.model.vocab_size = 256;
    cfg.validate(where);
    auto source = std::make_unique<SyntheticSource>(cfg.model.vocab_size,
                                                    cfg.data.synthetic_branching, cfg.train.seed);
    source->set_rank(comm.rank(), cfg.train.grad_accum);
    d.train = std::move(source);
    d.describe = d.train->describe();
    d.fingerprint = d.describe;
    return d;
  }
  if (cfg.train.data_dir.empty()) {
    throw Error(
        fmt::format("{}: no training data: set data_dir to a prepared dataset "
                    "(cohort prepare brown --out data/brown) or pass --synthetic",
                    where));
  }
  const fs::path dir = cfg.train.data_dir;
  if (is_task_dataset(dir)) {
    throw Error(
        fmt::format("{}: {} is a {} dataset: train it with --task {}", where, dir.string(),
                    read_task_info(dir).task,
                    read_task_info(dir).task == "genre" ? "mlm or --task classify" : "translate"));
  }
  const DatasetInfo info = read_dataset_info(dir);
  if (cfg.model.vocab_size == 0) {
    cfg.model.vocab_size = info.vocab_size;
  } else if (cfg.model.vocab_size != info.vocab_size) {
    throw Error(
        fmt::format("{}: model.vocab_size is {} but {} has a vocabulary of {} "
                    "(leave model.vocab_size unset to take the dataset's)",
                    where, cfg.model.vocab_size, dir.string(), info.vocab_size));
  }
  cfg.validate(where);
  d.fingerprint = dir.filename().string() + " train " + info.splits.at("train").fingerprint;
  if (!load_tokens) return d;
  auto loader = std::make_unique<ShardedLoader>(
      load_split(dir, info, "train"), info.vocab_size, cfg.train.seq_len, cfg.train.batch_size,
      cfg.train.grad_accum, cfg.train.seed, comm.rank(), comm.world(), (dir / "train").string());
  d.loader = loader.get();
  d.describe =
      fmt::format("{} ({} tokenizer, V={})", loader->describe(), info.tokenizer, info.vocab_size);
  d.train = std::move(loader);
  if (info.splits.count("val")) {
    d.val = load_split(dir, info, "val");
    d.val_words = info.splits.at("val").words;
  }
  d.tokenizer_dir = dir / "tokenizer";
  return d;
}

}  // namespace cohort
