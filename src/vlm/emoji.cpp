// Noto Color Emoji bitmaps and their CLDR names: see emoji.hpp.
#include "vlm/emoji.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <cctype>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/corpus.hpp"
#include "vlm/image_io.hpp"

namespace lmlab::vlm {

namespace {

// Big-endian reads that check every access against the bytes present.
struct be_bytes {
  std::string_view b;
  const char* what;  // the table, for errors
  void need(std::size_t at, std::size_t n) const {
    LMLAB_CHECK(at <= b.size() && n <= b.size() - at, "{}: {} bytes at offset {} run past the end ({} bytes)", what, n, at, b.size());
  }
  std::uint32_t u8(std::size_t at) const {
    need(at, 1);
    return static_cast<unsigned char>(b[at]);
  }
  std::uint32_t u16(std::size_t at) const {
    need(at, 2);
    return (u8(at) << 8) | u8(at + 1);
  }
  std::uint32_t u32(std::size_t at) const {
    need(at, 4);
    return (u16(at) << 16) | u16(at + 2);
  }
};

}  // namespace

std::map<std::string, std::string_view> sfnt_tables(std::string_view font) {
  const be_bytes f{font, "font"};
  const std::uint32_t version = f.u32(0);
  LMLAB_CHECK(version == 0x00010000 || version == 0x4F54544F || version == 0x74727565,
              "font: not an OpenType/TrueType file (version 0x{:08x} at offset 0)", version);
  const std::uint32_t n = f.u16(4);
  std::map<std::string, std::string_view> out;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::size_t rec = 12 + 16 * static_cast<std::size_t>(i);
    f.need(rec, 16);
    const std::uint32_t off = f.u32(rec + 8), len = f.u32(rec + 12);
    LMLAB_CHECK(off <= font.size() && len <= font.size() - off,
                "font: table '{}' (record at offset {}) spans {}+{}, past the end ({} bytes)", font.substr(rec, 4), rec, off, len,
                font.size());
    out[std::string(font.substr(rec, 4))] = font.substr(off, len);
  }
  return out;
}

cmap12 cmap_format12(std::string_view cmap) {
  const be_bytes c{cmap, "cmap"};
  const std::uint32_t n = c.u16(2);
  std::size_t sub = 0;
  for (std::uint32_t i = 0; i < n && sub == 0; ++i) {
    const std::size_t rec = 4 + 8 * static_cast<std::size_t>(i);
    const std::uint32_t platform = c.u16(rec), encoding = c.u16(rec + 2), off = c.u32(rec + 4);
    if (((platform == 3 && encoding == 10) || (platform == 0 && (encoding == 4 || encoding == 6))) && c.u16(off) == 12) sub = off;
  }
  LMLAB_CHECK(sub != 0, "cmap: no format 12 subtable (platform 3 encoding 10 or platform 0) among {} encoding records", n);
  const std::uint32_t groups = c.u32(sub + 12);
  c.need(sub + 16, 12 * static_cast<std::size_t>(groups));
  std::vector<cmap_group> out;
  out.reserve(groups);
  for (std::uint32_t g = 0; g < groups; ++g) {
    const std::size_t at = sub + 16 + 12 * static_cast<std::size_t>(g);
    const cmap_group r{c.u32(at), c.u32(at + 4), c.u32(at + 8)};
    LMLAB_CHECK(r.lo <= r.hi && r.hi <= 0x10FFFF, "cmap: group {} at offset {} maps U+{:X}..U+{:X}, not a code point range", g, at, r.lo,
                r.hi);
    out.push_back(r);
  }
  // The format wants the groups sorted; fonts in the wild are forgiven that, not overlaps.
  std::sort(out.begin(), out.end(), [](const cmap_group& a, const cmap_group& b) { return a.lo < b.lo; });
  for (std::size_t i = 1; i < out.size(); ++i)
    LMLAB_CHECK(out[i].lo > out[i - 1].hi, "cmap: groups U+{:X}..U+{:X} and U+{:X}..U+{:X} overlap (subtable at offset {})", out[i - 1].lo,
                out[i - 1].hi, out[i].lo, out[i].hi, sub);
  return cmap12(std::move(out));
}

