// GGUF reader and writer: see gguf.hpp. Field names in errors follow the GGUF spec
// (docs/gguf.md in ggml): header.version, header.tensor_count, kv[3].key, tensor[7].ne[1], ...
#include "nn/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "nn/quant.hpp"

namespace lmlab::nn {

namespace {

constexpr std::uint64_t k_max_dims = 4;  // GGML_MAX_DIMS
constexpr const char* k_hint_trunc = "the file is truncated or corrupt: download or convert it again";

// A bounded little-endian cursor: every read checks the remaining length first.
class reader {
 public:
  reader(std::span<const std::uint8_t> b, const std::string& where) : b_(b), where_(where) {}
  std::uint64_t pos() const { return pos_; }
  std::uint64_t left() const { return b_.size() - pos_; }

  void need(std::uint64_t n, const std::string& field) const {
    LMLAB_CHECK_HINT(n <= left(), k_hint_trunc, "{}: {} at byte {}: needs {} bytes but the file ends after {}", where_, field, pos_,
                     n, left());
  }
  template <class T>
  T read(const std::string& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const std::string& field) {
    const std::uint64_t at = pos_;
    const auto n = read<std::uint64_t>(field + ".len");
    LMLAB_CHECK_HINT(n <= left(), k_hint_trunc, "{}: {} at byte {}: string length {} runs past the end of the file ({} bytes left)",
                     where_, field, at, n, left());
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }
  // A count of items each at least `min_size` bytes: more than the file could hold is corrupt.
  std::uint64_t count(const std::string& field, std::uint64_t min_size) {
    const std::uint64_t at = pos_;
    const auto n = read<std::uint64_t>(field);
    LMLAB_CHECK_HINT(min_size == 0 || n <= left() / min_size, k_hint_trunc,
                     "{}: {} at byte {}: {} items of at least {} bytes cannot fit in the {} bytes left", where_, field, at, n,
                     min_size, left());
    return n;
  }
  const std::string& where() const { return where_; }

