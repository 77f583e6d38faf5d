#include "data/task_dataset.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/fnv.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {
fs::path info_path(const fs::path& dir) { return dir / "tokenizer" / "task.json"; }
}  // namespace

bool is_task_dataset(const fs::path& dir) { return fs::exists(info_path(dir)); }

void write_task_info(const fs::path& dir, const TaskInfo& t) {
  nlohmann::json j = {{"task", t.task},
                      {"tokenizer_vocab", t.tokenizer_vocab},
                      {"vocab_size", t.vocab_size},
                      {"max_len", t.max_len},
                      {"cls_id", t.cls_id},
                      {"mask_id", t.mask_id},
                      {"pad_id", t.pad_id},
                      {"bos_id", t.bos_id},
                      {"eos_id", t.eos_id},
                      {"classes", t.classes},
                      {"source", t.source}};
  write_file_atomic(info_path(dir), j.dump(2) + "\n");
}

TaskInfo read_task_info(const fs::path& dir) {
  const fs::path path = info_path(dir);
  if (!fs::exists(path)) {
    throw Error(
        fmt::format("{}: missing: not a task dataset (make one with cohort prepare genre "
                    "or cohort prepare translation)",
                    path.string()));
  }
  TaskInfo t;
  try {
    const auto j = nlohmann::json::parse(read_file(path));
    t.task = j.at("task").get<std::string>();
    t.tokenizer_vocab = j.at("tokenizer_vocab").get<int>();
    t.vocab_size = j.at("vocab_size").get<int>();
    t.max_len = j.at("max_len").get<int>();
    t.cls_id = j.value("cls_id", -1);
    t.mask_id = j.value("mask_id", -1);
    t.pad_id = j.value("pad_id", -1);
    t.bos_id = j.value("bos_id", -1);
    t.eos_id = j.value("eos_id", -1);
    t.classes = j.value("classes", std::vector<std::string>{});
    t.source = j.value("source", "");
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: {}", path.string(), e.what()));
  }
  auto bad = [&](const std::string& what) {
    return Error(fmt::format("{}: {}", path.string(), what));
  };
  if (t.task != "genre" && t.task != "translation")
    throw bad(fmt::format("task must be genre or translation, got '{}'", t.task));
  if (t.tokenizer_vocab <= 0 || t.vocab_size < t.tokenizer_vocab || t.max_len < 2)
    throw bad("tokenizer_vocab, vocab_size and max_len are inconsistent");
  auto special = [&](const char* name, int id) {
    if (id < t.tokenizer_vocab || id >= t.vocab_size)
      throw bad(fmt::format("{} {} is not a special id in [{}, {})", name, id, t.tokenizer_vocab,
                            t.vocab_size));
  };
  if (t.task == "genre") {
    special("cls_id", t.cls_id);
    special("mask_id", t.mask_id);
    special("pad_id", t.pad_id);
    if (t.classes.size() < 2) throw bad("a genre dataset needs at least 2 classes");
  } else {
    special("bos_id", t.bos_id);
    special("eos_id", t.eos_id);
  }
  return t;
}

void write_task_split(const fs::path& dir, const std::string& split,
                      const std::vector<TaskSample>& samples) {
  std::string out;
  for (const auto& s : samples) {
    nlohmann::json j = {{"file", s.file}};
    if (s.label >= 0) {
      j["label"] = s.label;
      j["ids"] = s.ids;
    } else {
      j["src"] = s.ids;
      j["tgt"] = s.tgt;
      j["src_text"] = s.text;
      j["tgt_text"] = s.tgt_text;
    }
    out += j.dump() + "\n";
  }
  write_file_atomic(dir / (split + ".jsonl"), out);
}

std::vector<TaskSample> read_task_split(const fs::path& dir, const std::string& split,
                                        const TaskInfo& info) {
  const fs::path path = dir / (split + ".jsonl");
  std::ifstream in(path);
  if (!in) {
    throw Error(fmt::format("{}: cannot open{}", path.string(),
                            fs::exists(path) ? "" : " (the splits are train, val and test)"));
  }
  std::vector<TaskSample> samples;
  std::string line;
  long n = 0;
  const bool genre = info.task == "genre";
  // Room for the specials the model adds: [CLS] (genre), BOS or EOS (translation).
  const size_t max_ids = size_t(info.max_len) - 1;
  while (std::getline(in, line)) {
    ++n;
    auto bad = [&](const std::string& what) {
      return Error(fmt::format("{}:{}: {}", path.string(), n, what));
    };
    TaskSample s;
    try {
      const auto j = nlohmann::json::parse(line);
      s.file = j.at("file").get<std::string>();
      if (genre) {
        s.label = j.at("label").get<int>();
        s.ids = j.at("ids").get<std::vector<int32_t>>();
      } else {
        s.ids = j.at("src").get<std::vector<int32_t>>();
        s.tgt = j.at("tgt").get<std::vector<int32_t>>();
        s.text = j.value("src_text", "");
        s.tgt_text = j.value("tgt_text", "");
      }
    } catch (const nlohmann::json::exception& e) {
      throw bad(e.what());
    }
    if (genre && (s.label < 0 || s.label >= int(info.classes.size())))
      throw bad(fmt::format("label {} is outside [0, {})", s.label, info.classes.size()));
    for (const auto* ids : {&s.ids, &s.tgt}) {
      if (ids->size() > max_ids)
        throw bad(fmt::format("{} ids, more than max_len - 1 = {}", ids->size(), max_ids));
      for (int32_t id : *ids)
        if (id < 0 || id >= info.tokenizer_vocab)
          throw bad(
              fmt::format("id {} is outside the tokenizer's [0, {})", id, info.tokenizer_vocab));
    }
    if (s.ids.empty() || (!genre && s.tgt.empty())) throw bad("empty sequence");
    samples.push_back(std::move(s));
  }
  if (samples.empty()) throw Error(fmt::format("{}: no samples", path.string()));
  return samples;
}

std::string task_split_fingerprint(const fs::path& dir, const std::string& split) {
  const std::string bytes = read_file(dir / (split + ".jsonl"));
  return fnv1a64_hex(bytes.data(), bytes.size());
}

std::string split_of_file(int index_in_class) {
  const int r = index_in_class % 10;
  return r == 1 ? "test" : r == 5 ? "val" : "train";
}

}  // namespace cohort
