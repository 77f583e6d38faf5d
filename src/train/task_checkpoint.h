// What eval and translate need to use an encoder or seq2seq checkpoint on a task
// dataset: the checkpoint, its task description (tokenizer/task.json, which every
// checkpoint of a task carries) and a split of the data, checked to share its ids.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/task_dataset.h"
#include "data/tokenizer.h"
#include "model/encoder_model.h"
#include "model/seq2seq_model.h"
#include "train/checkpoint.h"

namespace cohort {

struct TaskCheckpoint {
  std::filesystem::path dir, data_dir;
  LoadedCheckpoint ck;
  TaskInfo info;
  std::string task;  // mlm | classify | translate
};

// with_data: also open the dataset `data` (empty: the one the checkpoint trained on);
// without, info is the checkpoint's own task.json and data_dir stays empty. Throws
// cohort::Error when the checkpoint is not a task model or the data's tokenizer differs.
TaskCheckpoint open_task_checkpoint(const std::string& checkpoint, const std::string& data,
                                    bool with_data);

// The checkpoint's parameters in a model of its family: the encoder (mlm, classify) or
// the encoder-decoder (translate); a checkpoint of the other family is a cohort::Error
// naming it.
std::unique_ptr<EncoderModel> load_encoder(const TaskCheckpoint& t, Backend& backend);
std::unique_ptr<Seq2SeqModel> load_seq2seq(const TaskCheckpoint& t, Backend& backend);

// Every file of the data's tokenizer must equal the checkpoint's: the same ids.
void check_same_tokenizer(const std::filesystem::path& data_tok,
                          const std::filesystem::path& ck_tok);

}  // namespace cohort