 private:
  std::span<const std::uint8_t> b_;
  const std::string& where_;
  std::uint64_t pos_ = 0;
};

std::uint64_t scalar_size(gguf_type t) {
  switch (t) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
    case gguf_type::u16: case gguf_type::i16: return 2;
    case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
    case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
    case gguf_type::string: return 8;  // the length prefix, at least
    case gguf_type::array: return 12;
  }
  return 0;
}

bool is_int(gguf_type t) {
  return t == gguf_type::u8 || t == gguf_type::i8 || t == gguf_type::u16 || t == gguf_type::i16 || t == gguf_type::u32 ||
         t == gguf_type::i32 || t == gguf_type::u64 || t == gguf_type::i64 || t == gguf_type::boolean;
}

gguf_type read_type(reader& r, const std::string& field) {
  const std::uint64_t at = r.pos();
  const auto t = r.read<std::uint32_t>(field);
  LMLAB_CHECK_HINT(t <= 12, "GGUF value types are 0..12 (uint8 .. float64)", "{}: {} at byte {}: unknown value type {}", r.where(),
                   field, at, t);
  return static_cast<gguf_type>(t);
}

// Reads one scalar of type t into v.i / v.f / v.s.
void read_scalar(reader& r, gguf_type t, const std::string& field, std::int64_t& i, double& f, std::string* s) {
  switch (t) {
    case gguf_type::u8: i = r.read<std::uint8_t>(field); break;
    case gguf_type::i8: i = r.read<std::int8_t>(field); break;
    case gguf_type::u16: i = r.read<std::uint16_t>(field); break;
    case gguf_type::i16: i = r.read<std::int16_t>(field); break;
    case gguf_type::u32: i = r.read<std::uint32_t>(field); break;
    case gguf_type::i32: i = r.read<std::int32_t>(field); break;
    case gguf_type::u64: i = static_cast<std::int64_t>(r.read<std::uint64_t>(field)); break;
    case gguf_type::i64: i = r.read<std::int64_t>(field); break;
    case gguf_type::f32: f = r.read<float>(field); break;
    case gguf_type::f64: f = r.read<double>(field); break;
    case gguf_type::boolean: {
      const std::uint64_t at = r.pos();
      const auto b = r.read<std::uint8_t>(field);
      LMLAB_CHECK_HINT(b <= 1, k_hint_trunc, "{}: {} at byte {}: a bool must be 0 or 1, got {}", r.where(), field, at, b);
      i = b;
      break;
    }
    case gguf_type::string: *s = r.str(field); break;
    case gguf_type::array: LMLAB_ASSERT(false, "arrays are read by read_value");
  }
}

gguf_value read_value(reader& r, gguf_type t, const std::string& field) {
  gguf_value v;
  v.type = t;
  if (t != gguf_type::array) {
    read_scalar(r, t, field, v.i, v.f, &v.s);
    return v;
  }
  const std::uint64_t at = r.pos();
  v.elem = read_type(r, field + ".type");
  LMLAB_CHECK_HINT(v.elem != gguf_type::array, "lmlab reads arrays of scalars and strings only",
                   "{}: {} at byte {}: nested arrays are not supported", r.where(), field, at);
  const std::uint64_t n = r.count(field + ".n", scalar_size(v.elem));
  const std::size_t nn = static_cast<std::size_t>(n);
  if (v.elem == gguf_type::string) v.strs.reserve(nn);
  else if (is_int(v.elem)) v.ints.reserve(nn);
  else v.floats.reserve(nn);
  for (std::uint64_t k = 0; k < n; ++k) {
    std::int64_t i = 0;
    double f = 0;
    std::string s;
    const std::string ef = field + "[" + std::to_string(k) + "]";
    read_scalar(r, v.elem, ef, i, f, &s);
    if (v.elem == gguf_type::string) v.strs.push_back(std::move(s));
    else if (is_int(v.elem)) v.ints.push_back(i);
    else v.floats.push_back(f);
  }
  return v;
}

struct mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  ~mapping() {
    if (addr) ::munmap(addr, size);
  }
};

}  // namespace

const char* gguf_type_name(gguf_type t) {
  static const char* n[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                            "bool",  "string", "array", "uint64", "int64", "float64"};
  const auto i = static_cast<std::uint32_t>(t);
  return i <= 12 ? n[i] : "?";
}

gguf_value gguf_value::str_array(std::vector<std::string> v) {
  gguf_value x;
  x.type = gguf_type::array;
  x.elem = gguf_type::string;
  x.strs = std::move(v);
  return x;
}
gguf_value gguf_value::int_array(gguf_type elem, std::vector<std::int64_t> v) {
  gguf_value x;
  x.type = gguf_type::array;
  x.elem = elem;
  x.ints = std::move(v);
  return x;
}
gguf_value gguf_value::float_array(std::vector<double> v) {
  gguf_value x;
  x.type = gguf_type::array;
  x.elem = gguf_type::f32;
  x.floats = std::move(v);
  return x;
}
std::size_t gguf_value::array_size() const {
  return elem == gguf_type::string ? strs.size() : is_int(elem) ? ints.size() : floats.size();
}

const char* ggml_type_name(std::uint32_t id) {
  switch (static_cast<ggml_type>(id)) {
    case ggml_type::f32: return "F32";
    case ggml_type::f16: return "F16";
    case ggml_type::q4_0: return "Q4_0";
    case ggml_type::q4_1: return "Q4_1";
    case ggml_type::q5_0: return "Q5_0";
    case ggml_type::q5_1: return "Q5_1";
    case ggml_type::q8_0: return "Q8_0";
    case ggml_type::q8_1: return "Q8_1";
    case ggml_type::q2_k: return "Q2_K";
    case ggml_type::q3_k: return "Q3_K";
    case ggml_type::q4_k: return "Q4_K";
    case ggml_type::q5_k: return "Q5_K";
    case ggml_type::q6_k: return "Q6_K";
    case ggml_type::q8_k: return "Q8_K";
    case ggml_type::i8: return "I8";
    case ggml_type::i16: return "I16";
    case ggml_type::i32: return "I32";
    case ggml_type::i64: return "I64";
    case ggml_type::f64: return "F64";
    case ggml_type::bf16: return "BF16";
  }
  return nullptr;
}

