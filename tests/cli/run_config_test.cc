// RunConfig: TOML file, --set overrides, and every kind of bad input named precisely.
#include "train/run_config.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace cohort {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    return e.what();
  }
  return "";
}

TEST(RunConfig, TomlAndOverrides) {
  RunConfig c;
  c.apply_toml_text(
      "[model]\nn_layer = 6\ndropout = 0.1\n[optim]\nname = \"sgd\"\n[train]\nlr = 1\n", "t.toml");
  c.apply_override("train.steps=42");
  c.apply_override("optim.name=adamw");  // a bare word for a string key
  c.apply_override("train.seed=9");
  EXPECT_EQ(c.model.n_layer, 6);
  EXPECT_FLOAT_EQ(c.model.dropout, 0.1f);
  EXPECT_FLOAT_EQ(c.train.lr, 1.0f);  // integers are accepted for floats
  EXPECT_EQ(c.train.steps, 42);
  EXPECT_EQ(c.optim.name, "adamw");
  EXPECT_EQ(c.train.seed, 9u);
  // The dump reads back to the same config.
  RunConfig d;
  d.apply_toml_text(c.to_toml(), "dump");
  EXPECT_EQ(d.to_toml(), c.to_toml());
}

TEST(RunConfig, BadInputNamesTheField) {
  RunConfig c;
  EXPECT_NE(error_of([&] {
              c.apply_toml_text("[model]\nn_layers = 2\n", "a.toml");
            }).find("a.toml: unknown key 'model.n_layers'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              c.apply_toml_text("[train]\nsteps = \"many\"\n", "b.toml");
            }).find("b.toml: train.steps: expected an integer, got a string"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              c.apply_toml_text("[train]\nsteps = 1.5\n", "b.toml");
            }).find("expected an integer, got a float"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.apply_toml_text("[model\n", "c.toml"); }).find("c.toml: "),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              c.apply_toml_text("[model]\nn_head = 99999999999\n", "d.toml");
            }).find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.apply_override("train.lr"); }).find("key=value"), std::string::npos);
  EXPECT_NE(error_of([&] { c.apply_override("train.lrr=1"); }).find("unknown key 'train.lrr'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.apply_override("train.steps=ten"); }).find("--set train.steps"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.apply_toml_file("/nonexistent/x.toml"); }).find("/nonexistent/x.toml"),
            std::string::npos);

  RunConfig v;
  v.model.n_embd = 100;
  v.model.n_head = 3;
  EXPECT_NE(error_of([&] {
              v.validate("e.toml");
            }).find("e.toml: model.n_embd (100) must be divisible by model.n_head (3)"),
            std::string::npos);
  RunConfig w;
  w.train.seq_len = w.model.context_length + 1;
  EXPECT_NE(error_of([&] { w.validate(); }).find("train.seq_len"), std::string::npos);
  RunConfig z;
  z.train.batch_size = -1;
  EXPECT_NE(error_of([&] { z.validate(); }).find("train.batch_size must be positive"),
            std::string::npos);
}

}  // namespace
}  // namespace cohort
