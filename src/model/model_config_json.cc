#include "model/model_config_json.h"

#include <fmt/format.h>

#include "core/error.h"

namespace cohort {

nlohmann::json gpt2_config_json(const ModelConfig& c) {
  nlohmann::json j = gpt_fields_json(c);
  if (c.arch == "encoder") {
    // Not a Hugging Face class: cohort's own names, marked so no GPT-2 reader takes it.
    j["architectures"] = {"CohortEncoder"};
    j["model_type"] = "cohort-encoder";
    j["cohort_arch"] = "encoder";
    j["n_classes"] = c.n_classes;
  } else if (c.arch == "seq2seq") {
    j["architectures"] = {"CohortSeq2Seq"};
    j["model_type"] = "cohort-seq2seq";
    j["cohort_arch"] = "seq2seq";
    j["n_decoder_layer"] = c.n_decoder_layer;
  }
  return j;
}

nlohmann::json gpt_fields_json(const ModelConfig& c) {
  return {{"architectures", {"GPT2LMHeadModel"}},
          {"model_type", "gpt2"},
          {"vocab_size", c.vocab_size},
          {"n_positions", c.context_length},
          {"n_ctx", c.context_length},
          {"n_embd", c.n_embd},
          {"n_layer", c.n_layer},
          {"n_head", c.n_head},
          {"n_inner", nullptr},
          {"activation_function", "gelu_new"},
          {"resid_pdrop", c.dropout},
          {"embd_pdrop", c.dropout},
          {"attn_pdrop", c.dropout},
          {"layer_norm_epsilon", 1e-5},
          {"initializer_range", 0.02},
          {"tie_word_embeddings", true},
          {"torch_dtype", "float32"}};
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where) {
  ModelConfig c;
  auto get_int = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_number_integer()) {
      throw Error(fmt::format("{}: missing integer field '{}'", where, key));
    }
    return j[key].get<int>();
  };
  if (j.contains("cohort_arch")) {
    if (!j["cohort_arch"].is_string())
      throw Error(fmt::format("{}: cohort_arch must be a string", where));
    c.arch = j["cohort_arch"].get<std::string>();
    if (c.arch == "encoder") c.n_classes = get_int("n_classes");
    if (c.arch == "seq2seq") c.n_decoder_layer = get_int("n_decoder_layer");
  }
  c.vocab_size = get_int("vocab_size");
  c.context_length = get_int("n_positions");
  c.n_embd = get_int("n_embd");
  c.n_layer = get_int("n_layer");
  c.n_head = get_int("n_head");
  if (j.contains("resid_pdrop") && j["resid_pdrop"].is_number())
    c.dropout = j["resid_pdrop"].get<float>();
  c.validate(where);
  return c;
}

}  // namespace cohort
