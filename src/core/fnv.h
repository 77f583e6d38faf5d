// FNV-1a 64: a fast, dependency-free fingerprint for files, token streams and
// parameter buffers (integrity and agreement checks, not security).
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace cohort {

inline std::string fnv1a64_hex(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace cohort
