// The model half of a checkpoint in a format other tools read: model.safetensors with
// each tensor under its Hugging Face name (io/tensor_names.h) and wte cut to its
// vocab_size real rows, as HF stores it. The config.json beside it is
// model/model_config_json.h's.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/parameter_layout.h"

namespace cohort {

// arch: the model family (model.arch), which picks the names.
void write_model_safetensors(const std::filesystem::path& path, const std::string& arch,
                             int64_t vocab_size, const ParameterLayout& layout,
                             const float* params);
// Fills params (layout.total() floats) from a safetensors file; every layout tensor must
// be present under one of its names (hf_tensor_names_read), F32, with its shape (wte with
// V or Vp rows); other tensors are left aside. Throws cohort::Error naming the file and
// the tensor.
void read_model_safetensors(const std::filesystem::path& path, const std::string& arch,
                            int64_t vocab_size, const ParameterLayout& layout, float* params);

}  // namespace cohort
