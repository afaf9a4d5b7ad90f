// R serialization and lazy-load databases: see rdata.hpp.
#include "data/rdata.hpp"

#include <zlib.h>

#include <bit>
#include <climits>
#include <cstring>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/utf8.hpp"

namespace lmlab::data {
namespace fs = std::filesystem;

std::size_t r_value::size() const {
  switch (type) {
    case r_type::logical:
    case r_type::integer: return ints.size();
    case r_type::real: return reals.size();
    case r_type::string: return strings.size();
    case r_type::list:
    case r_type::pairlist: return items.size();
    case r_type::raw: return bytes.size();
    default: return 0;
  }
}

const r_value* r_value::attribute(const std::string& name) const {
  for (const auto& [k, v] : attributes)
    if (k == name) return v.get();
  return nullptr;
}

std::vector<std::string> r_value::names() const {
  std::vector<std::string> out;
  if (const r_value* n = attribute("names"))
    for (const auto& s : n->strings) out.push_back(s.value_or(""));
  return out;
}

namespace {
// SEXPTYPE codes of the format (R's Rinternals.h / serialize.c).
constexpr int k_nilsxp = 0, k_symsxp = 1, k_listsxp = 2, k_charsxp = 9, k_lglsxp = 10, k_intsxp = 13, k_realsxp = 14,
              k_strsxp = 16, k_vecsxp = 19, k_exprsxp = 20, k_rawsxp = 24;
constexpr int k_refsxp = 255, k_nilvalue = 254, k_globalenv = 253, k_emptyenv = 242, k_baseenv = 241;
constexpr int k_levels_latin1 = 4;

const char* type_name(int t) {
  switch (t) {
    case 3: return "CLOSXP";
    case 4: return "ENVSXP";
    case 5: return "PROMSXP";
    case 6: return "LANGSXP";
    case 7: return "SPECIALSXP";
    case 8: return "BUILTINSXP";
    case 15: return "CPLXSXP";
    case 17: return "DOTSXP";
    case 21: return "BCODESXP";
    case 22: return "EXTPTRSXP";
    case 23: return "WEAKREFSXP";
    case 25: return "S4SXP";
    case 238: return "ALTREP_SXP";
    case 239: return "ATTRLISTSXP";
    case 240: return "ATTRLANGSXP";
    case 247: return "PERSISTSXP";
    case 248: return "PACKAGESXP";
    case 249: return "NAMESPACESXP";
    case 250: return "BASENAMESPACE_SXP";
    default: return "unknown";
  }
}

class reader {
 public:
  reader(std::span<const std::uint8_t> b, const std::string& what) : b_(b), what_(what) {}

  r_value read_stream() {
    LMLAB_CHECK_HINT(b_.size() >= 2, "the file is not an R serialization (truncated?)", "{}: {} bytes, too short for a header",
                     what_, b_.size());
    const char fmt = static_cast<char>(b_[0]);
    LMLAB_CHECK_HINT(fmt == 'X' && b_[1] == '\n', "only the XDR format (R's default) is supported",
                     "{}: offset 0: stream format '{}' is not XDR ('X')", what_, fmt == 'A' || fmt == 'B' ? fmt : '?');
    pos_ = 2;
    const std::int32_t version = i32();
    LMLAB_CHECK(version == 2 || version == 3, "{}: offset 2: serialization version {} (expected 2 or 3)", what_, version);
    i32();  // writer's R version
    i32();  // minimal reader version
    if (version == 3) {
      const std::int32_t n = i32();
      need(n, "native encoding");
      pos_ += static_cast<std::size_t>(n);
    }
    auto v = item(0);
    return *v;
  }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& msg) const {
    throw error(fmt::format("{}: offset {}: {}", what_, at, msg), "the file is corrupt or uses R features this reader lacks");
  }
  void need(long long n, const char* field) const {
    if (n < 0 || static_cast<unsigned long long>(n) > b_.size() - pos_)
      fail(pos_, fmt::format("{} of {} bytes runs past the end ({} bytes left)", field, n, b_.size() - pos_));
  }
  // n elements of `width` bytes: the byte count is checked before it is formed (a length read
  // from the stream times 8 could wrap to a small number that passes need()).
  void need_elements(long long n, long long width, const char* field) const {
    long long bytes = 0;
    if (__builtin_mul_overflow(n, width, &bytes))
      fail(pos_, fmt::format("{} of {} elements of {} bytes runs past the end ({} bytes left)", field, n, width,
                             b_.size() - pos_));
    need(bytes, field);
  }
  std::int32_t i32() {
    need(4, "int32");
    const std::uint32_t v = static_cast<std::uint32_t>(b_[pos_]) << 24 | static_cast<std::uint32_t>(b_[pos_ + 1]) << 16 |
                            static_cast<std::uint32_t>(b_[pos_ + 2]) << 8 | b_[pos_ + 3];
    pos_ += 4;
    return static_cast<std::int32_t>(v);
  }
  double f64() {
    const auto hi = static_cast<std::uint32_t>(i32());
    const auto lo = static_cast<std::uint32_t>(i32());
    return std::bit_cast<double>(static_cast<std::uint64_t>(hi) << 32 | lo);
  }
  long long length() {
    const std::int32_t n = i32();
    if (n >= 0) return n;
    if (n != -1) fail(pos_ - 4, fmt::format("negative length {}", n));
    const auto hi = static_cast<std::uint32_t>(i32());
    const auto lo = static_cast<std::uint32_t>(i32());
    return static_cast<long long>(static_cast<std::uint64_t>(hi) << 32 | lo);
  }

