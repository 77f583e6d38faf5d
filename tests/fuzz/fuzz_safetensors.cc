// libFuzzer: the safetensors reader (io/safetensors.h), which checkpoints go through,
// on arbitrary bytes; then every tensor it accepted is read back.
#include "core/error.h"
#include "fuzz_input_file.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = cohort::fuzz::write_input("model.safetensors", data, size);
  try {
    const auto file = cohort::SafetensorsFile::read(path.string());
    for (const auto& [name, tensor] : file.tensors()) {
      // The claimed shape was checked against the bytes actually present.
      if (tensor.bytes.size() > size) __builtin_trap();
      try {
        const auto values = file.floats(name);
        if (values.size() > tensor.bytes.size()) __builtin_trap();
        const auto ints = file.ints(name);
        if (ints.size() > tensor.bytes.size()) __builtin_trap();
      } catch (const cohort::Error&) {
      }
    }
  } catch (const cohort::Error&) {
  }
  return 0;
}
