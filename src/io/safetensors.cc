#include "io/safetensors.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace cohort {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation

size_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "U8" || d == "I8" || d == "BOOL") return 1;
  return 0;
}

}  // namespace

size_t SafeTensor::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(fmt::format("{}: cannot open", path));
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  uint64_t header_len = 0;
  if (file_size < 8 || !in.read(reinterpret_cast<char*>(&header_len), 8)) {
    throw Error(
        fmt::format("{}: not a safetensors file (shorter than its 8-byte header length)", path));
  }
  if (header_len > kMaxHeaderBytes || header_len > file_size - 8) {
    throw Error(fmt::format("{}: header length {} exceeds the file ({} bytes)", path, header_len,
                            file_size));
  }
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json j = nlohmann::json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw Error(fmt::format("{}: header is not a JSON object", path));
  }
  const uint64_t data_size = file_size - 8 - header_len;
  SafetensorsFile f;
  f.path_ = path;
  for (auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw Error(fmt::format("{}: __metadata__ is not an object", path));
      for (auto& [k, s] : v.items()) {
        if (!s.is_string())
          throw Error(fmt::format("{}: __metadata__.{} is not a string", path, k));
        f.metadata_[k] = s.get<std::string>();
      }
      continue;
    }
    const std::string tensor_name = name;  // (clang 14 lambdas cannot capture bindings)
    auto bad = [&](const std::string& why) {
      return Error(fmt::format("{}: tensor '{}': {}", path, tensor_name, why));
    };
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets")) {
      throw bad("needs dtype, shape and data_offsets");
    }
    SafeTensor t;
    if (!v["dtype"].is_string()) throw bad("dtype is not a string");
    t.dtype = v["dtype"].get<std::string>();
    const size_t esize = dtype_size(t.dtype);
    if (esize == 0) throw bad(fmt::format("unknown dtype '{}'", t.dtype));
    if (!v["shape"].is_array()) throw bad("shape is not an array");
    uint64_t numel = 1;
    for (auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape holds a negative or non-integer dimension");
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && numel > data_size / dim) throw bad("shape is larger than the file");
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned()) {
      throw bad("data_offsets must be two non-negative integers");
    }
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_size)
      throw bad(
          fmt::format("data_offsets [{}, {}) outside the data ({} bytes)", begin, end, data_size));
    if (end - begin != numel * esize) {
      throw bad(fmt::format("data_offsets span {} bytes, shape and dtype need {}", end - begin,
                            numel * esize));
    }
    t.bytes.resize(end - begin);
    in.seekg(static_cast<std::streamoff>(8 + header_len + begin));
    if (!in.read(t.bytes.data(), static_cast<std::streamsize>(end - begin)))
      throw bad("truncated data");
    f.tensors_[name] = std::move(t);
  }
  return f;
}

void SafetensorsFile::write(const std::string& path) const {
  nlohmann::json j = nlohmann::json::object();
  if (!metadata_.empty()) j["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {
    j[name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.size()}}};
    offset += t.size();
  }
  std::string header = j.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // align the data to 8 bytes
  const uint64_t len = header.size();
  // Written piece by piece from where the values lie: no copy of the file in memory.
  std::vector<std::string_view> pieces{std::string_view(reinterpret_cast<const char*>(&len), 8),
                                       header};
  for (const auto& [name, t] : tensors_) pieces.emplace_back(t.data(), t.size());
  write_file_atomic(path, pieces);  // never a half-written file under the real name
}

const SafeTensor& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(fmt::format("{}: no tensor named '{}'", path_, name));
  return it->second;
}

std::vector<float> SafetensorsFile::floats(const std::string& name) const {
  const SafeTensor& t = at(name);
  std::vector<float> out(t.numel());
  if (t.dtype == "F32") {
    std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  } else if (t.dtype == "F64") {
    for (size_t i = 0; i < out.size(); ++i) {
      double d;
      std::memcpy(&d, t.bytes.data() + 8 * i, 8);
      out[i] = static_cast<float>(d);
    }
  } else {
    throw Error(fmt::format("{}: tensor '{}' is {}, expected F32 or F64", path_, name, t.dtype));
  }
  return out;
}

std::vector<int32_t> SafetensorsFile::ints(const std::string& name) const {
  const SafeTensor& t = at(name);
  std::vector<int32_t> out(t.numel());
  if (t.dtype == "I32") {
    std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  } else if (t.dtype == "I64") {
    for (size_t i = 0; i < out.size(); ++i) {
      int64_t v;
      std::memcpy(&v, t.bytes.data() + 8 * i, 8);
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
        throw Error(
            fmt::format("{}: tensor '{}' element {} = {} does not fit int32", path_, name, i, v));
      }
      out[i] = static_cast<int32_t>(v);
    }
  } else {
    throw Error(fmt::format("{}: tensor '{}' is {}, expected I32 or I64", path_, name, t.dtype));
  }
  return out;
}

void SafetensorsFile::put_floats(const std::string& name, std::vector<int64_t> shape,
                                 const float* data) {
  SafeTensor t{"F32", std::move(shape), {}};
  t.bytes.resize(t.numel() * 4);
  std::memcpy(t.bytes.data(), data, t.bytes.size());
  tensors_[name] = std::move(t);
}

void SafetensorsFile::put_floats_borrowed(const std::string& name, std::vector<int64_t> shape,
                                          const float* data) {
  SafeTensor t{"F32", std::move(shape), {}};
  t.borrowed = reinterpret_cast<const char*>(data);
  t.borrowed_bytes = t.numel() * 4;
  tensors_[name] = std::move(t);
}

void SafetensorsFile::put_ints(const std::string& name, std::vector<int64_t> shape,
                               const int32_t* data) {
  SafeTensor t{"I32", std::move(shape), {}};
  t.bytes.resize(t.numel() * 4);
  std::memcpy(t.bytes.data(), data, t.bytes.size());
  tensors_[name] = std::move(t);
}

}  // namespace cohort
