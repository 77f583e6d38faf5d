#include "data/token_shard.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/file_io.h"

namespace cohort {

void write_token_shard(const std::filesystem::path& path, std::span<const int32_t> tokens,
                       int width) {
  int32_t max_token = 0;
  for (int32_t t : tokens) {
    if (t < 0) throw Error(fmt::format("{}: negative token id {}", path.string(), t));
    max_token = std::max(max_token, t);
  }
  if (width == 0) width = max_token < 65536 ? 2 : 4;
  if (width != 2 && width != 4)
    throw Error(fmt::format("{}: token width must be 2 or 4", path.string()));
  if (width == 2 && max_token >= 65536) {
    throw Error(fmt::format("{}: token {} does not fit a uint16 shard", path.string(), max_token));
  }
  if (tokens.size() > size_t(INT32_MAX)) {
    throw Error(
        fmt::format("{}: {} tokens exceed one shard's limit", path.string(), tokens.size()));
  }
  int32_t header[kShardHeaderInts] = {};
  header[0] = kShardMagic;
  header[1] = width == 2 ? 1 : 2;
  header[2] = static_cast<int32_t>(tokens.size());
  header[3] = width == 2 ? 0 : 4;
  std::string bytes(sizeof(header) + tokens.size() * width, '\0');
  std::memcpy(bytes.data(), header, sizeof(header));
  char* out = bytes.data() + sizeof(header);
  if (width == 2) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      const auto v = static_cast<uint16_t>(tokens[i]);
      std::memcpy(out + 2 * i, &v, 2);
    }
  } else {
    std::memcpy(out, tokens.data(), tokens.size() * 4);
  }
  write_file_atomic(path, bytes);
}

std::vector<int32_t> read_token_shard(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(fmt::format("{}: cannot read shard: {}", where, ec.message()));
  if (file_size < kShardHeaderInts * 4) {
    throw Error(
        fmt::format("{}: {} bytes, shorter than the 1024-byte shard header", where, file_size));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open shard", where));
  int32_t header[kShardHeaderInts];
  in.read(reinterpret_cast<char*>(header), sizeof(header));
  if (header[0] != kShardMagic) {
    throw Error(fmt::format("{}: wrong magic {} (a token shard starts with {})", where, header[0],
                            kShardMagic));
  }
  int width;
  if (header[1] == 1 && (header[3] == 0 || header[3] == 2)) {
    width = 2;
  } else if (header[1] == 2 && header[3] == 4) {
    width = 4;
  } else {
    throw Error(
        fmt::format("{}: unsupported version {} with token width {} (expected 1 with "
                    "uint16 tokens, or 2 with int32)",
                    where, header[1], header[3]));
  }
  if (header[2] < 0) throw Error(fmt::format("{}: negative token count {}", where, header[2]));
  const uint64_t count = uint64_t(header[2]);
  const uint64_t expected = kShardHeaderInts * 4 + count * width;
  if (file_size != expected) {
    throw Error(fmt::format("{}: {} bytes, but the header's {} tokens of {} bytes need {}{}", where,
                            file_size, count, width, expected,
                            file_size < expected ? " (truncated)" : " (trailing bytes)"));
  }
  std::vector<int32_t> tokens(count);
  if (width == 2) {
    std::vector<uint16_t> raw(count);
    in.read(reinterpret_cast<char*>(raw.data()), std::streamsize(count * 2));
    for (size_t i = 0; i < count; ++i) tokens[i] = raw[i];
  } else {
    in.read(reinterpret_cast<char*>(tokens.data()), std::streamsize(count * 4));
    for (size_t i = 0; i < count; ++i) {
      if (tokens[i] < 0) throw Error(fmt::format("{}: token {} is negative", where, i));
    }
  }
  if (!in) throw Error(fmt::format("{}: read error", where));
  return tokens;
}

}  // namespace cohort
