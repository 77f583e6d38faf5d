// Fine-tuning's start: the tensors of a checkpoint that exist in the model under the
// same name and shape are copied in (an mlm encoder's body into a classifier); the
// rest keep their fresh initialization.
#pragma once

#include <string>
#include <vector>

#include "model/model.h"

namespace cohort {

struct InitFromReport {
  std::string dir;                 // the checkpoint read
  size_t copied = 0;               // tensors taken from it
  std::vector<std::string> fresh;  // the model's tensors it did not have
};

// Throws cohort::Error when the checkpoint does not load, shares no tensor with the
// model, or has a tensor of the same name but another shape.
InitFromReport init_from_checkpoint(Model& model, const std::string& path);

}  // namespace cohort
