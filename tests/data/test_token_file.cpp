// Token files: round trips in both dtypes; truncated, oversized and corrupt files give errors
// that name the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <cstring>
#include <fstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/token_file.hpp"

#include "../error_of.hpp"
#include "../temp_path.hpp"

namespace d = lmlab::data;
namespace fs = std::filesystem;

namespace {
fs::path tmp(const std::string& name) { return lmlab::testing::temp_path("tokfile", name); }
using lmlab::testing::error_of;
void rewrite(const fs::path& p, std::vector<std::uint8_t> bytes) { lmlab::write_file_atomic(p, bytes); }
}  // namespace

TEST(token_file, round_trip_u16_and_u32) {
  const std::vector<std::int32_t> small{0, 1, 65535, 7, 42};
  const auto p16 = tmp("a16.bin");
  d::write_token_file(p16, small, 65536);
  d::token_file f16(p16);
  EXPECT_EQ(f16.dtype(), d::token_dtype::u16);
  EXPECT_EQ(f16.size(), 5u);
  EXPECT_EQ(f16.vocab_size(), 65536);
  EXPECT_EQ(f16.to_vector(), small);
  EXPECT_EQ(fs::file_size(p16), 64u + 2 * 5);

  const std::vector<std::int32_t> big{0, 50256, 65536, 100000};
  const auto p32 = tmp("a32.bin");
  d::write_token_file(p32, big, 100277);
  d::token_file f32(p32);
  EXPECT_EQ(f32.dtype(), d::token_dtype::u32);
  EXPECT_EQ(f32[2], 65536);
  EXPECT_EQ(f32.to_vector(), big);

  const auto pe = tmp("empty.bin");
  d::write_token_file(pe, {}, 10);
  EXPECT_EQ(d::token_file(pe).size(), 0u);
}

TEST(token_file, id_outside_vocab_is_rejected_on_write) {
  const std::vector<std::int32_t> ids{1, 96};
  const auto p = tmp("bad.bin");
  EXPECT_EQ(error_of([&] { d::write_token_file(p, ids, 96); }), p.string() + ": id 96 at position 1 is outside [0, 96)");
  EXPECT_FALSE(fs::exists(p));
}

TEST(token_file, truncated_oversized_and_corrupt_files_name_the_file) {
  std::vector<std::int32_t> ids(100);
  for (int i = 0; i < 100; ++i) ids[i] = i * 3;
  const auto p = tmp("c.bin");
  d::write_token_file(p, ids, 300);
  const auto good = lmlab::read_binary_file(p);

  auto cut = good;
  cut.resize(good.size() - 1);
  rewrite(p, cut);
  EXPECT_EQ(error_of([&] { d::token_file f(p); }),
            p.string() + ": truncated token file: 263 bytes, but the header says 100 ids of 2 bytes (264 bytes in all)");

  auto header_only = good;
  header_only.resize(40);
  rewrite(p, header_only);
  EXPECT_EQ(error_of([&] { d::token_file f(p); }),
            p.string() + ": truncated token file: 40 bytes, shorter than the 64-byte header");

  auto longer = good;
  longer.push_back(0);
  longer.push_back(0);
  rewrite(p, longer);
  EXPECT_EQ(error_of([&] { d::token_file f(p); }),
            p.string() + ": oversized token file: 266 bytes, but the header says 100 ids of 2 bytes (264 bytes in all)");

  auto payload = good;
  payload[64 + 10] ^= 0x01;
  rewrite(p, payload);
  EXPECT_EQ(error_of([&] { d::token_file f(p); }), p.string() + ": corrupt token file: payload checksum mismatch");
  EXPECT_NO_THROW(d::token_file(p, /*verify_payload=*/false));

  auto header = good;
  header[16] ^= 0x01;  // count
  rewrite(p, header);
  EXPECT_EQ(error_of([&] { d::token_file f(p); }), p.string() + ": corrupt token file header (header checksum mismatch)");

  auto magic = good;
  magic[0] = 'X';
  rewrite(p, magic);
  EXPECT_EQ(error_of([&] { d::token_file f(p); }), p.string() + ": not a token file (bad magic; expected \"LMLABTOK\")");

  const auto missing = tmp("missing.bin");
  EXPECT_EQ(error_of([&] { d::token_file f(missing); }),
            missing.string() + ": cannot open token file: No such file or directory");
}

TEST(token_file, an_id_count_that_wraps_the_length_check_is_rejected) {
  // 64 + (2^63 + 100) * 2 wraps to 264, this file's length: the check passed and readers ran
  // past the mapping (train segfaulted, eval read garbage and exited 0).
  std::vector<std::int32_t> ids(100, 1);
  const auto p = tmp("wrap.bin");
  d::write_token_file(p, ids, 300);
  auto bytes = lmlab::read_binary_file(p);
  const std::uint64_t count = (std::uint64_t{1} << 63) + 100;
  std::memcpy(bytes.data() + 16, &count, 8);
  const std::uint64_t h = d::fnv1a64(bytes.data(), 56);  // a forger recomputes the checksum
  std::memcpy(bytes.data() + 56, &h, 8);
  rewrite(p, bytes);
  EXPECT_EQ(error_of([&] { d::token_file f(p); }),
            p.string() + ": token file header: id count: size overflow: 9223372036854775908 x 2 does not fit in 64 bits "
                         "(the file has 264 bytes)");
}
