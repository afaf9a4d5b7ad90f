// Real-image readers of the VLM lab: palette PNGs (the emoji font's bitmaps), IDX files
// (Fashion-MNIST) and the emoji font's cmap / CBLC / CBDT tables with emoji-test.txt names.
// Each reader is checked on bytes built here by the formats' definitions, then fuzzed: every
// truncation and single-byte corruption of a valid file must end in an lmlab::error or a
// decoded result, never a crash or an out-of-bounds read (run under ASan by scripts/fuzz.sh's
// build, as every test). When the Debian packages are cached (scripts/test-data.sh), the real
// files are read too: 60,000 + 10,000 Fashion-MNIST items and 1,377 named emoji.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/corpus.hpp"
#include "vlm/emoji.hpp"
#include "vlm/fashion_mnist.hpp"
#include "vlm/image_io.hpp"

using namespace lmlab;
using namespace lmlab::vlm;

namespace {

std::string be(std::uint32_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return out;
}

std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string td = type + data;
  return be(static_cast<std::uint32_t>(data.size()), 4) + td +
         be(static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()))), 4);
}

// A palette PNG of W x H indices at bit depth `depth` (rows packed from the high bits, filter 0).
std::string palette_png(const std::vector<int>& idx, int W, int H, int depth, const std::string& plte, const std::string& trns) {
  std::string raw;
  for (int y = 0; y < H; ++y) {
    raw.push_back('\0');
    std::string row(static_cast<std::size_t>((W * depth + 7) / 8), '\0');
    for (int x = 0; x < W; ++x) {
      const int bit = x * depth;
      row[static_cast<std::size_t>(bit / 8)] =
          static_cast<char>(row[static_cast<std::size_t>(bit / 8)] | (idx[static_cast<std::size_t>(y * W + x)] << (8 - depth - bit % 8)));
    }
    raw += row;
  }
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string z(n, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()));
  z.resize(n);
  const std::string ihdr = be(static_cast<std::uint32_t>(W), 4) + be(static_cast<std::uint32_t>(H), 4) + static_cast<char>(depth) + '\x03' +
                           std::string(3, '\0');
  return std::string("\x89PNG\r\n\x1a\n") + png_chunk("IHDR", ihdr) + png_chunk("PLTE", plte) +
         (trns.empty() ? "" : png_chunk("tRNS", trns)) + png_chunk("IDAT", z) + png_chunk("IEND", "");
}

// Feeds every truncation and, at each offset, a flipped byte to `read`; each must return or
// throw lmlab::error (anything else fails the test).
template <class F>
void fuzz_bytes(const std::string& good, F&& read, std::size_t stride = 1) {
  for (std::size_t cut = 0; cut < good.size(); cut += stride) {
    try {
      read(good.substr(0, cut));
    } catch (const lmlab::error&) {
    }
  }
  rng g(7, 7);
  for (std::size_t at = 0; at < good.size(); at += stride) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ static_cast<char>(1 + g.below(255)));
    try {
      read(bad);
    } catch (const lmlab::error&) {
    }
  }
}

TEST(vlm_real_images, palette_png_at_every_bit_depth_with_transparency) {
  const std::string plte = std::string("\xff\x00\x00", 3) + std::string("\x00\x00\xff", 3) + std::string("\x10\x20\x30", 3);
  for (const int depth : {1, 2, 4, 8}) {
    const int W = 5, H = 3, colours = depth == 1 ? 2 : 3;
    std::vector<int> idx;
    for (int i = 0; i < W * H; ++i) idx.push_back((i * 7 + i / 3) % colours);
    const tensor img = decode_png_rgba(palette_png(idx, W, H, depth, plte.substr(0, static_cast<std::size_t>(3 * colours)), "\x80"), 100);
    ASSERT_EQ(img.shape(), (shape_t{4, H, W}));
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const int k = idx[static_cast<std::size_t>(y * W + x)];
        for (int c = 0; c < 3; ++c)
          EXPECT_EQ(std::lround(img.at({c, y, x}) * 255), static_cast<unsigned char>(plte[static_cast<std::size_t>(3 * k + c)])) << depth;
        EXPECT_EQ(std::lround(img.at({3, y, x}) * 255), k == 0 ? 128 : 255) << "tRNS covers entry 0 only";
      }
  }
}

