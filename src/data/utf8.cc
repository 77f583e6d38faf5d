#include "data/utf8.h"

#include <cstdint>

namespace cohort {

namespace {

// Length of the sequence starting at lead byte b, 0 if b cannot start one.
int sequence_length(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

}  // namespace

size_t find_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const int len = sequence_length(s[i]);
    if (len == 0 || i + len > n) return i;
    for (int k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
    }
    // Second-byte ranges that rule out overlong forms, surrogates and > U+10FFFF.
    if (s[i] == 0xE0 && s[i + 1] < 0xA0) return i;
    if (s[i] == 0xED && s[i + 1] > 0x9F) return i;
    if (s[i] == 0xF0 && s[i + 1] < 0x90) return i;
    if (s[i] == 0xF4 && s[i + 1] > 0x8F) return i;
    i += len;
  }
  return std::string_view::npos;
}

size_t complete_utf8_prefix(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  size_t n = text.size();
  // Walk back over at most 3 continuation bytes to the last lead byte.
  size_t i = n;
  int back = 0;
  while (i > 0 && back < 4 && (s[i - 1] & 0xC0) == 0x80) {
    --i;
    ++back;
  }
  if (i == 0) return back == 0 ? 0 : n;  // only continuation bytes: nothing to wait for
  const int len = sequence_length(s[i - 1]);
  if (len > 1 && back + 1 < len) return i - 1;  // the last character is still incomplete
  return n;
}

}  // namespace cohort
