#include "io/model_safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
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

std::vector<std::string> write_hf_model_files(const std::filesystem::path& dir,
                                              const std::string& arch, int64_t vocab_size,
                                              const ParameterLayout& layout, const float* params,
                                              size_t max_shard_bytes) {
  // Files of consecutive tensors, each closed before it would pass max_shard_bytes.
  std::vector<std::vector<const ParameterTensor*>> groups(1);
  std::vector<size_t> bytes(1, 0);
  size_t total = 0;
  for (const auto& t : layout.tensors()) {
    const size_t b = (t.name == "wte.weight" ? size_t(vocab_size) * size_t(t.shape[1]) : t.numel) *
                     sizeof(float);
    if (!groups.back().empty() && bytes.back() + b > max_shard_bytes) {
      groups.emplace_back();
      bytes.push_back(0);
    }
    groups.back().push_back(&t);
    bytes.back() += b;
    total += b;
  }
  if (groups.size() == 1) {
    write_model_safetensors(dir / "model.safetensors", arch, vocab_size, layout, params);
    return {"model.safetensors"};
  }
  std::vector<std::string> files;
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string name =
        fmt::format("model-{:05d}-of-{:05d}.safetensors", g + 1, groups.size());
    SafetensorsFile file;
    for (const ParameterTensor* t : groups[g]) {
      auto shape = t->shape;
      if (t->name == "wte.weight") shape[0] = vocab_size;
      const std::string hf = hf_tensor_name(arch, t->name);
      file.put_floats_borrowed(hf, shape, params + t->offset);
      weight_map[hf] = name;
    }
    file.metadata()["format"] = "pt";
    file.write((dir / name).string());
    files.push_back(name);
  }
  const nlohmann::json index{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic(dir / "model.safetensors.index.json", index.dump(2) + "\n");
  files.push_back("model.safetensors.index.json");
  return files;
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
