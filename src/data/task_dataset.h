// Datasets of samples rather than token streams, for the encoder and encoder-decoder
// tasks, as `cohort prepare genre | translation` writes them:
//   DIR/tokenizer/            the tokenizer, plus task.json: the task, the special ids
//                             the model adds after the tokenizer's own, the classes
//   DIR/{train,val,test}.jsonl one sample a line: {"file", "label"} and "ids" (genre),
//                             or "src", "tgt" ids and texts (translation)
// Every split is drawn from whole corpus files, so no file is in two splits. The
// model's vocabulary is the tokenizer's plus the special ids (task.json vocab_size).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace cohort {

struct TaskInfo {
  std::string task;                            // genre | translation
  int tokenizer_vocab = 0;                     // ids [0, tokenizer_vocab) are the tokenizer's
  int vocab_size = 0;                          // the model's: tokenizer ids + the specials below
  int max_len = 0;                             // longest sequence, specials included
  int cls_id = -1, mask_id = -1, pad_id = -1;  // genre (encoder)
  int bos_id = -1, eos_id = -1;                // translation (decoder start and end)
  std::vector<std::string> classes;            // genre: label k is classes[k]
  std::string source;                          // how it was made, for humans
};

struct TaskSample {
  std::string file;
  int label = -1;              // genre
  std::vector<int32_t> ids;    // genre: the passage (no specials); translation: source
  std::vector<int32_t> tgt;    // translation: target (no specials)
  std::string text, tgt_text;  // translation: the two sentences
};

TaskInfo read_task_info(const std::filesystem::path& dataset_dir);
void write_task_info(const std::filesystem::path& dataset_dir, const TaskInfo& info);
bool is_task_dataset(const std::filesystem::path& dataset_dir);

// Reads DIR/split.jsonl; each problem is one cohort::Error naming the file and line.
std::vector<TaskSample> read_task_split(const std::filesystem::path& dataset_dir,
                                        const std::string& split, const TaskInfo& info);
void write_task_split(const std::filesystem::path& dataset_dir, const std::string& split,
                      const std::vector<TaskSample>& samples);
// FNV-1a of a split's file, hex: what every rank must agree on.
std::string task_split_fingerprint(const std::filesystem::path& dataset_dir,
                                   const std::string& split);

// The split of a corpus file by its place among the files of its class (genre):
// positions 1, 11, 21, ... go to test, 5, 15, ... to val, the rest (80%) to train, so
// even the 6-file genre (science fiction) has a file in each split.
std::string split_of_file(int index_in_class);

}  // namespace cohort