std::int64_t ggml_block_size(ggml_type t) {
  switch (t) {
    case ggml_type::q4_0: case ggml_type::q4_1: case ggml_type::q5_0: case ggml_type::q5_1: case ggml_type::q8_0:
    case ggml_type::q8_1: return 32;
    case ggml_type::q2_k: case ggml_type::q3_k: case ggml_type::q4_k: case ggml_type::q5_k: case ggml_type::q6_k:
    case ggml_type::q8_k: return 256;
    default: return 1;
  }
}

std::int64_t ggml_type_size(ggml_type t) {
  switch (t) {
    case ggml_type::f32: case ggml_type::i32: return 4;
    case ggml_type::f16: case ggml_type::bf16: case ggml_type::i16: return 2;
    case ggml_type::i8: return 1;
    case ggml_type::i64: case ggml_type::f64: return 8;
    case ggml_type::q4_0: return 18;
    case ggml_type::q4_1: return 20;
    case ggml_type::q5_0: return 22;
    case ggml_type::q5_1: return 24;
    case ggml_type::q8_0: return 34;
    case ggml_type::q8_1: return 36;
    case ggml_type::q2_k: return 84;
    case ggml_type::q3_k: return 110;
    case ggml_type::q4_k: return 144;
    case ggml_type::q5_k: return 176;
    case ggml_type::q6_k: return 210;
    case ggml_type::q8_k: return 292;
  }
  return 0;
}

bool ggml_type_loadable(ggml_type t) {
  return t == ggml_type::f32 || t == ggml_type::f16 || t == ggml_type::bf16 || t == ggml_type::q8_0 ||
         t == ggml_type::q4_0 || t == ggml_type::q4_1 || t == ggml_type::q5_0 || t == ggml_type::q5_1 ||
         t == ggml_type::q4_k || t == ggml_type::q5_k || t == ggml_type::q6_k;
}

std::int64_t gguf_tensor_info::numel() const {
  std::int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

shape_t gguf_tensor_info::shape() const {
  shape_t s;
  for (auto it = ne.rbegin(); it != ne.rend(); ++it) s.push_back(*it);
  return s;
}

gguf_file gguf_file::load(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  LMLAB_CHECK_HINT(fd >= 0, "check the path", "{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw error(fmt::format("{}: cannot stat: {}", path.string(), std::strerror(errno)));
  }
  auto m = std::make_shared<mapping>();
  m->size = static_cast<std::size_t>(st.st_size);
  if (m->size > 0) {
    void* a = ::mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (a == MAP_FAILED) {
      ::close(fd);
      throw error(fmt::format("{}: cannot map {} bytes: {}", path.string(), m->size, std::strerror(errno)));
    }
    m->addr = a;
  }
  ::close(fd);
  gguf_file f = parse(std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(m->addr), m->size), path.string());
  f.hold_ = m;
  return f;
}

