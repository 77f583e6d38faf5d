#include "io/model_safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/tensor_names.h"

namespace cohort {

void write_model_safetensors(const std::filesystem::path& path, const std::string& arch,
                             int64_t vocab_size, const ParameterLayout& layout,
                             const float* params) {
  SafetensorsFile file;
  for (const auto& t : layout.tensors()) {
    auto shape = t.shape;
    if (t.name == "wte.weight") shape[0] = vocab_size;  // HF keeps V rows
    file.put_floats_borrowed(hf_tensor_name(arch, t.name), shape, params + t.offset);
  }
  file.metadata()["format"] = "pt";
  file.write(path.string());
}

void read_model_safetensors(const std::filesystem::path& path, const std::string& arch,
                            int64_t vocab_size, const ParameterLayout& layout, float* params) {
  const std::string where = path.string();
  const SafetensorsFile file = SafetensorsFile::read(where);
  std::memset(params, 0, layout.total() * sizeof(float));
  for (const auto& t : layout.tensors()) {
    const std::vector<std::string> names = hf_tensor_names_read(arch, t.name);
    auto found = std::find_if(names.begin(), names.end(),
                              [&](const std::string& n) { return file.contains(n); });
    if (found == names.end())
      throw Error(fmt::format("{}: missing tensor '{}'", where, names.front()));
    const std::string& name = *found;
    const SafeTensor& st = file.at(name);
    auto expect = t.shape;
    if (t.name == "wte.weight" && !st.shape.empty() && st.shape[0] == vocab_size) {
      expect[0] = vocab_size;
    }
    if (st.shape != expect) {
      std::string got, want;
      for (auto d : st.shape) got += fmt::format("{}{}", got.empty() ? "" : ",", d);
      for (auto d : expect) want += fmt::format("{}{}", want.empty() ? "" : ",", d);
      throw Error(fmt::format("{}: tensor '{}' has shape ({}), the config needs ({})", where, name,
                              got, want));
    }
    const auto values = file.floats(name);
    std::memcpy(params + t.offset, values.data(), values.size() * sizeof(float));
  }
}

}  // namespace cohort