  // A CHARSXP's contents (flags already read); nullopt for NA.
  std::optional<std::string> charsxp(std::int32_t flags) {
    const std::int32_t n = i32();
    if (n == -1) return std::nullopt;
    need(n, "string");
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    if ((flags >> 12) & k_levels_latin1) {
      std::string u;
      for (unsigned char c : s) utf8_append(u, c);
      s = std::move(u);
    }
    return s;
  }

  // An atomic vector's elements: a length, then n elements of at least `width` bytes each.
  template <class T, class Read>
  void elements(std::vector<T>& out, long long width, const char* field, Read read) {
    const long long n = length();
    need_elements(n, width, field);
    out.reserve(static_cast<std::size_t>(n));
    for (long long i = 0; i < n; ++i) out.push_back(read(i));
  }

  // A pairlist, read iteratively along its CDR chain: [attr] [tag] CAR, then the next cell.
  void read_pairlist(r_value& v, std::int32_t flags, int depth) {
    v.type = r_type::pairlist;
    bool first = true;
    std::int32_t cell_flags = flags;
    for (;;) {
      const bool attr = cell_flags & (1 << 9), tag = cell_flags & (1 << 10);
      if (attr) {
        auto a = item(depth + 1);
        if (first) read_attributes(v, *a);
      }
      std::string name;
      if (tag) {
        auto t = item(depth + 1);
        if (t->type == r_type::symbol && !t->strings.empty()) name = *t->strings[0];
      }
      v.tags.push_back(name);
      v.items.push_back(item(depth + 1));
      first = false;
      const std::size_t next_at = pos_;
      cell_flags = i32();
      const int next = cell_flags & 0xFF;
      if (next == k_nilvalue || next == k_nilsxp) break;
      if (next != k_listsxp) {  // a dotted pair: the CDR is not a list cell
        pos_ = next_at;
        v.tags.emplace_back();
        v.items.push_back(item(depth + 1));
        break;
      }
    }
  }

