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
// Hugging Face's layout in dir: model.safetensors, or, where the tensors exceed
// max_shard_bytes, model-0000i-of-0000n.safetensors (tensors in layout order, each file
// up to max_shard_bytes unless one tensor alone is larger) and model.safetensors.index.json
// mapping each name to its file, as transformers' save_pretrained writes them. Returns the
// files written, index last.
std::vector<std::string> write_hf_model_files(const std::filesystem::path& dir,
                                              const std::string& arch, int64_t vocab_size,
                                              const ParameterLayout& layout, const float* params,
                                              size_t max_shard_bytes);
// Fills params (layout.total() floats) from a safetensors file; every layout tensor must
// be present under one of its names (hf_tensor_names_read), F32, with its shape (wte with
// V or Vp rows); other tensors are left aside. Throws cohort::Error naming the file and
// the tensor.
void read_model_safetensors(const std::filesystem::path& path, const std::string& arch,
                            int64_t vocab_size, const ParameterLayout& layout, float* params);

}  // namespace cohort
