// R serialization (XDR) and lazy-load databases on streams the tests write byte by byte
// following the format (rdata.hpp): vectors, attributes, symbol references, NA and Latin-1
// strings, a two-variable .rdx/.rdb pair, and errors naming file, variable and offset.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <optional>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/rdata.hpp"

#include "../error_of.hpp"
#include "../temp_path.hpp"

namespace d = lmlab::data;
namespace fs = std::filesystem;

namespace {
fs::path tmp(const std::string& name) { return lmlab::testing::temp_path("rdata", name); }
using lmlab::testing::error_of;

// A serialization writer for the handful of SEXP types the tests need.
struct xdr {
  std::vector<std::uint8_t> b;
  xdr& i32(std::int32_t x) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(static_cast<std::uint32_t>(x) >> s));
    return *this;
  }
  xdr& header(int version = 3) {
    b.push_back('X');
    b.push_back('\n');
    i32(version).i32(0x00040201).i32(0x00030500);
    if (version == 3) {
      i32(5);
      for (char c : std::string("UTF-8")) b.push_back(static_cast<std::uint8_t>(c));
    }
    return *this;
  }
  // CHARSXP; levels 64 = ASCII, 8 = UTF-8, 4 = Latin-1.
  xdr& chars(const std::optional<std::string>& s, int levels = 64) {
    i32(9 | levels << 12);
    if (!s) return i32(-1);
    i32(static_cast<std::int32_t>(s->size()));
    for (char c : *s) b.push_back(static_cast<std::uint8_t>(c));
    return *this;
  }
  xdr& strings(const std::vector<std::optional<std::string>>& v, bool attr = false) {
    i32(16 | (attr ? 1 << 9 : 0)).i32(static_cast<std::int32_t>(v.size()));
    for (const auto& s : v) chars(s);
    return *this;
  }
  xdr& ints(const std::vector<std::int32_t>& v, int type = 13) {
    i32(type).i32(static_cast<std::int32_t>(v.size()));
    for (auto x : v) i32(x);
    return *this;
  }
  xdr& symbol(const std::string& name) { return i32(1).chars(name); }
  xdr& ref(int k) { return i32(255 | k << 8); }
  xdr& nil() { return i32(254); }
  // Opens an attribute pairlist cell with a tag (the caller then writes the tag and value).
  xdr& cell() { return i32(2 | 1 << 10); }
};

std::vector<std::uint8_t> zlib_compress(const std::vector<std::uint8_t>& in, bool gzip) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, gzip ? 31 : 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<std::uint8_t> out(deflateBound(&zs, in.size()) + 32);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// An .rdb value: uncompressed length (big-endian) + zlib stream.
std::vector<std::uint8_t> rdb_blob(const std::vector<std::uint8_t>& ser) {
  xdr h;
  h.i32(static_cast<std::int32_t>(ser.size()));
  for (std::uint8_t c : zlib_compress(ser, false)) h.b.push_back(c);
  return h.b;
}

// Writes <dir>/data/Rdata.{rdx,rdb} with variables `novel` (a character vector) and `years`
// (an integer vector); returns the .rdb offset of `years`.
std::int32_t write_package(const fs::path& dir) {
  xdr novel;
  novel.header().strings({"EMMA", "", std::nullopt, "caf\xe9"});
  novel.b.resize(novel.b.size() - 4 - 4 - 4);  // re-write the last element as Latin-1
  novel.chars(std::string("caf\xe9"), 4);
  xdr years;
  years.header(2).ints({1815, 1816});
  const auto a = rdb_blob(novel.b), b = rdb_blob(years.b);
  std::vector<std::uint8_t> rdb = a;
  rdb.insert(rdb.end(), b.begin(), b.end());
  lmlab::write_file_atomic(dir / "data" / "Rdata.rdb", rdb);
  // list(variables = list(novel = c(0, len_a), years = c(len_a, len_b)), references = list(),
  //      compressed = TRUE), names attributes sharing the `names` symbol through a reference.
  xdr idx;
  idx.header().i32(19 | 1 << 9).i32(3);
  idx.i32(19 | 1 << 9).i32(2);
  idx.ints({0, static_cast<std::int32_t>(a.size())}).ints({static_cast<std::int32_t>(a.size()), static_cast<std::int32_t>(b.size())});
  idx.cell().symbol("names").strings({"novel", "years"}).nil();
  idx.i32(19).i32(0);
  idx.ints({1}, 10);
  idx.cell().ref(1).strings({"variables", "references", "compressed"}).nil();
  lmlab::write_file_atomic(dir / "data" / "Rdata.rdx", zlib_compress(idx.b, true));
  return static_cast<std::int32_t>(a.size());
}
}  // namespace