// Long (~95 lines) on purpose: the file read in order (header, key-values, tensor infos, the
// data section), each field checked where it is read so an error names its byte offset.
gguf_file gguf_file::parse(std::span<const std::uint8_t> bytes, const std::string& where) {
  gguf_file f;
  f.where_ = where;
  f.bytes_ = bytes;
  reader r(bytes, f.where_);
  r.need(4, "header.magic");
  LMLAB_CHECK_HINT(std::memcmp(bytes.data(), "GGUF", 4) == 0, "lmlab reads GGUF (llama.cpp) and safetensors checkpoints",
                   "{}: header.magic at byte 0: not a GGUF file (the first 4 bytes are not \"GGUF\")", where);
  r.read<std::uint32_t>("header.magic");
  const std::uint64_t vat = r.pos();
  f.version_ = r.read<std::uint32_t>("header.version");
  LMLAB_CHECK_HINT(f.version_ == 2 || f.version_ == 3,
                   f.version_ == 1 ? "GGUF v1 predates 64-bit counts: convert it again with a current llama.cpp"
                                   : "a byte-swapped version means a big-endian file, which lmlab does not read",
                   "{}: header.version at byte {}: version {} is not supported (lmlab reads 2 and 3)", where, vat, f.version_);
  // Each tensor info is at least a name length, n_dims, type and offset; each kv a key
  // length, a type and a value of at least one byte.
  const std::uint64_t n_tensors = r.count("header.tensor_count", 8 + 4 + 4 + 8);
  const std::uint64_t n_kv = r.count("header.metadata_kv_count", 8 + 4 + 1);
  for (std::uint64_t k = 0; k < n_kv; ++k) {
    const std::string field = "kv[" + std::to_string(k) + "]";
    const std::uint64_t at = r.pos();
    std::string key = r.str(field + ".key");
    const gguf_type t = read_type(r, field + ".type");
    gguf_value v = read_value(r, t, field + " (" + key + ")");
    LMLAB_CHECK_HINT(f.kv_index_.count(key) == 0, k_hint_trunc, "{}: {} at byte {}: duplicate key \"{}\"", where, field, at, key);
    f.kv_index_[key] = f.kv_.size();
    f.kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const gguf_value* a = f.find("general.alignment")) {
    LMLAB_CHECK_HINT(a->type == gguf_type::u32 && a->i > 0 && (a->i & (a->i - 1)) == 0, "general.alignment is a uint32 power of two",
                     "{}: general.alignment: expected a uint32 power of two, got {} {}", where, gguf_type_name(a->type), a->i);
    f.alignment_ = static_cast<std::uint64_t>(a->i);
  }
  f.tensors_.reserve(static_cast<std::size_t>(n_tensors));
  for (std::uint64_t k = 0; k < n_tensors; ++k) {
    const std::string field = "tensor[" + std::to_string(k) + "]";
    const std::uint64_t at = r.pos();
    gguf_tensor_info ti;
    ti.name = r.str(field + ".name");
    const std::string fn = field + " (" + ti.name + ")";
    const std::uint64_t dat = r.pos();
    const auto n_dims = r.read<std::uint32_t>(fn + ".n_dims");
    LMLAB_CHECK_HINT(n_dims >= 1 && n_dims <= k_max_dims, k_hint_trunc, "{}: {}.n_dims at byte {}: {} is not in 1..{}", where, fn,
                     dat, n_dims, k_max_dims);
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const std::uint64_t nat = r.pos();
      const auto ne = r.read<std::uint64_t>(fn + ".ne[" + std::to_string(d) + "]");
      LMLAB_CHECK_HINT(ne <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) && mul_fits(numel, ne, numel) &&
                           numel <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                       k_hint_trunc, "{}: {}.ne[{}] at byte {}: dimension {} overflows the element count", where, fn, d, nat, ne);
      ti.ne.push_back(static_cast<std::int64_t>(ne));
    }
    const std::uint64_t tat = r.pos();
    const auto type_id = r.read<std::uint32_t>(fn + ".type");
    const char* tname = ggml_type_name(type_id);
    LMLAB_CHECK_HINT(tname != nullptr, "lmlab knows F32, F16, BF16, F64, I8..I64, Q4_0..Q8_1 and the k-quants Q2_K..Q8_K",
                     "{}: {}.type at byte {}: unknown ggml type {}", where, fn, tat, type_id);
    ti.type = static_cast<ggml_type>(type_id);
    const auto bs = static_cast<std::uint64_t>(ggml_block_size(ti.type));
    LMLAB_CHECK_HINT(static_cast<std::uint64_t>(ti.ne[0]) % bs == 0, k_hint_trunc,
                     "{}: {}.ne[0] at byte {}: {} {} needs a multiple of {} values per row, got {}", where, fn, at, tname,
                     ti.name, bs, ti.ne[0]);
    std::uint64_t nb = 0;
    const bool fits = mul_fits(numel / bs, static_cast<std::uint64_t>(ggml_type_size(ti.type)), nb);
    LMLAB_CHECK_HINT(fits, k_hint_trunc, "{}: {} at byte {}: the tensor's size overflows", where, fn, at);
    ti.nbytes = nb;
    const std::uint64_t oat = r.pos();
    ti.offset = r.read<std::uint64_t>(fn + ".offset");
    LMLAB_CHECK_HINT(ti.offset % f.alignment_ == 0, k_hint_trunc, "{}: {}.offset at byte {}: {} is not a multiple of the alignment {}",
                     where, fn, oat, ti.offset, f.alignment_);
    LMLAB_CHECK_HINT(f.tensor_index_.count(ti.name) == 0, k_hint_trunc, "{}: {} at byte {}: duplicate tensor name", where, fn, at);
    f.tensor_index_[ti.name] = f.tensors_.size();
    f.tensors_.push_back(std::move(ti));
  }
  // The data section starts at the next multiple of the alignment.
  std::uint64_t ds = 0;
  LMLAB_CHECK(add_fits(r.pos(), f.alignment_ - 1, ds), "{}: data section offset overflows", where);
  ds = ds / f.alignment_ * f.alignment_;
  f.data_offset_ = ds;
  if (!f.tensors_.empty())
    LMLAB_CHECK_HINT(ds <= bytes.size(), k_hint_trunc, "{}: data section at byte {}: the file ends at byte {}", where, ds, bytes.size());
  for (std::size_t k = 0; k < f.tensors_.size(); ++k) {
    const auto& ti = f.tensors_[k];
    std::uint64_t begin = 0, end = 0;
    // llama.cpp pads every tensor's data to the alignment, the last one included.
    const bool ok = add_fits(ds, ti.offset, begin) && add_fits(begin, ti.nbytes, end) && add_fits(end, f.alignment_ - 1, end) &&
                    end / f.alignment_ * f.alignment_ <= bytes.size();
    LMLAB_CHECK_HINT(ok, k_hint_trunc,
                     "{}: tensor[{}] ({}): data at byte {} + offset {}, {} bytes and padding, runs past the end of the file ({} bytes)",
                     where, k, ti.name, ds, ti.offset, ti.nbytes, bytes.size());
  }
  return f;
}

