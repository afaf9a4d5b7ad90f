// File helpers every layer uses: whole-file reads with errors that name the path, and atomic
// writes (temp file in the same directory, fsync, rename) so that no reader ever sees a
// partial file and a crash leaves either the old file or the new one.
// Not for: memory-mapped token files (data/) or the SQLite store (store/).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab {

std::string read_text_file(const std::filesystem::path& path);
std::vector<std::uint8_t> read_binary_file(const std::filesystem::path& path);

// Writes `bytes` to `path` atomically; creates parent directories.
void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);
void write_file_atomic(const std::filesystem::path& path, std::string_view text);

// The user's cache directory for lmlab data: $LMLAB_CACHE, else $XDG_CACHE_HOME/lmlab,
// else ~/.cache/lmlab. Outside git by design.
std::filesystem::path cache_dir();

// Lower-case hex sha256 of a byte string / of a file's contents.
std::string sha256_hex(std::span<const std::uint8_t> bytes);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace lmlab
