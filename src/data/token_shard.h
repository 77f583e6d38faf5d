// Token shard files. A shard is a 256 x int32 header then the tokens:
//   header[0] magic 20240520, header[1] version, header[2] token count,
//   header[3] token width in bytes; the rest 0.
// Version 1 holds uint16 tokens and is byte for byte llm.c's shard format (llm.c
// writes 0 in header[3], so cohort writes 0 too and reads 0 or 2). Version 2 holds
// int32 tokens, for vocabularies above 65,536.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace cohort {

inline constexpr int32_t kShardMagic = 20240520;
inline constexpr size_t kShardHeaderInts = 256;

// Writes atomically (temporary name, fsync, rename). width 2 requires every token in
// [0, 65536); width 0 picks 2 when they fit, else 4.
void write_token_shard(const std::filesystem::path& path, std::span<const int32_t> tokens,
                       int width = 0);

// Reads and validates a shard; throws cohort::Error naming the file and what is wrong
// (magic, version, width, a size that does not match the count, negative tokens).
std::vector<int32_t> read_token_shard(const std::filesystem::path& path);

}  // namespace cohort
