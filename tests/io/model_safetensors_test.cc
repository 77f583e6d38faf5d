// model.safetensors under Hugging Face names: a round trip, and a file as
// GPT2LMHeadModel.save_pretrained writes it ("transformer." before each name, lm_head and
// the old attention-mask buffers beside them) read into cohort's layout.
#include "io/model_safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/tensor_names.h"

namespace cohort {
namespace {

// Two tensors of a GPT layout: wte with Vp = 4 rows of which V = 3 are real, and ln_f.
ParameterLayout small_layout() {
  ParameterLayout layout;
  layout.add("wte.weight", {4, 2});
  layout.add("h.0.ln_1.weight", {2});
  return layout;
}

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("cohort_model_st_" + name);
}

TEST(ModelSafetensors, RoundTripCutsWteToItsRealRows) {
  const ParameterLayout layout = small_layout();
  std::vector<float> params(layout.total());
  std::iota(params.begin(), params.end(), 1.0f);
  std::fill(params.begin() + 6, params.begin() + 8, 0.0f);  // wte's padding row
  const auto path = temp_file("roundtrip");
  write_model_safetensors(path, "gpt", 3, layout, params.data());
  const SafetensorsFile file = SafetensorsFile::read(path.string());
  EXPECT_EQ(file.at(hf_tensor_name("gpt", "wte.weight")).shape, (std::vector<int64_t>{3, 2}));
  std::vector<float> back(layout.total(), -1.0f);
  read_model_safetensors(path, "gpt", 3, layout, back.data());
  EXPECT_EQ(back, params);
  std::filesystem::remove(path);
}

TEST(ModelSafetensors, ReadsGpt2LmHeadModelsNames) {
  const ParameterLayout layout = small_layout();
  const float wte[6] = {1, 2, 3, 4, 5, 6}, ln[2] = {7, 8}, mask[4] = {1, 0, 1, 1};
  SafetensorsFile f;
  f.put_floats("transformer.wte.weight", {3, 2}, wte);
  f.put_floats("transformer.h.0.ln_1.weight", {2}, ln);
  f.put_floats("transformer.h.0.attn.bias", {2, 2}, mask);  // a buffer: left aside
  f.put_floats("lm_head.weight", {3, 2}, wte);              // tied to wte: left aside
  const auto path = temp_file("hf");
  f.write(path.string());
  std::vector<float> params(layout.total(), -1.0f);
  read_model_safetensors(path, "gpt", 3, layout, params.data());
  EXPECT_EQ(params, (std::vector<float>{1, 2, 3, 4, 5, 6, 0, 0, 7, 8}));
  // The prefix is the GPT's only: an encoder's file keeps cohort's names.
  EXPECT_THROW(read_model_safetensors(path, "encoder", 3, layout, params.data()), Error);
  std::filesystem::remove(path);
}

TEST(ModelSafetensors, NamesTheFileAndTensorThatIsMissing) {
  const ParameterLayout layout = small_layout();
  SafetensorsFile f;
  const float wte[6] = {};
  f.put_floats("wte.weight", {3, 2}, wte);
  const auto path = temp_file("missing");
  f.write(path.string());
  std::vector<float> params(layout.total());
  try {
    read_model_safetensors(path, "gpt", 3, layout, params.data());
    FAIL() << "a missing tensor was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'h.0.ln_1.weight'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace cohort
