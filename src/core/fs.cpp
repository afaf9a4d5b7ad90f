// File helpers: see fs.hpp.
#include "core/fs.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>

#include "core/error.hpp"

namespace lmlab {
namespace fs = std::filesystem;

std::vector<std::uint8_t> read_binary_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  LMLAB_CHECK_HINT(in.good(), "check the path and its permissions", "{}: cannot open: {}",
                   path.string(), std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  std::vector<std::uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  LMLAB_CHECK(in.good() || size == 0, "{}: read failed after {} bytes", path.string(), in.gcount());
  return bytes;
}

std::string read_text_file(const fs::path& path) {
  auto bytes = read_binary_file(path);
  return std::string(bytes.begin(), bytes.end());
}

void write_file_atomic(const fs::path& path, std::span<const std::uint8_t> bytes) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  LMLAB_CHECK(!ec, "{}: cannot create directory {}: {}", path.string(), dir.string(), ec.message());
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  LMLAB_CHECK(fd >= 0, "{}: cannot create temp file: {}", path.string(), std::strerror(errno));
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw error(fmt::format("{}: {} failed: {}", path.string(), what, std::strerror(err)));
  };
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0) fail("chmod");
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    ::unlink(tmpl.c_str());
    throw error(fmt::format("{}: close failed: {}", path.string(), std::strerror(errno)));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw error(fmt::format("{}: rename from temp file failed: {}", path.string(), std::strerror(err)));
  }
}

void write_file_atomic(const fs::path& path, std::string_view text) {
  write_file_atomic(path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

fs::path cache_dir() {
  if (const char* c = std::getenv("LMLAB_CACHE"); c && *c) return fs::path(c);
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "lmlab";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "lmlab";
  return fs::temp_directory_path() / "lmlab-cache";
}

namespace {
std::string to_hex(const unsigned char* d, unsigned n) {
  static const char* k = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (unsigned i = 0; i < n; ++i) {
    s[2 * i] = k[d[i] >> 4];
    s[2 * i + 1] = k[d[i] & 15];
  }
  return s;
}
struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
}  // namespace

std::string sha256_hex(std::span<const std::uint8_t> bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  LMLAB_ASSERT(EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr) == 1);
  return to_hex(md, n);
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  LMLAB_CHECK(in.good(), "{}: cannot open for sha256: {}", path.string(), std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
  LMLAB_ASSERT(EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  LMLAB_ASSERT(EVP_DigestFinal_ex(ctx.get(), md, &n) == 1);
  return to_hex(md, n);
}

}  // namespace lmlab