TEST(vlm_real_images, palette_png_refusals_and_fuzz) {
  const std::string plte("\xff\x00\x00\x00\xff\x00", 6);
  const std::string good = palette_png({0, 1, 1, 0}, 2, 2, 8, plte, "");
  EXPECT_NO_THROW(decode_png(good, 4));
  try {
    decode_png(palette_png({0, 2, 1, 0}, 2, 2, 8, plte, ""), 4);
    ADD_FAILURE() << "index 2 past 2 entries";
  } catch (const image_error& e) {
    EXPECT_STREQ(e.what(), "png: pixel (1, 0) has palette index 2, past the 2 PLTE entries");
  }
  try {
    decode_png(palette_png({0, 1, 1, 0}, 2, 2, 8, "", ""), 4);
    ADD_FAILURE() << "no PLTE";
  } catch (const image_error& e) {
    EXPECT_STREQ(e.what(), "png: a palette image needs a PLTE chunk of 1-256 RGB entries (got 0 bytes)");
  }
  fuzz_bytes(good, [](const std::string& b) { decode_png(b, 64); });
}

std::string idx_file(std::vector<std::uint32_t> dims, const std::string& values) {
  std::string out = std::string("\x00\x00\x08", 3) + static_cast<char>(dims.size());
  for (const auto d : dims) out += be(d, 4);
  return out + values;
}

