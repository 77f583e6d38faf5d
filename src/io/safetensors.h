// safetensors (Hugging Face): an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {str: str}}, then
// the raw little-endian tensor bytes. The reader trusts nothing in the header: every
// offset, size and dtype is checked against the file before anything is allocated.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cohort {

struct SafeTensor {
  std::string dtype;  // "F32", "I32", "I64", "F64", "BF16", "F16", "U8"
  std::vector<int64_t> shape;
  std::vector<char> bytes;         // the values, owned (read, put_floats, put_ints)
  const char* borrowed = nullptr;  // or the caller's (put_floats_borrowed), bytes left empty
  size_t borrowed_bytes = 0;
  size_t numel() const;
  const char* data() const { return borrowed ? borrowed : bytes.data(); }
  size_t size() const { return borrowed ? borrowed_bytes : bytes.size(); }
};

class SafetensorsFile {
 public:
  // Throws cohort::Error naming the file and what is wrong.
  static SafetensorsFile read(const std::string& path);
  void write(const std::string& path) const;

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const SafeTensor& at(const std::string& name) const;       // throws naming file and tensor
  std::vector<float> floats(const std::string& name) const;  // F32 (or F64, narrowed)
  std::vector<int32_t> ints(const std::string& name) const;  // I32 or I64 (range-checked)
  const std::map<std::string, SafeTensor>& tensors() const { return tensors_; }
  std::map<std::string, std::string>& metadata() { return metadata_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  void put_floats(const std::string& name, std::vector<int64_t> shape, const float* data);
  void put_ints(const std::string& name, std::vector<int64_t> shape, const int32_t* data);
  // The caller's floats, not copied: they must stay unchanged until write() returns. A
  // checkpoint's tensors go to the file straight from the model's and optimizer's buffers
  // (no copy of a file's size in memory while it is written).
  void put_floats_borrowed(const std::string& name, std::vector<int64_t> shape, const float* data);

 private:
  std::string path_;
  std::map<std::string, SafeTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace cohort