TEST(rdata, unserializes_vectors_attributes_and_references) {
  xdr x;
  x.header().i32(19 | 1 << 9).i32(2);  // a named list of two vectors
  x.strings({"a", std::nullopt});
  x.i32(14).i32(1).i32(0x3FF80000).i32(0);  // c(1.5)
  x.cell().symbol("names").strings({"s", "r"}).nil();
  const auto v = d::r_unserialize(x.b, "test");
  EXPECT_EQ(v.type, d::r_type::list);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v.names(), (std::vector<std::string>{"s", "r"}));
  EXPECT_EQ(v.items[0]->type, d::r_type::string);
  EXPECT_EQ(v.items[0]->strings[0], std::optional<std::string>("a"));
  EXPECT_FALSE(v.items[0]->strings[1].has_value());
  EXPECT_EQ(v.items[1]->reals, std::vector<double>{1.5});
  EXPECT_EQ(v.attribute("dim"), nullptr);
}

TEST(rdata, errors_name_offset_and_type) {
  xdr env;
  env.header().i32(4);  // ENVSXP at offset 23 (2 + 12 + 4 + 5)
  EXPECT_EQ(error_of([&] { d::r_unserialize(env.b, "x.rds"); }), "x.rds: offset 23: unsupported SEXP type 4 (ENVSXP)");
  xdr trunc;
  trunc.header().i32(16).i32(3).chars("only one");
  EXPECT_EQ(error_of([&] { d::r_unserialize(trunc.b, "t"); }), "t: offset 31: character vector of 24 bytes runs past the end (16 bytes left)");
  xdr huge;  // found by fuzz_corpus_text: 2^61 + 1 ints, whose byte count overflowed (UB) before the check
  huge.header().i32(13).i32(-1).i32(0x20000000).i32(1);
  EXPECT_EQ(error_of([&] { d::r_unserialize(huge.b, "h"); }),
            "h: offset 39: integer vector of 2305843009213693953 elements of 4 bytes runs past the end (0 bytes left)");
  xdr ascii;
  ascii.b = {'A', '\n'};
  EXPECT_EQ(error_of([&] { d::r_unserialize(ascii.b, "a"); }), "a: offset 0: stream format 'A' is not XDR ('X')");
  xdr badref;
  badref.header().ref(3);
  EXPECT_EQ(error_of([&] { d::r_unserialize(badref.b, "r"); }), "r: offset 23: reference 3 but only 0 objects are referable");
}

TEST(rdata, lazyload_db_and_text_package) {
  const auto dir = tmp("pkg");
  const std::int32_t years_at = write_package(dir);
  const auto vars = d::read_lazyload_db(dir / "data" / "Rdata");
  ASSERT_EQ(vars.size(), 2u);
  EXPECT_EQ(vars[0].first, "novel");
  EXPECT_EQ(vars[1].first, "years");
  EXPECT_EQ(vars[1].second.ints, (std::vector<std::int32_t>{1815, 1816}));
  const auto docs = d::read_r_text_package(dir);
  ASSERT_EQ(docs.size(), 1u);  // the integer vector is not text
  EXPECT_EQ(docs[0].name, "novel");
  EXPECT_EQ(docs[0].text, "EMMA\n\n\ncaf\xc3\xa9");  // NA -> empty line; Latin-1 -> UTF-8
  // Corrupt the second value's zlib stream: the error names the .rdb, the variable and offset.
  auto rdb = lmlab::read_binary_file(dir / "data" / "Rdata.rdb");
  rdb[static_cast<std::size_t>(years_at) + 4] = 0x00;
  lmlab::write_file_atomic(dir / "data" / "Rdata.rdb", rdb);
  const std::string e = error_of([&] { d::read_lazyload_db(dir / "data" / "Rdata"); });
  const std::string want = fmt::format("{}: variable years at offset {}: compressed data corrupt or truncated at input byte ",
                                       (dir / "data" / "Rdata.rdb").string(), years_at);
  EXPECT_EQ(e.rfind(want, 0), 0u) << e;
  EXPECT_TRUE(e.ends_with(": incorrect header check")) << e;
  // Cut the file inside the first value.
  rdb.resize(10);
  lmlab::write_file_atomic(dir / "data" / "Rdata.rdb", rdb);
  const std::string e2 = error_of([&] { d::read_lazyload_db(dir / "data" / "Rdata"); });
  EXPECT_EQ(e2.rfind((dir / "data" / "Rdata.rdb").string() + ": variable novel at offset 0 (", 0), 0u) << e2;
  EXPECT_NE(e2.find("lies outside the file (10 bytes)"), std::string::npos) << e2;
}

TEST(rdata, inflate_checks_length) {
  const std::vector<std::uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  const auto z = zlib_compress(text, false);
  EXPECT_EQ(d::inflate_bytes(z, 5, "x"), text);
  EXPECT_EQ(d::inflate_bytes(zlib_compress(text, true), -1, "x"), text);
  EXPECT_EQ(error_of([&] { d::inflate_bytes(z, 4, "x"); }), "x: inflates to 5 bytes, the header says 4");
  EXPECT_EQ(error_of([&] { d::inflate_bytes(z, 3, "x"); }), "x: inflates to more than 3 bytes, the header says 3");
  EXPECT_EQ(error_of([&] { d::inflate_bytes(z, 6, "x"); }), "x: inflates to 5 bytes, the header says 6");
  EXPECT_EQ(error_of([&] { d::inflate_bytes(std::span(z).first(z.size() - 3), 5, "x"); }),
            "x: compressed data corrupt or truncated at input byte " + std::to_string(z.size() - 3) + ": truncated stream");
}