TEST(vlm_real_images, idx_parses_and_names_the_offset_of_what_is_wrong) {
  const idx_array a = parse_idx(idx_file({2, 3}, "abcdef"), "x.idx");
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(std::string(a.values.begin(), a.values.end()), "abcdef");
  const auto err = [](const std::string& b) {
    try {
      parse_idx(b, "x.idx");
    } catch (const lmlab::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err(std::string("\x00\x00", 2)), "x.idx: IDX: 2 bytes, too short for the 4-byte magic number (offset 0)");
  EXPECT_EQ(err(std::string("\x00\x01\x08\x01", 4)), "x.idx: IDX: the magic number must start with two zero bytes (offset 0)");
  EXPECT_EQ(err(std::string("\x00\x00\x0d\x01", 4)), "x.idx: IDX: element type 0x0d at offset 2 is not supported (0x08, unsigned byte)");
  EXPECT_EQ(err(std::string("\x00\x00\x08\x00", 4)), "x.idx: IDX: 0 dimensions at offset 3 (1-4 expected)");
  EXPECT_EQ(err(idx_file({2, 3}, "abcdef").substr(0, 9)), "x.idx: IDX: truncated at offset 9 inside the 2 dimension sizes");
  EXPECT_EQ(err(idx_file({2, 0}, "")), "x.idx: IDX: dimension 1 is 0 (offset 8; 1 to 2^24 expected)");
  EXPECT_EQ(err(idx_file({2, 3}, "abcde")), "x.idx: IDX: the dimensions need 6 data bytes from offset 12, the file has 5");
  EXPECT_EQ(err(idx_file({2, 3}, "abcdefg")), "x.idx: IDX: the dimensions need 6 data bytes from offset 12, the file has 7");
  fuzz_bytes(idx_file({2, 3}, "abcdef"), [](const std::string& b) { parse_idx(b, "f"); });
}

TEST(vlm_real_images, fashion_items_from_idx_arrays) {
  std::string px(2 * 784, '\0');
  px[0] = static_cast<char>(255);
  px[784 + 783] = static_cast<char>(51);
  const idx_array images = parse_idx(idx_file({2, 28, 28}, px), "i"), labels = parse_idx(idx_file({2}, std::string("\x09\x00", 2)), "l");
  const labelled_images li = fashion_from_idx(images, labels, 0);
  EXPECT_EQ(li.images.shape(), (shape_t{2, 3, 28, 28}));
  EXPECT_EQ(li.labels, (std::vector<std::int32_t>{9, 0}));
  EXPECT_FLOAT_EQ(li.images.at({0, 2, 0, 0}), 1.0f);
  EXPECT_FLOAT_EQ(li.images.at({1, 1, 27, 27}), 0.2f);
  EXPECT_EQ(fashion_from_idx(images, labels, 1).labels.size(), 1u);
  EXPECT_EQ(fashion_class_names()[9], "ankle boot");
  EXPECT_THROW(fashion_from_idx(images, parse_idx(idx_file({2}, std::string("\x0a\x00", 2)), "l"), 0), lmlab::error);  // label 10
  EXPECT_THROW(fashion_from_idx(images, parse_idx(idx_file({3}, "\x01\x01\x01"), "l"), 0), lmlab::error);
}

// A minimal colour bitmap font: cmap format 12 (U+1F600 -> glyph 1, U+2764 -> glyph 2), CBLC
// with one strike and one index subtable (format `index_format`, image format 17) for glyphs
// 1..2, and CBDT holding each glyph's 5 metric bytes, the PNG length and the PNG.
// A format 12 cmap subtable with the given groups (code points lo..hi -> glyph, glyph + 1, ...).
std::string cmap12_table(const std::vector<std::array<std::uint32_t, 3>>& groups) {
  const auto n = static_cast<std::uint32_t>(groups.size());
  std::string cmap = be(0, 2) + be(1, 2) + be(3, 2) + be(10, 2) + be(12, 4);
  cmap += be(12, 2) + be(0, 2) + be(16 + 12 * n, 4) + be(0, 4) + be(n, 4);
  for (const auto& [lo, hi, glyph] : groups) cmap += be(lo, 4) + be(hi, 4) + be(glyph, 4);
  return cmap;
}

std::string tiny_font(const std::vector<std::string>& pngs, int index_format = 1) {
  const std::string cmap = cmap12_table({{0x1F600, 0x1F600, 1}, {0x2764, 0x2764, 2}});  // out of order, as some fonts are
  std::string cbdt = be(0x00030000, 4);
  std::vector<std::uint32_t> offs;
  for (const auto& p : pngs) {
    offs.push_back(static_cast<std::uint32_t>(cbdt.size()) - 4);
    cbdt += std::string(5, '\x10') + be(static_cast<std::uint32_t>(p.size()), 4) + p;
  }
  offs.push_back(static_cast<std::uint32_t>(cbdt.size()) - 4);
  std::string cblc = be(3, 2) + be(0, 2) + be(1, 4);
  const std::uint32_t array = 8 + 48;
  cblc += be(array, 4) + be(0, 4) + be(1, 4) + be(0, 4) + std::string(24, '\0') + be(1, 2) + be(2, 2) + "\x6d\x6d\x20\x01";
  cblc += be(1, 2) + be(2, 2) + be(8, 4);  // glyphs 1..2, subtable 8 bytes after the array
  cblc += be(static_cast<std::uint32_t>(index_format), 2) + be(17, 2) + be(4, 4);
  for (const auto o : offs) cblc += be(o, index_format == 1 ? 4 : 2);
  const std::vector<std::pair<std::string, std::string>> tables = {{"CBDT", cbdt}, {"CBLC", cblc}, {"cmap", cmap}};
  std::string font = be(0x00010000, 4) + be(static_cast<std::uint32_t>(tables.size()), 2) + std::string(6, '\0');
  std::uint32_t at = 12 + 16 * static_cast<std::uint32_t>(tables.size());
  std::string body;
  for (const auto& [tag, data] : tables) {
    font += tag + be(0, 4) + be(at, 4) + be(static_cast<std::uint32_t>(data.size()), 4);
    body += data;
    at += static_cast<std::uint32_t>(data.size());
  }
  return font + body;
}

constexpr const char* k_emoji_test =
    "# group: Smileys & Emotion\n"
    "1F600                                                  ; fully-qualified     # \xF0\x9F\x98\x80 E1.0 grinning face\n"
    "# group: Symbols\n"
    "2764 FE0F                                              ; fully-qualified     # \xE2\x9D\xA4\xEF\xB8\x8F E0.6 red heart\n"
    "2764                                                   ; unqualified         # \xE2\x9D\xA4 E0.6 red heart\n"
    "1F44B 1F3FB                                            ; fully-qualified     # x E1.0 waving hand: light skin tone\n"
    "1F3FB                                                  ; component           # x E1.0 light skin tone\n"
    "1F9D1 200D 1F4BB                                       ; fully-qualified     # x E12.1 technologist\n"
    "\n";

TEST(vlm_real_images, emoji_test_names_single_code_points_only) {
  const auto n = parse_emoji_test(k_emoji_test);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n.at(0x1F600).name, "grinning face");
  EXPECT_EQ(n.at(0x1F600).group, "Smileys & Emotion");
  EXPECT_EQ(n.at(0x2764).name, "red heart");  // "2764 FE0F" names U+2764
  EXPECT_EQ(n.at(0x2764).group, "Symbols");
  EXPECT_EQ(name_words("three o\xE2\x80\x99"
                       "clock"),
            (std::vector<std::string>{"three", "o", "clock"}));
  EXPECT_EQ(name_words("T-Shirt/Top"), (std::vector<std::string>{"t", "shirt", "top"}));
  try {
    parse_emoji_test("# ok\n1F600 fully-qualified\n");
    ADD_FAILURE();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "emoji-test.txt:2: expected 'CODE POINTS ; status # emoji E<version> name'");
  }
  EXPECT_THROW(parse_emoji_test("1G600 ; fully-qualified # x E1.0 a\n"), lmlab::error);
}

