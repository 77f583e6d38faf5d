#include "data/gpt2_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <climits>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace cohort {

namespace {

// GPT-2's pre-tokenizer (encoder.py).
constexpr const char* kPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string utf8_of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// Splits a UTF-8 string into its characters.
std::vector<std::string> utf8_chars(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    const size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    out.emplace_back(s.substr(i, len));
    i += len;
  }
  return out;
}

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

}  // namespace

Gpt2Tokenizer::Gpt2Tokenizer(const std::filesystem::path& dir) {
  // bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n.
  std::unordered_map<std::string, uint8_t> char_byte;
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    byte_char_[b] = utf8_of(printable ? uint32_t(b) : uint32_t(256 + extra++));
    char_byte[byte_char_[b]] = static_cast<uint8_t>(b);
  }

  const auto encoder_path = dir / "encoder.json";
  const auto bpe_path = dir / "vocab.bpe";
  encoder_json_ = read_file(encoder_path);
  vocab_bpe_ = read_file(bpe_path);
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(encoder_json_);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", encoder_path.string(), e.what()));
  }
  if (!enc.is_object() || enc.empty()) {
    throw Error(fmt::format("{}: expected an object of token -> id", encoder_path.string()));
  }
  tokens_.resize(enc.size());
  for (const auto& [token, idv] : enc.items()) {
    if (!idv.is_number_integer() || idv.get<long>() < 0 || idv.get<size_t>() >= enc.size()) {
      throw Error(fmt::format("{}: token '{}': id must be an integer in [0, {})",
                              encoder_path.string(), token, enc.size()));
    }
    const auto id = idv.get<int32_t>();
    ids_[token] = id;
    std::string bytes;
    for (const auto& ch : utf8_chars(token)) {
      auto it = char_byte.find(ch);
      if (it == char_byte.end()) {
        throw Error(fmt::format("{}: token '{}' has a character outside GPT-2's byte alphabet",
                                encoder_path.string(), token));
      }
      bytes += char(it->second);
    }
    tokens_[id] = std::move(bytes);
  }

  size_t line_no = 0, pos = 0;
  int rank = 0;
  while (pos < vocab_bpe_.size()) {
    size_t end = vocab_bpe_.find('\n', pos);
    if (end == std::string::npos) end = vocab_bpe_.size();
    std::string_view line(vocab_bpe_.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty() || line.starts_with("#version")) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size()) {
      throw Error(fmt::format("{}: line {}: expected two symbols separated by a space",
                              bpe_path.string(), line_no));
    }
    ranks_.emplace(std::string(line), rank++);
  }
  if (ranks_.empty()) throw Error(fmt::format("{}: no merges", bpe_path.string()));

  int err = 0;
  PCRE2_SIZE offset = 0;
  regex_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  COHORT_CHECK(regex_ != nullptr) << "GPT-2 pattern failed to compile, error " << err;
}

Gpt2Tokenizer::~Gpt2Tokenizer() { pcre2_code_free(as_code(regex_)); }

void Gpt2Tokenizer::bpe(const std::string& piece, std::vector<int32_t>& out) const {
  std::vector<std::string> word;
  for (unsigned char b : piece) word.push_back(byte_char_[b]);
  std::string key;
  while (word.size() > 1) {
    int best = INT_MAX;
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      key = word[i];
      key += ' ';
      key += word[i + 1];
      auto it = ranks_.find(key);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        best_i = i;
      }
    }
    if (best == INT_MAX) break;
    // Merge every occurrence of the best pair, left to right, as encoder.py does.
    const std::string first = word[best_i], second = word[best_i + 1];
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i]);
        ++i;
      }
    }
    word = std::move(merged);
  }
  for (const auto& sym : word) {
    auto it = ids_.find(sym);
    COHORT_CHECK(it != ids_.end()) << "BPE symbol missing from encoder.json";
    out.push_back(it->second);
  }
}

std::vector<int32_t> Gpt2Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(as_code(regex_), nullptr), &pcre2_match_data_free);
  pcre2_match_data* md = match.get();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  PCRE2_SIZE start = 0;
  std::string piece;
  while (start < text.size()) {
    const int rc = pcre2_match(as_code(regex_), subject, text.size(), start, 0, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      throw Error(
          fmt::format("gpt2 tokenizer: cannot split text at byte {} (invalid UTF-8?)", start));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    if (ov[1] == ov[0]) break;  // the pattern never matches empty; guard anyway
    piece.assign(text.data() + ov[0], ov[1] - ov[0]);
    auto cached = cache_.find(piece);
    if (cached == cache_.end()) {
      std::vector<int32_t> ids;
      bpe(piece, ids);
      cached = cache_.emplace(piece, std::move(ids)).first;
    }
    out.insert(out.end(), cached->second.begin(), cached->second.end());
    start = ov[1];
  }
  return out;
}

std::string Gpt2Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id >= 0 && size_t(id) < tokens_.size()) out += tokens_[id];
  }
  return out;
}

void Gpt2Tokenizer::save(const std::filesystem::path& dir) const {
  write_file_atomic(dir / "encoder.json", encoder_json_);
  write_file_atomic(dir / "vocab.bpe", vocab_bpe_);
  write_file_atomic(dir / "tokenizer.json",
                    nlohmann::json{{"kind", kind()}, {"vocab_size", vocab_size()}}.dump(2));
}

}  // namespace cohort
