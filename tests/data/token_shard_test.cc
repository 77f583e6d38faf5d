// Token shards: llm.c byte compatibility both ways, int32 shards, and every way a
// shard file can be broken.
#include "data/token_shard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file_io.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("cohort_shard_" + std::to_string(::getpid()) + "_" + name);
}

// The bytes llm.c's write_datafile (dev/data/data_common.py) produces: header int32[256]
// zeros with magic, version 1 and the count; then the tokens as little-endian uint16.
std::string llmc_shard_bytes(const std::vector<uint16_t>& tokens) {
  int32_t header[256] = {};
  header[0] = 20240520;
  header[1] = 1;
  header[2] = int32_t(tokens.size());
  std::string b(reinterpret_cast<const char*>(header), sizeof(header));
  b.append(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 2);
  return b;
}

TEST(TokenShard, Uint16FormIsLlmcFormatBothWays) {
  const std::vector<uint16_t> raw = {50256, 15496, 995, 0, 65535};
  const std::vector<int32_t> tokens(raw.begin(), raw.end());
  const auto path = temp_file("llmc.bin");
  write_token_shard(path, tokens);
  EXPECT_EQ(read_file(path), llmc_shard_bytes(raw)) << "cohort writes llm.c's bytes";
  write_file_atomic(path, llmc_shard_bytes(raw));
  EXPECT_EQ(read_token_shard(path), tokens) << "cohort reads llm.c's file";
  fs::remove(path);
}

TEST(TokenShard, Int32FormForLargeVocabularies) {
  const std::vector<int32_t> tokens = {0, 70000, 1 << 20};
  const auto path = temp_file("wide.bin");
  write_token_shard(path, tokens);
  EXPECT_EQ(fs::file_size(path), 1024u + 12u);
  EXPECT_EQ(read_token_shard(path), tokens);
  EXPECT_THROW(write_token_shard(path, tokens, 2), Error);
  fs::remove(path);
}

void expect_rejected(const std::string& bytes, const std::string& fragment) {
  const auto path = temp_file("bad.bin");
  write_file_atomic(path, bytes);
  try {
    read_token_shard(path);
    ADD_FAILURE() << "accepted a shard that should fail with: " << fragment;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
  fs::remove(path);
}

TEST(TokenShard, RejectsBrokenFiles) {
  const std::string good = llmc_shard_bytes({1, 2, 3, 4});
  std::string magic = good;
  magic[0] ^= 1;
  expect_rejected(magic, "wrong magic");
  std::string version = good;
  version[4] = 7;
  expect_rejected(version, "unsupported version");
  expect_rejected(good.substr(0, good.size() - 1), "truncated");
  expect_rejected(good + "xx", "trailing bytes");
  expect_rejected(good.substr(0, 100), "shorter than the 1024-byte shard header");
  std::string negative = good;
  const int32_t minus = -5;
  std::memcpy(negative.data() + 8, &minus, 4);
  expect_rejected(negative, "negative token count");
  EXPECT_THROW(read_token_shard(temp_file("missing.bin")), Error);
}

}  // namespace
}  // namespace cohort