TEST(vlm_real_images, emoji_font_tables_give_each_named_glyph_its_png) {
  // Glyph 1: a 4x2 palette bitmap (opaque red left half, transparent right half); glyph 2: RGB.
  const std::string red =
      palette_png({0, 0, 1, 1, 0, 0, 1, 1}, 4, 2, 4, std::string("\xff\x00\x00\x00\x00\x00", 6), std::string("\xff\x00", 2));
  const std::string blue = encode_png(tensor::from<float>({3, 1, 1}, {0.0f, 0.0f, 1.0f}));
  for (const int format : {1, 3}) {
    const std::string font = tiny_font({red, blue}, format);
    const auto tables = sfnt_tables(font);
    EXPECT_EQ(cmap_format12(tables.at("cmap")).glyph(0x1F600), 1u);
    EXPECT_EQ(cmap_format12(tables.at("cmap")).glyph(0x1F601), std::nullopt);
    const auto pngs = cbdt_pngs(tables.at("CBLC"), tables.at("CBDT"));
    ASSERT_EQ(pngs.size(), 2u);
    EXPECT_EQ(pngs.at(1), red);
    EXPECT_EQ(pngs.at(2), blue);
    const auto em = emoji_images(font, k_emoji_test, 2);
    ASSERT_EQ(em.size(), 2u);
    EXPECT_EQ(em[0].code_point, 0x2764u);  // code point order
    EXPECT_EQ(em[1].name.name, "grinning face");
    // 4x2 centred on a 4x4 white square, 2x2 blocks: top-left block is half white, half red.
    const tensor& t = em[1].image;
    EXPECT_FLOAT_EQ(t.at({0, 0, 0}), 1.0f);
    EXPECT_FLOAT_EQ(t.at({1, 0, 0}), 0.5f);
    EXPECT_FLOAT_EQ(t.at({1, 0, 1}), 1.0f);  // transparent right half over white
    EXPECT_FLOAT_EQ(em[0].image.at({2, 1, 1}), 1.0f);
    EXPECT_FLOAT_EQ(em[0].image.at({0, 0, 0}), 0.0f);  // a 1x1 blue pixel padded to 2x2: one block each
    EXPECT_FLOAT_EQ(em[0].image.at({2, 0, 0}), 1.0f);
  }
}

