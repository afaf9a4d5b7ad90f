// Colour emoji as real image-caption pairs for the VLM lab: the PNG bitmaps of Noto Color Emoji
// (Debian `fonts-noto-color-emoji`, source "noto-emoji" of `lmlab data`) captioned with their
// CLDR short names from Unicode's emoji-test.txt (Debian `unicode-data`, source
// "unicode-emoji"); both cached outside git and sha256-verified (shared/DESIGN.md "Data").
// The font is read as an OpenType file (ref: the OpenType specification 1.9: the table
// directory; `cmap` format 12; `CBLC` BitmapSize records and IndexSubTable formats 1 and 3;
// `CBDT` glyph image formats 17, 18 and 19, each a PNG). Only single-code-point emoji are used
// (a code point, or one followed by U+FE0F): sequences (flags, skin tones, ZWJ families) reach
// their glyphs through GSUB ligatures, which this reader does not follow.
// Untrusted input: every offset and length is checked against the bytes present; errors name
// the table and the byte offset.
// Not for: rendering text, other bitmap formats (sbix, EBDT monochrome), COLR vector glyphs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab::vlm {

// The table directory: tag -> the table's bytes (views into `font`).
std::map<std::string, std::string_view> sfnt_tables(std::string_view font);
// cmap format 12 (platform 3 encoding 10, or platform 0): its sequential map groups, code points
// lo..hi -> glyphs glyph..glyph + (hi - lo), kept as ranges (a group may span all of Unicode, so
// expanding it per code point would cost a hostile file's reader ~1.1 M map nodes).
struct cmap_group {
  std::uint32_t lo, hi, glyph;
};
class cmap12 {
 public:
  explicit cmap12(std::vector<cmap_group> groups) : groups_(std::move(groups)) {}
  // The glyph of code point `cp`, or nothing when no group maps it.
  std::optional<std::uint32_t> glyph(std::uint32_t cp) const;
  std::size_t groups() const { return groups_.size(); }

 private:
  std::vector<cmap_group> groups_;  // sorted by lo, disjoint
};
// Errors name the group and its byte offset (a range that is not code points) or the two
// overlapping groups; groups out of order are sorted.
cmap12 cmap_format12(std::string_view cmap);
// Glyph id -> its PNG bytes (views into `cbdt`) from the first strike of CBLC.
std::map<std::uint32_t, std::string_view> cbdt_pngs(std::string_view cblc, std::string_view cbdt);

struct emoji_name {
  std::string name;   // CLDR short name, "grinning face"
  std::string group;  // emoji-test.txt group, "Smileys & Emotion"
};
// Single-code-point fully-qualified entries of emoji-test.txt: code point -> name and group.
// Errors name the line.
std::map<std::uint32_t, emoji_name> parse_emoji_test(std::string_view text);
// Lower-case ASCII words of a name ("three o’clock" -> three, o, clock).
std::vector<std::string> name_words(const std::string& name);

struct emoji_image {
  std::uint32_t code_point = 0;
  emoji_name name;
  tensor image;  // f32 (3, side, side): composited over white, padded square, box-averaged
};
// A PNG bitmap -> (3, side, side): alpha-composited over white, centred on a white square whose
// side is the next multiple of `side` at least the bitmap's larger side, then each block averaged.
tensor emoji_thumbnail(std::string_view png, std::int64_t side);
// Every named single-code-point emoji the font has a bitmap for, in code point order.
std::vector<emoji_image> emoji_images(std::string_view font, std::string_view emoji_test, std::int64_t side);
// The same from the cached packages (the error says how to fetch them).
std::vector<emoji_image> load_emoji(std::int64_t side);

}  // namespace lmlab::vlm
