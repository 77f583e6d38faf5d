// cohort eval for encoder and seq2seq checkpoints (task_eval_command.cc).
#pragma once

#include <string>

#include "cli/backend_choice.h"

namespace cohort {

int run_task_eval(const std::string& checkpoint, const std::string& data, const std::string& split,
                  int batch_size, const BackendFlags& device);

}  // namespace cohort