TEST(vlm_real_images, emoji_font_errors_and_fuzz) {
  const std::string red = palette_png({0, 1}, 2, 1, 8, std::string("\xff\x00\x00\x00\x00\x00", 6), "");
  const std::string font = tiny_font({red, red});
  try {
    sfnt_tables("GIF89a........");
    ADD_FAILURE();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "font: not an OpenType/TrueType file (version 0x47494638 at offset 0)");
  }
  std::string short_table = font;
  short_table[12 + 12] = static_cast<char>(0x7f);  // CBDT's length: past the end of the file
  EXPECT_THROW(sfnt_tables(short_table), lmlab::error);
  EXPECT_THROW(emoji_images(font, "", 2), lmlab::error);  // no names: nothing to return
  fuzz_bytes(font, [](const std::string& b) { emoji_images(b, k_emoji_test, 2); });
}

// Found by fuzzing: one group spanning all of Unicode was expanded into ~1.1 M map entries per
// read (~0.5 s under ASan). Groups stay ranges now; overlapping groups are refused.
TEST(vlm_real_images, cmap_groups_are_ranges_and_must_not_overlap) {
  const auto all = cmap_format12(cmap12_table({{0, 0x10FFFF, 7}}));
  EXPECT_EQ(all.groups(), 1u);
  EXPECT_EQ(all.glyph(0), 7u);
  EXPECT_EQ(all.glyph(0x1F600), 7u + 0x1F600);
  EXPECT_EQ(all.glyph(0x10FFFF), 7u + 0x10FFFF);
  const auto two = cmap_format12(cmap12_table({{0x30, 0x39, 100}, {0x10, 0x1F, 1}}));
  EXPECT_EQ(two.glyph(0x0F), std::nullopt);
  EXPECT_EQ(two.glyph(0x1F), 16u);
  EXPECT_EQ(two.glyph(0x20), std::nullopt);
  EXPECT_EQ(two.glyph(0x35), 105u);
  EXPECT_EQ(two.glyph(0x3A), std::nullopt);
  try {
    cmap_format12(cmap12_table({{0x10, 0x20, 1}, {0x20, 0x30, 50}}));
    ADD_FAILURE();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "cmap: groups U+10..U+20 and U+20..U+30 overlap (subtable at offset 12)");
  }
  EXPECT_THROW(cmap_format12(cmap12_table({{0x20, 0x10, 1}})), lmlab::error);  // hi < lo
}

// The cached Debian packages, when scripts/test-data.sh has fetched them.
TEST(vlm_real_images, debian_packages_when_cached) {
  const auto have = [](const char* s) { return data::is_fetched(data::find_source(s)); };
  if (!have("fashion-mnist") || !have("noto-emoji") || !have("unicode-emoji"))
    GTEST_SKIP() << "run scripts/test-data.sh to fetch fashion-mnist, noto-emoji and unicode-emoji";
  const labelled_images te = load_fashion_mnist("test", 0);
  EXPECT_EQ(te.images.size(0), 10000);
  std::vector<int> count(10, 0);
  for (const auto y : te.labels) ++count[static_cast<std::size_t>(y)];
  EXPECT_EQ(count, std::vector<int>(10, 1000));  // Xiao et al. 2017: 1,000 test items per class
  const auto em = load_emoji(24);
  EXPECT_EQ(em.size(), 1377u);  // Unicode 15.0's single-code-point emoji, all in Noto 2.042
  EXPECT_EQ(em.front().image.shape(), (shape_t{3, 24, 24}));
  bool grinning = false;
  for (const auto& e : em) grinning = grinning || (e.code_point == 0x1F600 && e.name.name == "grinning face");
  EXPECT_TRUE(grinning);
}

}  // namespace