const gguf_value* gguf_file::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

std::int64_t gguf_file::get_int(const std::string& key) const {
  const gguf_value* v = find(key);
  LMLAB_CHECK_HINT(v != nullptr, "the GGUF converter writes this key for this architecture", "{}: metadata key {} is missing", where_, key);
  LMLAB_CHECK(is_int(v->type), "{}: metadata key {}: expected an integer, got {}", where_, key, gguf_type_name(v->type));
  return v->i;
}

std::int64_t gguf_file::get_int(const std::string& key, std::int64_t fallback) const {
  return find(key) ? get_int(key) : fallback;
}

double gguf_file::get_float(const std::string& key, double fallback) const {
  const gguf_value* v = find(key);
  if (!v) return fallback;
  LMLAB_CHECK(v->type == gguf_type::f32 || v->type == gguf_type::f64, "{}: metadata key {}: expected a float, got {}", where_, key,
              gguf_type_name(v->type));
  return v->f;
}

const std::string& gguf_file::get_string(const std::string& key) const {
  const gguf_value* v = find(key);
  LMLAB_CHECK(v != nullptr, "{}: metadata key {} is missing", where_, key);
  LMLAB_CHECK(v->type == gguf_type::string, "{}: metadata key {}: expected a string, got {}", where_, key, gguf_type_name(v->type));
  return v->s;
}

