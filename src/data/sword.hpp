// SWORD zText Bible modules (Debian sword-text-kjv, sword-text-web, sword-text-sparv): the
// compressed verse store, OSIS markup to plain text, one document per book, and verse-by-verse
// alignment of two modules that share the KJV versification (en-es pairs from KJV + RV1909).
//
// zText layout, per testament t in {ot, nt} (all integers little-endian):
//   t.bzs  block index, 12 bytes per block: u32 offset in t.bzz, u32 compressed size,
//          u32 uncompressed size
//   t.bzv  entry index, 10 bytes per entry: u32 block number, u32 offset in the uncompressed
//          block, u16 size (0 = empty entry)
//   t.bzz  the blocks, each a zlib stream (CompressType=ZIP)
// Entries follow the versification in order: entry 0 is empty, entry 1 the module/testament
// heading, then per book a book-heading entry, and per chapter a chapter-heading entry followed
// by one entry per verse. Under the KJV versification that is 2 + 39 + 929 + 23,145 = 24,115 OT
// entries and 2 + 27 + 260 + 7,957 = 8,246 NT entries (31,102 verses, 1,189 chapters).
// Not for: other SWORD drivers (rawText, zCom, lexicons), enciphered modules, or
// versifications other than KJV for verse references (books still split by OSIS markers).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "data/readers.hpp"

namespace lmlab::data {

enum class testament { old_testament = 0, new_testament = 1 };

// One opened module folder (…/modules/texts/ztext/<name>/). Blocks are decompressed lazily and
// kept. Errors name the file and the byte offset of the bad index entry or block.
class ztext_module {
 public:
  // Reads ot.* and nt.* (a testament whose three files are all absent has no entries).
  explicit ztext_module(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::size_t entries(testament t) const { return part(t).entries.size(); }
  // Raw OSIS markup of entry `index` of testament `t` (empty for an empty entry).
  std::string_view raw(testament t, std::size_t index) const;

 private:
  struct block {
    std::uint32_t offset, size, usize;
  };
  struct entry {
    std::uint32_t block, offset;
    std::uint16_t size;
  };
  struct part_data {
    std::string prefix;  // "ot" / "nt"
    std::vector<block> blocks;
    std::vector<entry> entries;
    std::vector<std::uint8_t> bzz;
    mutable std::map<std::uint32_t, std::string> cache;  // block number -> uncompressed bytes
  };
  const part_data& part(testament t) const { return parts_[static_cast<int>(t)]; }
  const std::string& block_text(const part_data& p, std::uint32_t b) const;
  void load_part(part_data& p);

  std::filesystem::path dir_;
  part_data parts_[2];
};

// OSIS markup -> text: notes (footnotes, cross references) are dropped with their content, and
// so are front matter and glossaries (<div type="front|glossary">, as a container or as an
// sID/eID milestone pair within the same entry), and a dropped note between two word
// characters leaves a space ("God<note>..</note>created" -> "God created"); other elements keep
// their text; line-ish elements (l, lb, lg, title, div, p, chapter, verse,
// milestone) separate words; entities are decoded; whitespace runs become one space; the
// result is trimmed. Attribute values (Strong's numbers, milestone labels) never appear.
std::string osis_to_text(std::string_view osis);

// KJV versification: 66 books (OSIS ids, Gen ... Rev), chapters and verses per chapter.
struct kjv_verse {
  int book = 0;     // 0-based index into kjv_book_ids()
  int chapter = 0;  // 1-based
  int verse = 0;    // 1-based
};
const std::vector<std::string>& kjv_book_ids();
int kjv_chapters(int book);
int kjv_verses(int book, int chapter);
// Entry count of each testament under the KJV layout (24,115 and 8,246).
std::size_t kjv_entries(testament t);
// The verse at entry `index` of testament `t`, or false for heading / out-of-range entries.
bool kjv_entry_verse(testament t, std::size_t index, kjv_verse& out);
// "Gen.1.1"
std::string kjv_ref(const kjv_verse& v);

// One document per book, named by its OSIS id (Gen, Exod, ...), group "ot"/"nt". A book starts
// at the entry holding its <div type="book" osisID=... sID=...> marker (entries before the
// first marker, the module heading, are skipped). Each non-empty entry becomes one line of
// osis_to_text; a chapter-heading entry (<chapter ... sID=...>) starts a new paragraph ("\n\n").
std::vector<document> read_sword_books(const ztext_module& m);
std::vector<document> read_sword_books(const std::filesystem::path& module_dir);

// Verses of a KJV-versified module in canonical order (empty verses included, text "").
// Error when the entry counts are not the KJV layout's.
struct verse_text {
  std::string ref;  // "Gen.1.1"
  std::string text;
};
std::vector<verse_text> read_kjv_verses(const ztext_module& m);

// Verse-aligned pairs of two KJV-versified modules: every verse whose text is non-empty in
// both, in canonical order.
struct verse_pair {
  std::string ref;
  std::string a, b;
};
std::vector<verse_pair> align_verses(const ztext_module& a, const ztext_module& b);

// Pairs from two fetched sources of the corpus registry (e.g. "kjv", "sparv"), read from the
// module files kept in their cache folders; fetches them first when `allow_fetch`.
std::vector<verse_pair> load_verse_pairs(const std::string& source_a, const std::string& source_b, bool allow_fetch = true);

}  // namespace lmlab::data
