// libFuzzer: the tokenizer loaders (data/tokenizer.h). The input is tokenizer.json,
// optionally followed by "\n--8<--\n" and the bytes of the kind's model file (written
// as sentencepiece.model, encoder.json and vocab.bpe alike). A tokenizer that loads
// must round-trip a fixed text through encode and decode without failing.
#include <string>

#include "core/error.h"
#include "data/tokenizer.h"
#include "fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string cut = "\n--8<--\n";
  const size_t at = input.find(cut);
  const std::string json = input.substr(0, at);
  const std::string model = at == std::string::npos ? "" : input.substr(at + cut.size());
  auto put = [](const std::string& name, const std::string& bytes) {
    cohort::fuzz::write_input(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  };
  put("tokenizer.json", json);
  for (const char* name : {"sentencepiece.model", "encoder.json", "vocab.bpe"}) put(name, model);
  try {
    const auto tok = cohort::load_tokenizer(cohort::fuzz::scratch_dir());
    const auto ids = tok->encode("The quick brown fox, 12 tests\n  and \xc3\xa9t\xc3\xa9.");
    for (int32_t id : ids) {
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    }
    (void)tok->decode(ids);
  } catch (const cohort::Error&) {
  }
  return 0;
}