  std::shared_ptr<const r_value> item(int depth) {
    if (depth > 10000) fail(pos_, "nesting deeper than 10000");
    const std::size_t at = pos_;
    const std::int32_t flags = i32();
    const int type = flags & 0xFF;
    const bool has_attr = flags & (1 << 9), has_tag = flags & (1 << 10);
    auto v = std::make_shared<r_value>();
    switch (type) {
      case k_nilvalue:
      case k_nilsxp:
      case k_globalenv:
      case k_emptyenv:
      case k_baseenv:
        return v;  // environments other than these singletons are not supported
      case k_refsxp: {
        std::int32_t idx = flags >> 8;
        if (idx == 0) idx = i32();
        if (idx < 1 || static_cast<std::size_t>(idx) > refs_.size())
          fail(at, fmt::format("reference {} but only {} objects are referable", idx, refs_.size()));
        return refs_[static_cast<std::size_t>(idx - 1)];
      }
      case k_symsxp: {
        const std::size_t cat = pos_;
        const std::int32_t cflags = i32();
        if ((cflags & 0xFF) != k_charsxp) fail(cat, fmt::format("symbol name has type {}, expected CHARSXP (9)", cflags & 0xFF));
        v->type = r_type::symbol;
        v->strings.push_back(charsxp(cflags).value_or("NA"));
        refs_.push_back(v);
        return v;
      }
      case k_listsxp:
        read_pairlist(*v, flags, depth);
        return v;
      case k_charsxp: {
        v->type = r_type::string;
        v->strings.push_back(charsxp(flags));
        return v;
      }
      case k_lglsxp:
      case k_intsxp:
        v->type = type == k_lglsxp ? r_type::logical : r_type::integer;
        elements(v->ints, 4, "integer vector", [&](long long) { return i32(); });
        break;
      case k_realsxp:
        v->type = r_type::real;
        elements(v->reals, 8, "double vector", [&](long long) { return f64(); });
        break;
      case k_strsxp:
        v->type = r_type::string;
        // at least flags + length per element
        elements(v->strings, 8, "character vector", [&](long long i) {
          const std::size_t eat = pos_;
          const std::int32_t ef = i32();
          if ((ef & 0xFF) != k_charsxp)
            fail(eat, fmt::format("element {} of a character vector has type {}, expected CHARSXP (9)", i, ef & 0xFF));
          return charsxp(ef);
        });
        break;
      case k_vecsxp:
      case k_exprsxp: {
        v->type = r_type::list;
        const long long n = length();
        need_elements(n, 4, "list");
        for (long long i = 0; i < n; ++i) v->items.push_back(item(depth + 1));
        break;
      }
      case k_rawsxp: {
        v->type = r_type::raw;
        const long long n = length();
        need(n, "raw vector");
        v->bytes.assign(b_.begin() + static_cast<std::ptrdiff_t>(pos_), b_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
        pos_ += static_cast<std::size_t>(n);
        break;
      }
      default:
        fail(at, fmt::format("unsupported SEXP type {} ({})", type, type_name(type)));
    }
    (void)has_tag;
    if (has_attr) read_attributes(*v, *item(depth + 1));
    return v;
  }

  static void read_attributes(r_value& v, const r_value& pl) {
    if (pl.type != r_type::pairlist) return;
    for (std::size_t i = 0; i < pl.items.size(); ++i) v.attributes.emplace_back(pl.tags[i], pl.items[i]);
  }

  std::span<const std::uint8_t> b_;
  std::string what_;
  std::size_t pos_ = 0;
  std::vector<std::shared_ptr<const r_value>> refs_;
};
}  // namespace

r_value r_unserialize(std::span<const std::uint8_t> bytes, const std::string& what) { return reader(bytes, what).read_stream(); }

std::vector<std::uint8_t> inflate_bytes(std::span<const std::uint8_t> in, long long expected, const std::string& what) {
  z_stream zs{};
  LMLAB_CHECK(inflateInit2(&zs, 15 + 32) == Z_OK, "{}: zlib init failed", what);  // 15 + 32: zlib or gzip header
  // With a known length, one spare byte tells "exactly as long" from "longer".
  std::vector<std::uint8_t> out(expected >= 0 ? static_cast<std::size_t>(expected) + 1 : in.size() * 4 + 64);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  bool too_long = false;
  for (;;) {
    if (zs.total_out == out.size()) {
      if (expected >= 0) {
        too_long = true;
        break;
      }
      out.resize(out.size() * 2);
    }
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK) break;
    if (zs.avail_in == 0 && zs.avail_out > 0) {
      rc = Z_DATA_ERROR;  // input ended inside the stream
      break;
    }
  }
  const std::size_t consumed = zs.total_in, produced = zs.total_out;
  const std::string msg = zs.msg ? zs.msg : rc == Z_DATA_ERROR ? "truncated stream" : zError(rc);
  inflateEnd(&zs);
  LMLAB_CHECK_HINT(!too_long, "the file is corrupt; fetch it again", "{}: inflates to more than {} bytes, the header says {}", what,
                   expected, expected);
  LMLAB_CHECK_HINT(rc == Z_STREAM_END, "the file is corrupt; fetch it again",
                   "{}: compressed data corrupt or truncated at input byte {}: {}", what, consumed, msg);
  LMLAB_CHECK_HINT(expected < 0 || static_cast<long long>(produced) == expected, "the file is corrupt; fetch it again",
                   "{}: inflates to {} bytes, the header says {}", what, produced, expected);
  out.resize(produced);
  return out;
}

