// Test helper shared by the suites under tests/: a path under a per-process scratch folder in
// the system temp directory, `<tmp>/lmlab_<suite>_test_<pid>/<name>` (one folder per suite and
// process, so parallel ctest jobs never share files). Tests create and remove what they use.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace lmlab::testing {

inline std::filesystem::path temp_path(const std::string& suite, const std::string& name) {
  return std::filesystem::temp_directory_path() / ("lmlab_" + suite + "_test_" + std::to_string(::getpid())) / name;
}

}  // namespace lmlab::testing

namespace lmlab::testing {

// The folder `<tmp>/lmlab_<suite>_<tag>_<pid>`, emptied and created; the caller removes it.
inline std::filesystem::path fresh_dir(const std::string& suite, const std::string& tag) {
  std::filesystem::path d = std::filesystem::temp_directory_path() / ("lmlab_" + suite + "_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// A fresh_dir removed with its contents on destruction.
struct temp_dir {
  std::filesystem::path path;
  temp_dir(const std::string& suite, const std::string& tag) : path(fresh_dir(suite, tag)) {}
  ~temp_dir() { std::filesystem::remove_all(path); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};


// A SQLite file path `<tmp>/lmlab_<suite>_<tag>_<pid>.db`, absent at construction; the file and
// its -wal / -shm companions are removed on destruction.
struct temp_db {
  std::filesystem::path path;
  temp_db(const std::string& suite, const std::string& tag)
      : path(std::filesystem::temp_directory_path() / ("lmlab_" + suite + "_" + tag + "_" + std::to_string(::getpid()) + ".db")) {
    std::filesystem::remove(path);
  }
  ~temp_db() {
    std::error_code ec;
    for (const char* x : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + x, ec);
  }
  temp_db(const temp_db&) = delete;
  temp_db& operator=(const temp_db&) = delete;
};

}  // namespace lmlab::testing