std::optional<std::uint32_t> cmap12::glyph(std::uint32_t cp) const {
  const auto it = std::upper_bound(groups_.begin(), groups_.end(), cp, [](std::uint32_t v, const cmap_group& g) { return v < g.lo; });
  if (it == groups_.begin()) return std::nullopt;
  const cmap_group& g = *std::prev(it);
  if (cp > g.hi) return std::nullopt;
  return g.glyph + (cp - g.lo);
}

namespace {

// The PNG inside one CBDT glyph record of image format 17, 18 or 19.
std::string_view glyph_png(const be_bytes& d, std::size_t start, std::size_t end, std::uint32_t format, std::uint32_t glyph) {
  const std::size_t metrics = format == 17 ? 5 : format == 18 ? 8 : format == 19 ? 0 : 1;
  LMLAB_CHECK(metrics != 1, "CBDT: glyph {} has image format {} (17, 18 or 19 supported)", glyph, format);
  LMLAB_CHECK(end - start >= metrics + 4, "CBDT: glyph {} record at offset {} is {} bytes, too short", glyph, start, end - start);
  const std::uint32_t len = d.u32(start + metrics);
  LMLAB_CHECK(len <= end - start - metrics - 4, "CBDT: glyph {} at offset {} claims {} PNG bytes, its record holds {}", glyph, start, len,
              end - start - metrics - 4);
  return d.b.substr(start + metrics + 4, len);
}

}  // namespace

std::map<std::uint32_t, std::string_view> cbdt_pngs(std::string_view cblc, std::string_view cbdt) {
  const be_bytes l{cblc, "CBLC"}, d{cbdt, "CBDT"};
  LMLAB_CHECK(l.u16(0) == 3 || l.u16(0) == 2, "CBLC: major version {} at offset 0 (3 expected)", l.u16(0));
  LMLAB_CHECK(l.u32(4) >= 1, "CBLC: no bitmap strikes (numSizes 0 at offset 4)");
  const std::size_t array = l.u32(8), subtables = l.u32(16);
  std::map<std::uint32_t, std::string_view> out;
  for (std::size_t k = 0; k < subtables; ++k) {
    const std::size_t e = array + 8 * k;
    const std::uint32_t first = l.u16(e), last = l.u16(e + 2);
    const std::size_t head = array + l.u32(e + 4);
    LMLAB_CHECK(first <= last, "CBLC: index subtable {} at offset {} has glyphs {}..{}", k, e, first, last);
    const std::uint32_t index_format = l.u16(head), image_format = l.u16(head + 2), data_at = l.u32(head + 4);
    LMLAB_CHECK(index_format == 1 || index_format == 3, "CBLC: index subtable at offset {} has format {} (1 and 3 supported)", head,
                index_format);
    const std::size_t width = index_format == 1 ? 4 : 2;
    const auto offset_of = [&](std::uint32_t i) -> std::size_t {
      return data_at + (width == 4 ? l.u32(head + 8 + 4 * i) : l.u16(head + 8 + 2 * i));
    };
    for (std::uint32_t g = first; g <= last; ++g) {
      const std::size_t start = offset_of(g - first), end = offset_of(g - first + 1);
      if (end == start) continue;  // no bitmap for this glyph
      LMLAB_CHECK(start < end && end <= cbdt.size(), "CBLC: glyph {} spans CBDT bytes {}..{} (CBDT has {}; subtable at offset {})", g,
                  start, end, cbdt.size(), head);
      out[g] = glyph_png(d, start, end, image_format, g);
    }
  }
  return out;
}

std::map<std::uint32_t, emoji_name> parse_emoji_test(std::string_view text) {
  std::map<std::uint32_t, emoji_name> out;
  std::string group;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.starts_with("# group: ")) group = std::string(line.substr(9));
    if (line.empty() || line[0] == '#') continue;
    const std::size_t semi = line.find(';'), hash = line.find('#');
    LMLAB_CHECK(semi != std::string_view::npos && hash != std::string_view::npos && semi < hash,
                "emoji-test.txt:{}: expected 'CODE POINTS ; status # emoji E<version> name'", line_no);
    std::vector<std::uint32_t> cps;
    for (std::size_t i = 0; i < semi;) {
      while (i < semi && line[i] == ' ') ++i;
      std::size_t j = i;
      while (j < semi && line[j] != ' ') ++j;
      if (j == i) break;
      const std::string hex(line.substr(i, j - i));
      LMLAB_CHECK(hex.size() <= 6 && hex.find_first_not_of("0123456789ABCDEFabcdef") == std::string::npos,
                  "emoji-test.txt:{}: '{}' is not a hex code point", line_no, hex);
      cps.push_back(static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16)));
      i = j;
    }
    const std::string_view status = line.substr(semi + 1, hash - semi - 1);
    if (status.find("fully-qualified") == std::string_view::npos || status.find("unqualified") != std::string_view::npos) continue;
    if (cps.size() == 2 && cps[1] == 0xFE0F) cps.pop_back();
    if (cps.size() != 1) continue;
    // "# 😀 E1.0 grinning face": the name follows the version token.
    const std::string_view tail = line.substr(hash + 1);
    const std::size_t ver = tail.find(" E");
    const std::size_t sp = ver == std::string_view::npos ? ver : tail.find(' ', ver + 2);
    LMLAB_CHECK(sp != std::string_view::npos && sp + 1 < tail.size(), "emoji-test.txt:{}: no 'E<version> name' after '#'", line_no);
    out[cps[0]] = {std::string(tail.substr(sp + 1)), group};
  }
  return out;
}

