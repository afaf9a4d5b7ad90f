#include "core/fs.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"

namespace fs = std::filesystem;

TEST(fs, atomic_write_round_trip_leaves_no_temp) {
  fs::path dir = fs::temp_directory_path() / ("lmlab_fs_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  lmlab::write_file_atomic(dir / "sub" / "a.txt", std::string_view("hello"));
  lmlab::write_file_atomic(dir / "sub" / "a.txt", std::string_view("world"));
  EXPECT_EQ(lmlab::read_text_file(dir / "sub" / "a.txt"), "world");
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir / "sub")) ++n;
  EXPECT_EQ(n, 1);
  fs::remove_all(dir);
}

TEST(fs, missing_file_names_path) {
  try {
    lmlab::read_text_file("/nonexistent/x.toml");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.toml"), std::string::npos);
  }
}

TEST(fs, sha256_known_vector) {
  // FIPS 180-2 example: sha256("abc").
  std::string_view abc = "abc";
  EXPECT_EQ(lmlab::sha256_hex({reinterpret_cast<const std::uint8_t*>(abc.data()), abc.size()}),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
