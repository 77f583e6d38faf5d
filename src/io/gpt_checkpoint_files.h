// The model half of a checkpoint in a format other tools read: model.safetensors with
// Hugging Face GPT-2 tensor names (wte cut to its vocab_size real rows, as HF stores it).
// The config.json beside it is model/model_config_json.h's.
#pragma once

#include <filesystem>
#include <vector>

#include "core/parameter_layout.h"

namespace cohort {

void write_gpt_safetensors(const std::filesystem::path& path, int64_t vocab_size,
                           const ParameterLayout& layout, const float* params);
// Fills params (layout.total() floats) from a safetensors file; every layout tensor must
// be present, F32, with its shape (wte with V or Vp rows). Throws cohort::Error naming
// the file and the tensor.
void read_gpt_safetensors(const std::filesystem::path& path, int64_t vocab_size,
                          const ParameterLayout& layout, float* params);

}  // namespace cohort
