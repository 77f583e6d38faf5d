// UTF-8 validation. cohort refuses invalid UTF-8 input rather than replacing it: a
// corpus with broken bytes is usually the wrong file or the wrong encoding, and a
// silent U+FFFD would hide that.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cohort {

// Byte offset of the first invalid sequence, or npos when text is valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t find_invalid_utf8(std::string_view text);

// Length of the longest prefix of text that ends on a whole UTF-8 character: what a
// streaming printer can emit now.
size_t complete_utf8_prefix(std::string_view text);

}  // namespace cohort
