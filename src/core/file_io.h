// Whole-file reads and atomic writes. Every file cohort writes goes to a temporary
// name in the same directory, is fsynced, then renamed over the target, so a crash or
// a full disk never leaves a half-written file where a good one was.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace cohort {

// Throws cohort::Error naming the path when it cannot be read.
std::string read_file(const std::filesystem::path& path);
// Throws cohort::Error naming the path (and errno's text) when it cannot be written.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
// The same for a file made of pieces, written one after the other without joining them.
void write_file_atomic(const std::filesystem::path& path, std::span<const std::string_view> pieces);
// fsync a directory so that renames inside it are durable.
void sync_directory(const std::filesystem::path& dir);

}  // namespace cohort
