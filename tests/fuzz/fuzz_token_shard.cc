// libFuzzer: the token-shard reader (data/token_shard.h) on arbitrary bytes. Any
// outcome but a cohort::Error or a well-formed token vector is a bug.
#include "core/error.h"
#include "data/token_shard.h"
#include "fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = cohort::fuzz::write_input("shard.bin", data, size);
  try {
    const auto tokens = cohort::read_token_shard(path);
    // The header's count was checked against the file: the tokens are all there.
    if (tokens.size() * 2 > size) __builtin_trap();
  } catch (const cohort::Error&) {
  }
  return 0;
}
