#include "data/byte_tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/file_io.h"

namespace cohort {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<uint8_t>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<char>(ids[i] & 0xFF);
  return out;
}

void ByteTokenizer::save(const std::filesystem::path& dir) const {
  write_file_atomic(dir / "tokenizer.json",
                    nlohmann::json{{"kind", kind()}, {"vocab_size", 256}}.dump(2));
}

}  // namespace cohort