std::vector<std::string> name_words(const std::string& name) {
  std::vector<std::string> out;
  std::string w;
  for (const char ch : name + " ") {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80 && std::isalnum(c))
      w.push_back(static_cast<char>(std::tolower(c)));
    else if (!w.empty())
      out.push_back(std::move(w)), w.clear();
  }
  return out;
}

tensor emoji_thumbnail(std::string_view png, std::int64_t side) {
  LMLAB_CHECK(side >= 1 && side <= 1024, "emoji: thumbnail side {} (1-1024)", side);
  const tensor rgba = decode_png_rgba(png, 1 << 22);
  const std::int64_t H = rgba.size(1), W = rgba.size(2);
  const std::int64_t P = side * ((std::max(H, W) + side - 1) / side), block = P / side, ox = (P - W) / 2, oy = (P - H) / 2;
  const float* src = rgba.data<float>();
  std::vector<double> acc(static_cast<std::size_t>(3 * side * side), 0.0);
  for (std::int64_t y = 0; y < P; ++y)
    for (std::int64_t x = 0; x < P; ++x) {
      const std::int64_t sy = y - oy, sx = x - ox;
      const bool in = sy >= 0 && sy < H && sx >= 0 && sx < W;
      const float a = in ? src[(3 * H + sy) * W + sx] : 0.0f;
      for (std::int64_t c = 0; c < 3; ++c) {
        const double v = in ? a * src[(c * H + sy) * W + sx] + (1 - a) : 1.0;  // over white
        acc[static_cast<std::size_t>((c * side + y / block) * side + x / block)] += v;
      }
    }
  tensor out = tensor::empty({3, side, side});
  float* o = out.data<float>();
  for (std::size_t i = 0; i < acc.size(); ++i) o[i] = static_cast<float>(acc[i] / static_cast<double>(block * block));
  return out;
}

std::vector<emoji_image> emoji_images(std::string_view font, std::string_view emoji_test, std::int64_t side) {
  const auto tables = sfnt_tables(font);
  for (const char* t : {"cmap", "CBLC", "CBDT"})
    LMLAB_CHECK(tables.count(t), "font: no '{}' table (a colour bitmap font has cmap, CBLC and CBDT)", t);
  const auto cmap = cmap_format12(tables.at("cmap"));
  const auto pngs = cbdt_pngs(tables.at("CBLC"), tables.at("CBDT"));
  std::vector<emoji_image> out;
  for (const auto& [cp, name] : parse_emoji_test(emoji_test)) {
    const auto g = cmap.glyph(cp);
    if (!g) continue;
    const auto p = pngs.find(*g);
    if (p == pngs.end()) continue;
    try {
      out.push_back({cp, name, emoji_thumbnail(p->second, side)});
    } catch (const error& e) {
      throw error(fmt::format("emoji U+{:X} ({}), glyph {}: {}", cp, name.name, *g, e.what()));
    }
  }
  LMLAB_CHECK(!out.empty(), "emoji: no named emoji has a bitmap in the font");
  return out;
}

std::vector<emoji_image> load_emoji(std::int64_t side) {
  const std::string font = read_text_file(data::source_file("noto-emoji", "NotoColorEmoji.ttf"));
  const std::string names = read_text_file(data::source_file("unicode-emoji", "emoji-test.txt"));
  return emoji_images(font, names, side);
}

}  // namespace lmlab::vlm
