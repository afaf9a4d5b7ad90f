// Token files: see token_file.hpp.
#include "data/token_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

namespace lmlab::data {

namespace {
constexpr char k_magic[8] = {'L', 'M', 'L', 'A', 'B', 'T', 'O', 'K'};
constexpr std::uint32_t k_version = 1;
constexpr std::size_t k_header = 64;
static_assert(std::endian::native == std::endian::little, "token files are little-endian; add byte swapping for this host");

template <class T>
void put(unsigned char* p, T v) { std::memcpy(p, &v, sizeof v); }
template <class T>
T get(const unsigned char* p) { T v; std::memcpy(&v, p, sizeof v); return v; }
}  // namespace

std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

token_dtype dtype_for_vocab(std::int64_t vocab_size) {
  LMLAB_CHECK(vocab_size > 0 && vocab_size <= (std::int64_t{1} << 31), "token file: vocab_size {} out of range", vocab_size);
  return vocab_size <= 65536 ? token_dtype::u16 : token_dtype::u32;
}

void write_token_file(const std::filesystem::path& path, std::span<const std::int32_t> ids, std::int64_t vocab_size) {
  const token_dtype dt = dtype_for_vocab(vocab_size);
  const std::size_t w = static_cast<std::size_t>(dt);
  std::vector<std::uint8_t> buf(k_header + ids.size() * w, 0);
  unsigned char* payload = buf.data() + k_header;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t id = ids[i];
    LMLAB_CHECK(id >= 0 && id < vocab_size, "{}: id {} at position {} is outside [0, {})", path.string(), id, i, vocab_size);
    if (dt == token_dtype::u16) put(payload + 2 * i, static_cast<std::uint16_t>(id));
    else put(payload + 4 * i, static_cast<std::uint32_t>(id));
  }
  unsigned char* h = buf.data();
  std::memcpy(h, k_magic, 8);
  put(h + 8, k_version);
  put(h + 12, static_cast<std::uint32_t>(dt));
  put(h + 16, static_cast<std::uint64_t>(ids.size()));
  put(h + 24, static_cast<std::uint32_t>(vocab_size));
  put(h + 32, fnv1a64(payload, ids.size() * w));
  put(h + 56, fnv1a64(h, 56));
  write_file_atomic(path, buf);
}

token_file::token_file(const std::filesystem::path& path, bool verify_payload) : path_(path) {
  const std::string name = path.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  LMLAB_CHECK_HINT(fd >= 0, "create it with `lmlab data prepare`", "{}: cannot open token file: {}", name, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw error(fmt::format("{}: cannot stat token file: {}", name, std::strerror(err)));
  }
  const auto len = static_cast<std::size_t>(st.st_size);
  if (len < k_header) {
    ::close(fd);
    throw error(fmt::format("{}: truncated token file: {} bytes, shorter than the {}-byte header", name, len, k_header),
                "the file was cut short; re-run `lmlab data prepare`");
  }
  map_ = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw error(fmt::format("{}: mmap failed: {}", name, std::strerror(map_err)));
  }
  map_len_ = len;
  const auto* h = static_cast<const unsigned char*>(map_);
  auto fail = [&](std::string msg, std::string hint = "re-create it with `lmlab data prepare`") {
    ::munmap(map_, map_len_);
    map_ = nullptr;
    throw error(name + ": " + msg, std::move(hint));
  };
  if (std::memcmp(h, k_magic, 8) != 0) fail("not a token file (bad magic; expected \"LMLABTOK\")");
  if (get<std::uint64_t>(h + 56) != fnv1a64(h, 56)) fail("corrupt token file header (header checksum mismatch)");
  const auto version = get<std::uint32_t>(h + 8);
  if (version != k_version) fail(fmt::format("token file version {} is not supported (this lmlab reads {})", version, k_version));
  const auto dt = get<std::uint32_t>(h + 12);
  if (dt != 2 && dt != 4) fail(fmt::format("bad dtype {} (expected 2 = uint16 or 4 = uint32)", dt));
  dtype_ = static_cast<token_dtype>(dt);
  const auto count = get<std::uint64_t>(h + 16);
  vocab_size_ = get<std::uint32_t>(h + 24);
  // The file length bounds the count: 64 + count * dtype must not wrap around to it.
  std::uint64_t want = 0;
  try {
    want = checked_add(checked_mul(count, std::uint64_t{dt}, "token file header: id count"), std::uint64_t{k_header},
                       "token file header: id count");
  } catch (const error& e) {
    fail(fmt::format("{} (the file has {} bytes)", e.what(), len));
  }
  if (len != want)
    fail(fmt::format("{} token file: {} bytes, but the header says {} ids of {} bytes ({} bytes in all)",
                     len < want ? "truncated" : "oversized", len, count, dt, want));
  count_ = static_cast<std::size_t>(count);
  data_ = h + k_header;
  if (verify_payload && get<std::uint64_t>(h + 32) != fnv1a64(data_, count_ * dt))
    fail("corrupt token file: payload checksum mismatch");
}

token_file::~token_file() {
  if (map_) ::munmap(map_, map_len_);
}

token_file::token_file(token_file&& o) noexcept { *this = std::move(o); }

token_file& token_file::operator=(token_file&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(map_, map_len_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_len_ = std::exchange(o.map_len_, 0);
    data_ = std::exchange(o.data_, nullptr);
    count_ = std::exchange(o.count_, 0);
    vocab_size_ = o.vocab_size_;
    dtype_ = o.dtype_;
  }
  return *this;
}

void token_file::copy(std::size_t begin, std::size_t n, std::int32_t* out) const {
  LMLAB_CHECK(begin <= count_ && n <= count_ - begin, "{}: read of ids [{}, {}) past the end ({} ids)", path_.string(), begin, begin + n, count_);
  if (dtype_ == token_dtype::u16) {
    const auto* p = reinterpret_cast<const std::uint16_t*>(data_) + begin;
    for (std::size_t i = 0; i < n; ++i) out[i] = p[i];
  } else {
    const auto* p = reinterpret_cast<const std::uint32_t*>(data_) + begin;
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int32_t>(p[i]);
  }
}

std::vector<std::int32_t> token_file::to_vector() const {
  std::vector<std::int32_t> v(count_);
  copy(0, count_, v.data());
  return v;
}

}  // namespace lmlab::data
