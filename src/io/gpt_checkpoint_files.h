// The model half of a checkpoint in formats other tools read: model.safetensors with
// Hugging Face GPT-2 tensor names (wte cut to its V real rows, as HF stores it) and a
// config.json that is a valid GPT2Config (plus cohort's own fields).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "model/model_config.h"
#include "model/parameter_layout.h"

namespace cohort {

void write_gpt_safetensors(const std::filesystem::path& path, const ModelConfig& config,
                           const ParameterLayout& layout, const float* params);
// Fills params (layout.total() floats) from a safetensors file; every layout tensor must
// be present, F32, with its shape (wte with V or Vp rows). Throws cohort::Error naming
// the file and the tensor.
void read_gpt_safetensors(const std::filesystem::path& path, const ModelConfig& config,
                          const ParameterLayout& layout, float* params);

// HF GPT2Config fields, plus cohort_arch and its extras for the other families.
nlohmann::json gpt2_config_json(const ModelConfig& config);
nlohmann::json gpt_fields_json(const ModelConfig& config);
// Reads n_layer, n_head, n_embd, n_positions, vocab_size (and cohort's dropout).
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace cohort