std::vector<std::pair<std::string, r_value>> read_lazyload_db(const fs::path& base) {
  const fs::path rdx = fs::path(base.string() + ".rdx"), rdb = fs::path(base.string() + ".rdb");
  const auto idx_bytes = read_binary_file(rdx);
  const bool plain = idx_bytes.size() >= 2 && idx_bytes[0] == 'X' && idx_bytes[1] == '\n';
  const auto idx_raw = plain ? idx_bytes : inflate_bytes(idx_bytes, -1, rdx.string());
  const r_value idx = r_unserialize(idx_raw, rdx.string());
  LMLAB_CHECK(idx.type == r_type::list, "{}: the index is not a list", rdx.string());
  const auto top = idx.names();
  const r_value* vars = nullptr;
  int compressed = 1;
  for (std::size_t i = 0; i < top.size() && i < idx.items.size(); ++i) {
    if (top[i] == "variables") vars = idx.items[i].get();
    if (top[i] == "compressed" && !idx.items[i]->ints.empty()) compressed = idx.items[i]->ints[0];
    if (top[i] == "compressed" && !idx.items[i]->reals.empty()) compressed = static_cast<int>(idx.items[i]->reals[0]);
  }
  LMLAB_CHECK_HINT(vars != nullptr && vars->type == r_type::list, "expected an R lazy-load index (variables, references, compressed)",
                   "{}: no `variables` list in the index", rdx.string());
  const auto bytes = read_binary_file(rdb);
  const auto names = vars->names();
  std::vector<std::pair<std::string, r_value>> out;
  for (std::size_t i = 0; i < vars->items.size(); ++i) {
    const std::string name = i < names.size() ? names[i] : fmt::format("#{}", i + 1);
    const r_value& pos = *vars->items[i];
    LMLAB_CHECK(pos.size() == 2 && (pos.type == r_type::integer || pos.type == r_type::real),
                "{}: variable {}: position is not c(offset, length)", rdx.string(), name);
    const auto get = [&](std::size_t k) {
      return pos.type == r_type::integer ? static_cast<long long>(pos.ints[k]) : static_cast<long long>(pos.reals[k]);
    };
    const long long off = get(0), len = get(1);
    const std::string what = fmt::format("{}: variable {} at offset {}", rdb.string(), name, off);
    LMLAB_CHECK_HINT(off >= 0 && len >= 4 && static_cast<unsigned long long>(off + len) <= bytes.size(),
                     "the package is corrupt; fetch it again", "{} ({} bytes) lies outside the file ({} bytes)", what, len,
                     bytes.size());
    const std::uint8_t* p = bytes.data() + off;
    const long long usize = static_cast<long long>(static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
                                                   static_cast<std::uint32_t>(p[2]) << 8 | p[3]);
    std::span<const std::uint8_t> body(p + 4, static_cast<std::size_t>(len - 4));
    std::vector<std::uint8_t> data;
    char kind = 'Z';
    if (compressed == 2 || compressed == 3) {
      LMLAB_CHECK(!body.empty(), "{}: missing compression type byte", what);
      kind = static_cast<char>(body[0]);
      body = body.subspan(1);
    } else {
      LMLAB_CHECK(compressed == 1 || compressed == 0, "{}: unknown compression {} in the index", rdx.string(), compressed);
      if (compressed == 0) kind = '0';
    }
    if (kind == 'Z') data = inflate_bytes(body, usize, what);
    else if (kind == '0') data.assign(body.begin(), body.end());
    else
      throw error(fmt::format("{}: compression type '{}' ({}) is not supported", what, kind,
                              kind == '2' ? "bzip2" : kind == 'X' ? "xz" : "unknown"),
                  "only zlib-compressed lazy-load databases are read");
    out.emplace_back(name, r_unserialize(data, what));
  }
  return out;
}

std::vector<document> read_r_text_package(const fs::path& package_dir) {
  const fs::path base = package_dir / "data" / "Rdata";
  std::vector<document> docs;
  for (auto& [name, v] : read_lazyload_db(base)) {
    if (v.type != r_type::string) continue;
    std::string text;
    for (std::size_t i = 0; i < v.strings.size(); ++i) {
      if (i) text += '\n';
      if (v.strings[i]) text += *v.strings[i];
    }
    LMLAB_CHECK(utf8_valid(text), "{}.rdb: variable {} is not valid UTF-8", base.string(), name);
    docs.push_back({name, "", std::move(text)});
  }
  LMLAB_CHECK_HINT(!docs.empty(), "expected an R data package whose data/ holds character vectors",
                   "{}.rdb: no character vector among its variables", base.string());
  return docs;
}

}  // namespace lmlab::data
