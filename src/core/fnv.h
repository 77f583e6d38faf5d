// FNV-1a 64: a fast, dependency-free fingerprint for files, token streams and
// parameter buffers (integrity and agreement checks, not security).
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace cohort {

// The hash so far, continued over more bytes: a file hashed in pieces gets the hash of
// the whole.
inline uint64_t fnv1a64_update(uint64_t h, const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}
inline constexpr uint64_t kFnv1a64Start = 1469598103934665603ull;

inline std::string fnv1a64_hex(const void* data, size_t bytes) {
  return fmt::format("{:016x}", fnv1a64_update(kFnv1a64Start, data, bytes));
}

}  // namespace cohort
