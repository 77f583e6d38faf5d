// The flat layouts of the model families (core/parameter_layout.h): names and shapes are
// Hugging Face GPT-2's (`wte.weight`, `h.0.attn.c_attn.weight`, ...). Linear weights are
// stored (in, out) exactly as HF's Conv1D stores them, so a checkpoint tensor maps one to
// one, without a transpose. Two differences, both handled by the exporters: wte has Vp
// rows here (HF: V; the padding rows are zero), and there is no separate lm_head (tied to
// wte, as in HF).
#pragma once

#include <string>

#include "core/parameter_layout.h"
#include "model/model_config.h"

namespace cohort {

// The layout of config.arch's family (gpt, encoder, seq2seq).
ParameterLayout model_layout(const ModelConfig& config);

// One pre-LN block's tensors under prefix p (`h.3.`); cross adds a cross-attention.
void add_block_tensors(ParameterLayout& layout, const std::string& p, int64_t C, bool cross);

}  // namespace cohort
