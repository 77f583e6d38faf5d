// The one place where cohort's tensor names meet other tools'. cohort names its tensors
// as Hugging Face's GPT-2 does (model/model_layout.h), so a GPT's Hugging Face names are
// its own. Files written by GPT2LMHeadModel put "transformer." before them, and add
// lm_head.weight (tied to wte) and old versions' attention-mask buffers (h.N.attn.bias,
// h.N.attn.masked_bias), which a reader leaves aside. The encoder and seq2seq families
// have no Hugging Face class of their own: their files keep cohort's names. The GGUF
// names (issue 15) and the Llama family's (issue 13) join here.
#pragma once

#include <string>
#include <vector>

namespace cohort {

// The name the writer gives cohort tensor `name` of family `arch` (gpt, encoder, seq2seq).
std::string hf_tensor_name(const std::string& arch, const std::string& name);
// The names a Hugging Face file may give it, the writer's first.
std::vector<std::string> hf_tensor_names_read(const std::string& arch, const std::string& name);

}  // namespace cohort