const gguf_value& gguf_file::get_array(const std::string& key, gguf_type elem) const {
  const gguf_value* v = find(key);
  LMLAB_CHECK(v != nullptr, "{}: metadata key {} is missing", where_, key);
  const bool ok = v->type == gguf_type::array &&
                  (v->elem == elem || (is_int(elem) && is_int(v->elem)) ||
                   ((elem == gguf_type::f32 || elem == gguf_type::f64) && (v->elem == gguf_type::f32 || v->elem == gguf_type::f64)));
  LMLAB_CHECK(ok, "{}: metadata key {}: expected an array of {}, got {}{}", where_, key, gguf_type_name(elem), gguf_type_name(v->type),
              v->type == gguf_type::array ? std::string(" of ") + gguf_type_name(v->elem) : "");
  return *v;
}

const gguf_tensor_info* gguf_file::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::uint8_t> gguf_file::tensor_bytes(const gguf_tensor_info& t) const {
  return bytes_.subspan(static_cast<std::size_t>(data_offset_ + t.offset), static_cast<std::size_t>(t.nbytes));
}

tensor gguf_file::tensor_f32(const std::string& name) const {
  const gguf_tensor_info* ti = find_tensor(name);
  LMLAB_CHECK_HINT(ti != nullptr, "lmlab reads the tensor names llama.cpp's converter writes for LLaMA-family models",
                   "{}: tensor {} is missing", where_, name);
  LMLAB_CHECK_HINT(ggml_type_loadable(ti->type), "requantise to Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, F16 or F32 with llama-quantize",
                   "{}: tensor {}: type {} is not supported", where_, name, ggml_type_name(static_cast<std::uint32_t>(ti->type)));
  tensor out = tensor::empty(ti->shape());
  float* y = out.data<float>();
  const std::int64_t n = ti->numel();
  const std::uint8_t* p = tensor_bytes(*ti).data();
  switch (ti->type) {
    case ggml_type::f32: std::memcpy(y, p, static_cast<std::size_t>(n) * 4); break;
    case ggml_type::f16:
      for (std::int64_t i = 0; i < n; ++i) y[i] = half_to_float(static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
      break;
    case ggml_type::bf16:
      for (std::int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
      break;
    case ggml_type::q8_0: dequantize_q8_0(p, y, n); break;
    case ggml_type::q4_0: dequantize_q4_0(p, y, n); break;
    case ggml_type::q4_1: dequantize_q4_1(p, y, n); break;
    case ggml_type::q5_0: dequantize_q5_0(p, y, n); break;
    case ggml_type::q5_1: dequantize_q5_1(p, y, n); break;
    case ggml_type::q4_k: dequantize_q4_k(p, y, n); break;
    case ggml_type::q5_k: dequantize_q5_k(p, y, n); break;
    case ggml_type::q6_k: dequantize_q6_k(p, y, n); break;
    default: LMLAB_ASSERT(false, "checked by ggml_type_loadable");
  }
  return out;
}

// ---- writer ------------------------------------------------------------------------------

void gguf_builder::set(const std::string& key, gguf_value v) {
  for (auto& [k, x] : kv_)
    if (k == key) {
      x = std::move(v);
      return;
    }
  kv_.emplace_back(key, std::move(v));
}

void gguf_builder::add_tensor(const std::string& name, std::vector<std::int64_t> ne, ggml_type type, std::vector<std::uint8_t> data) {
  std::int64_t n = 1;
  for (auto d : ne) n *= d;
  const std::int64_t bs = ggml_block_size(type);
  LMLAB_CHECK(!ne.empty() && ne.size() <= k_max_dims && ne[0] % bs == 0, "gguf: tensor {}: bad dims for {}", name,
              ggml_type_name(static_cast<std::uint32_t>(type)));
  LMLAB_CHECK(static_cast<std::int64_t>(data.size()) == n / bs * ggml_type_size(type), "gguf: tensor {}: {} bytes for {} {} values", name,
              data.size(), n, ggml_type_name(static_cast<std::uint32_t>(type)));
  tensors_.push_back({name, std::move(ne), type, std::move(data)});
}

namespace {
template <class T>
void put(std::vector<std::uint8_t>& o, T v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  o.insert(o.end(), p, p + sizeof(T));
}
void put_str(std::vector<std::uint8_t>& o, const std::string& s) {
  put<std::uint64_t>(o, s.size());
  o.insert(o.end(), s.begin(), s.end());
}
void put_scalar(std::vector<std::uint8_t>& o, gguf_type t, std::int64_t i, double f, const std::string& s) {
  switch (t) {
    case gguf_type::u8: case gguf_type::boolean: put<std::uint8_t>(o, static_cast<std::uint8_t>(i)); break;
    case gguf_type::i8: put<std::int8_t>(o, static_cast<std::int8_t>(i)); break;
    case gguf_type::u16: put<std::uint16_t>(o, static_cast<std::uint16_t>(i)); break;
    case gguf_type::i16: put<std::int16_t>(o, static_cast<std::int16_t>(i)); break;
    case gguf_type::u32: put<std::uint32_t>(o, static_cast<std::uint32_t>(i)); break;
    case gguf_type::i32: put<std::int32_t>(o, static_cast<std::int32_t>(i)); break;
    case gguf_type::u64: put<std::uint64_t>(o, static_cast<std::uint64_t>(i)); break;
    case gguf_type::i64: put<std::int64_t>(o, i); break;
    case gguf_type::f32: put<float>(o, static_cast<float>(f)); break;
    case gguf_type::f64: put<double>(o, f); break;
    case gguf_type::string: put_str(o, s); break;
    case gguf_type::array: LMLAB_ASSERT(false, "no nested arrays");
  }
}
}  // namespace

std::vector<std::uint8_t> gguf_builder::encode() const {
  std::uint64_t align = 32;
  for (const auto& [k, v] : kv_)
    if (k == "general.alignment") align = static_cast<std::uint64_t>(v.i);
  std::vector<std::uint8_t> o;
  o.insert(o.end(), {'G', 'G', 'U', 'F'});
  put<std::uint32_t>(o, 3);
  put<std::uint64_t>(o, tensors_.size());
  put<std::uint64_t>(o, kv_.size());
  for (const auto& [k, v] : kv_) {
    put_str(o, k);
    put<std::uint32_t>(o, static_cast<std::uint32_t>(v.type));
    if (v.type != gguf_type::array) {
      put_scalar(o, v.type, v.i, v.f, v.s);
      continue;
    }
    put<std::uint32_t>(o, static_cast<std::uint32_t>(v.elem));
    put<std::uint64_t>(o, v.array_size());
    for (std::size_t j = 0; j < v.array_size(); ++j) {
      if (v.elem == gguf_type::string) put_str(o, v.strs[j]);
      else if (is_int(v.elem)) put_scalar(o, v.elem, v.ints[j], 0, {});
      else put_scalar(o, v.elem, 0, v.floats[j], {});
    }
  }
  const auto pad = [&](std::uint64_t n) { return (n + align - 1) / align * align; };
  std::uint64_t off = 0;
  for (const auto& t : tensors_) {
    put_str(o, t.name);
    put<std::uint32_t>(o, static_cast<std::uint32_t>(t.ne.size()));
    for (auto d : t.ne) put<std::uint64_t>(o, static_cast<std::uint64_t>(d));
    put<std::uint32_t>(o, static_cast<std::uint32_t>(t.type));
    put<std::uint64_t>(o, off);
    off = pad(off + t.data.size());
  }
  if (!tensors_.empty()) o.resize(pad(o.size()), 0);
  const std::size_t base = o.size();
  for (const auto& t : tensors_) {
    o.insert(o.end(), t.data.begin(), t.data.end());
    o.resize(base + pad(o.size() - base), 0);
  }
  return o;
}

void gguf_builder::save(const std::filesystem::path& path) const { write_file_atomic(path, encode()); }

nlohmann::json gguf_metadata_to_json(const std::vector<std::pair<std::string, gguf_value>>& kv) {
  nlohmann::json out = nlohmann::json::array();
  const auto scalar = [](gguf_type t, std::int64_t i, double f, const std::string& s) -> nlohmann::json {
    if (t == gguf_type::string) return s;
    if (t == gguf_type::f32 || t == gguf_type::f64) return f;
    if (t == gguf_type::u64) return static_cast<std::uint64_t>(i);
    return i;
  };
  for (const auto& [k, v] : kv) {
    nlohmann::json e = {{"key", k}, {"type", gguf_type_name(v.type)}};
    if (v.type != gguf_type::array) {
      e["value"] = scalar(v.type, v.i, v.f, v.s);
    } else {
      e["elem"] = gguf_type_name(v.elem);
      nlohmann::json a = nlohmann::json::array();
      for (std::size_t j = 0; j < v.array_size(); ++j)
        a.push_back(v.elem == gguf_type::string ? nlohmann::json(v.strs[j])
                    : is_int(v.elem)            ? scalar(v.elem, v.ints[j], 0, {})
                                                : nlohmann::json(v.floats[j]));
      e["value"] = std::move(a);
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::pair<std::string, gguf_value>> gguf_metadata_from_json(const nlohmann::json& j, const std::string& where) {
  const auto type_of = [&](const nlohmann::json& name) {
    for (std::uint32_t t = 0; t <= 12; ++t)
      if (name == gguf_type_name(static_cast<gguf_type>(t))) return static_cast<gguf_type>(t);
    throw error(fmt::format("{}: gguf metadata: unknown type {}", where, name.dump()));
  };
  std::vector<std::pair<std::string, gguf_value>> kv;
  try {
    for (const auto& e : j) {
      gguf_value v;
      v.type = type_of(e.at("type"));
      const auto& x = e.at("value");
      const auto read = [&](gguf_type t, const nlohmann::json& y, std::int64_t& i, double& f, std::string& s) {
        if (t == gguf_type::string) s = y.get<std::string>();
        else if (t == gguf_type::f32 || t == gguf_type::f64) f = y.get<double>();
        else if (t == gguf_type::u64) i = static_cast<std::int64_t>(y.get<std::uint64_t>());
        else i = y.get<std::int64_t>();
      };
      if (v.type != gguf_type::array) {
        read(v.type, x, v.i, v.f, v.s);
      } else {
        v.elem = type_of(e.at("elem"));
        for (const auto& y : x) {
          std::int64_t i = 0;
          double f = 0;
          std::string s;
          read(v.elem, y, i, f, s);
          if (v.elem == gguf_type::string) v.strs.push_back(std::move(s));
          else if (is_int(v.elem)) v.ints.push_back(i);
          else v.floats.push_back(f);
        }
      }
      kv.emplace_back(e.at("key").get<std::string>(), std::move(v));
    }
  } catch (const nlohmann::json::exception& e) {
    throw error(fmt::format("{}: gguf metadata: {}", where, e.what()));
  }
  return kv;
}

std::vector<std::uint8_t> ggml_encode(std::span<const float> x, ggml_type type) {
  std::vector<std::uint8_t> o;
  switch (type) {
    case ggml_type::f32:
      o.resize(x.size() * 4);
      std::memcpy(o.data(), x.data(), o.size());
      return o;
    case ggml_type::f16:
    case ggml_type::bf16:
      o.reserve(x.size() * 2);
      for (float v : x) put<std::uint16_t>(o, type == ggml_type::f16 ? float_to_half(v) : float_to_bf16(v));
      return o;
    case ggml_type::q8_0: return quantize_q8_0(x);
    case ggml_type::q4_0: return quantize_q4_0(x);
    default:
      throw error(fmt::format("gguf: writing {} is not supported", ggml_type_name(static_cast<std::uint32_t>(type))),
                  "lmlab writes F32, F16, BF16, Q8_0 and Q4_0");
  }
}

}  // namespace lmlab::nn
