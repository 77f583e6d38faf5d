// libFuzzer: the TOML run config (train/run_config.h) on arbitrary text, then validated.
#include <string>

#include "core/error.h"
#include "train/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    cohort::RunConfig config;
    config.apply_toml_text(text, "fuzz.toml");
    config.validate("fuzz.toml");
    (void)config.to_toml();
  } catch (const cohort::Error&) {
  }
  return 0;
}
