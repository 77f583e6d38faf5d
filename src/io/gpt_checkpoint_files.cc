#include "io/gpt_checkpoint_files.h"

#include <fmt/format.h>

#include <cstring>

#include "core/error.h"
#include "io/safetensors.h"

namespace cohort {

void write_gpt_safetensors(const std::filesystem::path& path, int64_t vocab_size,
                           const ParameterLayout& layout, const float* params) {
  SafetensorsFile file;
  for (const auto& t : layout.tensors()) {
    auto shape = t.shape;
    if (t.name == "wte.weight") shape[0] = vocab_size;  // HF keeps V rows
    file.put_floats(t.name, shape, params + t.offset);
  }
  file.metadata()["format"] = "pt";
  file.write(path.string());
}

void read_gpt_safetensors(const std::filesystem::path& path, int64_t vocab_size,
                          const ParameterLayout& layout, float* params) {
  const std::string where = path.string();
  const SafetensorsFile file = SafetensorsFile::read(where);
  std::memset(params, 0, layout.total() * sizeof(float));
  for (const auto& t : layout.tensors()) {
    if (!file.contains(t.name)) throw Error(fmt::format("{}: missing tensor '{}'", where, t.name));
    const SafeTensor& st = file.at(t.name);
    auto expect = t.shape;
    if (t.name == "wte.weight" && !st.shape.empty() && st.shape[0] == vocab_size) {
      expect[0] = vocab_size;
    }
    if (st.shape != expect) {
      std::string got, want;
      for (auto d : st.shape) got += fmt::format("{}{}", got.empty() ? "" : ",", d);
      for (auto d : expect) want += fmt::format("{}{}", want.empty() ? "" : ",", d);
      throw Error(fmt::format("{}: tensor '{}' has shape ({}), the config needs ({})", where,
                              t.name, got, want));
    }
    const auto values = file.floats(t.name);
    std::memcpy(params + t.offset, values.data(), values.size() * sizeof(float));
  }
}

}  // namespace cohort
