// The model family that config.arch names.
#pragma once

#include <memory>

#include "model/model.h"

namespace cohort {

std::unique_ptr<Model> make_model(const ModelConfig& config, Backend& backend);

}  // namespace cohort
