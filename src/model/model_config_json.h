// A model config as the config.json of a checkpoint: a valid Hugging Face GPT2Config for
// the GPT (plus cohort's own fields), cohort's own marked classes for the encoder and the
// encoder-decoder, so that no GPT-2 reader takes them for GPT-2.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "model/model_config.h"

namespace cohort {

// HF GPT2Config fields, plus cohort_arch and its extras for the other families.
nlohmann::json gpt2_config_json(const ModelConfig& config);
nlohmann::json gpt_fields_json(const ModelConfig& config);
// Reads n_layer, n_head, n_embd, n_positions, vocab_size (and cohort's dropout); throws
// cohort::Error naming `where` and the field.
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace cohort
