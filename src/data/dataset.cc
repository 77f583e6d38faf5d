#include "data/dataset.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/fnv.h"
#include "data/token_shard.h"

namespace cohort {

std::string token_fingerprint(std::span<const int32_t> tokens) {
  return fnv1a64_hex(tokens.data(), tokens.size_bytes());  // little-endian bytes
}

SplitInfo write_split(const std::filesystem::path& dir, const std::string& split,
                      std::span<const int32_t> tokens, long words) {
  SplitInfo info;
  info.tokens = long(tokens.size());
  info.words = words;
  info.fingerprint = token_fingerprint(tokens);
  for (size_t begin = 0, n = 0; begin < tokens.size() || n == 0; begin += kTokensPerShard, ++n) {
    const size_t count = std::min(tokens.size() - begin, size_t(kTokensPerShard));
    const std::string name = fmt::format("{}_{:06d}.bin", split, n);
    write_token_shard(dir / name, tokens.subspan(begin, count));
    info.shards.push_back(name);
    if (count == 0) break;
  }
  return info;
}

void write_dataset_info(const std::filesystem::path& dir, const DatasetInfo& info) {
  nlohmann::json splits = nlohmann::json::object();
  for (const auto& [name, s] : info.splits) {
    splits[name] = {{"tokens", s.tokens},
                    {"words", s.words},
                    {"shards", s.shards},
                    {"fingerprint", s.fingerprint}};
  }
  nlohmann::json j{{"name", info.name},
                   {"tokenizer", info.tokenizer},
                   {"vocab_size", info.vocab_size},
                   {"splits", splits}};
  write_file_atomic(dir / "dataset.json", j.dump(2) + "\n");
}

DatasetInfo read_dataset_info(const std::filesystem::path& dir) {
  const auto path = dir / "dataset.json";
  const std::string where = path.string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(fmt::format("{}: missing: {} is not a prepared dataset (run cohort prepare)", where,
                            dir.string()));
  }
  DatasetInfo info;
  try {
    const auto j = nlohmann::json::parse(read_file(path));
    info.name = j.at("name").get<std::string>();
    info.tokenizer = j.at("tokenizer").get<std::string>();
    info.vocab_size = j.at("vocab_size").get<int>();
    for (const auto& [name, s] : j.at("splits").items()) {
      SplitInfo si;
      si.tokens = s.at("tokens").get<long>();
      si.words = s.at("words").get<long>();
      si.shards = s.at("shards").get<std::vector<std::string>>();
      si.fingerprint = s.at("fingerprint").get<std::string>();
      info.splits[name] = si;
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: {}", where, e.what()));
  }
  if (info.vocab_size <= 0) throw Error(fmt::format("{}: vocab_size must be > 0", where));
  return info;
}

std::vector<int32_t> load_split(const std::filesystem::path& dir, const DatasetInfo& info,
                                const std::string& split) {
  auto it = info.splits.find(split);
  if (it == info.splits.end()) {
    std::string names;
    for (const auto& [n, s] : info.splits) names += (names.empty() ? "" : ", ") + n;
    throw Error(fmt::format("{}: no split '{}' (it has: {})", (dir / "dataset.json").string(),
                            split, names));
  }
  std::vector<int32_t> tokens;
  tokens.reserve(size_t(std::max(0L, it->second.tokens)));
  for (const auto& shard : it->second.shards) {
    const auto part = read_token_shard(dir / shard);
    for (size_t i = 0; i < part.size(); ++i) {
      if (part[i] >= info.vocab_size) {
        throw Error(fmt::format("{}: token {} is {}, outside the vocabulary of {}",
                                (dir / shard).string(), i, part[i], info.vocab_size));
      }
    }
    tokens.insert(tokens.end(), part.begin(), part.end());
  }
  if (long(tokens.size()) != it->second.tokens ||
      token_fingerprint(tokens) != it->second.fingerprint) {
    throw Error(
        fmt::format("{}: split '{}' does not match dataset.json (tokens {} vs {}, or a "
                    "changed shard): prepare it again",
                    dir.string(), split, tokens.size(), it->second.tokens));
  }
  return tokens;
}

}  // namespace cohort
