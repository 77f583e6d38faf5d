// ParameterLayout: Hugging Face GPT-2 names and shapes, contiguous offsets, and the
// GPT-2 124M parameter count.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/model_layout.h"

namespace cohort {
namespace {

TEST(ParameterLayout, Gpt2SmallHasHuggingFaceNamesAndCount) {
  const ParameterLayout layout = model_layout(ModelConfig{
      .vocab_size = 50257, .context_length = 1024, .n_layer = 12, .n_head = 12, .n_embd = 768});
  EXPECT_EQ(layout.tensors().size(), 2u + 12u * 12u + 2u);
  EXPECT_EQ(layout.tensors().front().name, "wte.weight");
  EXPECT_EQ(layout.at("wte.weight").shape, (std::vector<int64_t>{50304, 768}));
  EXPECT_EQ(layout.at("h.11.attn.c_attn.weight").shape, (std::vector<int64_t>{768, 2304}));
  EXPECT_EQ(layout.at("h.0.mlp.c_proj.weight").shape, (std::vector<int64_t>{3072, 768}));
  EXPECT_TRUE(layout.at("h.0.mlp.c_fc.weight").decay);
  EXPECT_FALSE(layout.at("h.0.ln_1.weight").decay);
  EXPECT_FALSE(layout.at("h.0.attn.c_attn.bias").decay);
  // HF's GPT-2 small has 124,439,808 parameters with V = 50257 rows in wte.
  EXPECT_EQ(layout.total() - (50304 - 50257) * 768, 124439808u);
  size_t expect = 0;
  for (const auto& t : layout.tensors()) {
    EXPECT_EQ(t.offset, expect) << t.name;
    expect += t.numel;
  }
  EXPECT_EQ(expect, layout.total());
  EXPECT_EQ(layout.find("lm_head.weight"), nullptr);  // tied to wte
  EXPECT_THROW(layout.at("nope"), Error);
  // Range lookups: the first and last float of a tensor, and past the end.
  const ParameterTensor& qkv = layout.at("h.3.attn.c_attn.weight");
  EXPECT_EQ(&layout.containing(qkv.offset), &qkv);
  EXPECT_EQ(&layout.containing(qkv.offset + qkv.numel - 1), &qkv);
  EXPECT_EQ(layout.containing(qkv.offset + qkv.numel).name, "h.3.attn.c_attn.bias");
  EXPECT_EQ(&layout.containing(layout.total() - 1), &layout.tensors().back());
  EXPECT_THROW(layout.containing(layout.total()), Error);
}

TEST(ModelConfig, RejectsImpossibleShapes) {
  ModelConfig c;
  c.n_embd = 100;
  c.n_head = 3;
  EXPECT_THROW(c.validate(), Error);
  c.n_head = 4;
  EXPECT_NO_THROW(c.validate());
  c.n_layer = 0;
  EXPECT_THROW(c.validate(), Error);
  c.n_layer = 1;
  c.dropout = 1.0f;
  EXPECT_THROW(c.validate(), Error);
  EXPECT_EQ(ModelConfig{.vocab_size = 129}.padded_vocab_size(), 256);
}

}  // namespace
}  // namespace cohort
