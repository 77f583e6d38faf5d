// BlockSpec: the options a block is made of. What the block computes today passes; the
// Llama-style options (issue 13) are refused with an error naming them until it does.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/transformer_block.h"

namespace cohort {
namespace {

TEST(BlockSpec, TodaysOptionsPassAndEachLlamaOptionIsRefusedByName) {
  EXPECT_NO_THROW(BlockSpec{}.check_supported());
  EXPECT_NO_THROW((BlockSpec{.causal = true, .cross = true}.check_supported()));
  auto refused = [](const BlockSpec& s, const char* name) {
    try {
      s.check_supported();
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  refused(BlockSpec{.norm = BlockSpec::Norm::rmsnorm}, "RMSNorm");
  refused(BlockSpec{.positions = BlockSpec::Positions::rotary}, "rotary");
  refused(BlockSpec{.mlp = BlockSpec::Mlp::swiglu}, "SwiGLU");
  refused(BlockSpec{.bias = false}, "without biases");
}

}  // namespace
}  // namespace cohort
